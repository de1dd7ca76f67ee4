"""Inputs a batch meets in real life that are not a plain photo of a card.

`write_bad_inputs(dest)` writes these files and returns file name → expected
error code (an `ocr_job.records.ErrorCode` value) or ``None``:

=========================  ======================  ==========================================
file                       expected                what it is
=========================  ======================  ==========================================
empty.jpg                  ``empty_file``          zero bytes
truncated.jpg              ``unreadable_image``    a card JPEG cut off at ~35 % of its bytes
random-bytes.jpg           ``unreadable_image``    a JPEG start marker, then random bytes
not-an-image.jpg           ``unreadable_image``    a UTF-8 text file with a .jpg name (no
                                                   image format recognises it)
card-as-ppm.jpg            ``unsupported_format``  a valid card picture in a recognised but
                                                   unsupported format (binary PPM), .jpg name
tiny-1x1.png               ``image_too_small``     a valid 1×1 PNG
huge-40000x40000.png       ``image_too_large``     a valid 40000×40000 1-bit PNG (~200 kB on
                                                   disk, 1.6 Gpx when decoded)
no-card.jpg                ``no_card_found``       a photo of a desk with no card on it
card-animated.gif          ``None`` (read it)      a two-frame animated GIF of a card (front)
card-cmyk.jpg              ``None`` (read it)      a CMYK JPEG of a card (back)
card-16bit.png             ``None`` (read it)      a 16-bit-per-channel RGB PNG of a card (front)
=========================  ======================  ==========================================

The three ``None`` files are valid card pictures in less common encodings:
they must be *read successfully*, with the fields of the card they show.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from ocr_job.records import ErrorCode, Fields
from ocr_job.synth.augment import desk_texture, encode_jpeg
from ocr_job.synth.sample import make_sample

HUGE_SIDE = 40_000
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class BadInput:
    """One written bad input; side/fields are set for the readable ones."""

    name: str
    expected_error: str | None
    side: str | None = None
    fields: Fields | None = None


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def write_huge_png(path: Path, width: int = HUGE_SIDE, height: int = HUGE_SIDE) -> None:
    """A valid black 1-bit greyscale PNG of `width`×`height`, streamed row block by
    row block (the pixels are never held in memory; the file stays small)."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte "None" + packed bits
    rows_per_block = 512
    block = row * rows_per_block
    squeeze = zlib.compressobj(9)
    with path.open("wb") as out:
        out.write(_PNG_SIGNATURE)
        out.write(_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)))
        for start in range(0, height, rows_per_block):
            n = min(rows_per_block, height - start)
            data = squeeze.compress(block if n == rows_per_block else row * n)
            if data:
                out.write(_chunk(b"IDAT", data))
        out.write(_chunk(b"IDAT", squeeze.flush()))
        out.write(_chunk(b"IEND", b""))


def _png_1x1() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (1, 1), (200, 200, 200)).save(buf, "PNG")
    return buf.getvalue()


def _gif(rgb: np.ndarray) -> bytes:
    first = Image.fromarray(rgb).quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    second = Image.fromarray(np.clip(rgb.astype(np.int16) + 12, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    first.save(buf, "GIF", save_all=True, append_images=[second.quantize(colors=256)],
               duration=600, loop=0)  # fmt: skip
    return buf.getvalue()


def _cmyk_jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).convert("CMYK").save(buf, "JPEG", quality=92)
    return buf.getvalue()


def _png16(rgb: np.ndarray) -> bytes:
    wide = rgb[..., ::-1].astype(np.uint16) * 257
    ok, data = cv2.imencode(".png", wide)
    if not ok:  # pragma: no cover - OpenCV always encodes a plain array
        raise RuntimeError("could not encode the 16-bit PNG")
    return data.tobytes()


def _ppm(rgb: np.ndarray) -> bytes:
    h, w = rgb.shape[:2]
    return f"P6\n{w} {h}\n255\n".encode() + np.ascontiguousarray(rgb).tobytes()


def _no_card(rng: random.Random) -> bytes:
    """A desk with a mug ring, a pen and a blank sheet; nothing card-like or written."""
    w, h = rng.choice(((1600, 1200), (1200, 1600), (1920, 1080)))
    image = Image.fromarray(desk_texture(rng, (w, h)))
    draw = ImageDraw.Draw(image)
    cx, cy, r = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h, rng.uniform(0.08, 0.15) * w
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(90, 60, 40), width=max(2, w // 150))
    x, y = rng.uniform(0.1, 0.6) * w, rng.uniform(0.1, 0.9) * h
    draw.line((x, y, x + 0.35 * w, y + rng.uniform(-0.2, 0.2) * h), fill=(20, 30, 120),
              width=max(4, w // 90))  # fmt: skip
    return encode_jpeg(np.asarray(image), 88)


def bad_inputs(dest: Path, seed: int = 0, width: int = 1000) -> list[BadInput]:
    """Write the bad inputs into `dest` (created if needed); see the module docstring."""
    dest.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"{seed}:bad")
    front = make_sample(f"{seed}:bad:front", "front", "clean", width)
    back = make_sample(f"{seed}:bad:back", "back", "clean", width)
    other = make_sample(f"{seed}:bad:other", "front", "photo", width)
    truncated = other.jpeg()
    plain: list[tuple[str, ErrorCode, Callable[[], bytes]]] = [
        ("empty.jpg", ErrorCode.EMPTY_FILE, lambda: b""),
        ("truncated.jpg", ErrorCode.UNREADABLE_IMAGE, lambda: truncated[: len(truncated) * 35 // 100]),
        ("random-bytes.jpg", ErrorCode.UNREADABLE_IMAGE,
         lambda: b"\xff\xd8\xff\xe0" + rng.randbytes(20_000)),
        ("not-an-image.jpg", ErrorCode.UNREADABLE_IMAGE,
         lambda: "这不是图片。This is a text file, not a picture.\n".encode() * 40),
        ("card-as-ppm.jpg", ErrorCode.UNSUPPORTED_FORMAT, lambda: _ppm(back.image)),
        ("tiny-1x1.png", ErrorCode.IMAGE_TOO_SMALL, _png_1x1),
        ("no-card.jpg", ErrorCode.NO_CARD_FOUND, lambda: _no_card(rng)),
    ]  # fmt: skip
    written = [BadInput(name, code.value) for name, code, _ in plain]
    for name, _, make in plain:
        (dest / name).write_bytes(make())
    huge = f"huge-{HUGE_SIDE}x{HUGE_SIDE}.png"
    write_huge_png(dest / huge)
    written.append(BadInput(huge, ErrorCode.IMAGE_TOO_LARGE.value))
    readable = [
        ("card-animated.gif", front, _gif),
        ("card-cmyk.jpg", back, _cmyk_jpeg),
        ("card-16bit.png", front, _png16),
    ]
    for name, sample, encode in readable:
        (dest / name).write_bytes(encode(sample.image))
        written.append(BadInput(name, None, sample.side, sample.fields))
    return written


def write_bad_inputs(dest: Path, seed: int = 0, width: int = 1000) -> dict[str, str | None]:
    """Write the bad inputs into `dest`; file name → expected error code, or None for
    the files that must be read successfully (see the module docstring)."""
    return {b.name: b.expected_error for b in bad_inputs(Path(dest), seed, width)}
