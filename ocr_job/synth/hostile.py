"""Hostile images: files whose decoding costs far more than their size, or that lie.

Each case is a class of attack on the decoder's memory (see docs/reliability.md, "The
decoder's memory"): huge progressive/multi-scan JPEGs, high-bit-depth and float images,
1-bit and palette images under the pixel cap, lossless WebP and GIF whose pixels cost
nothing on disk, TIFFs cut into many strips or one huge tile, multi-page and multi-frame
files, headers that lie, truncated files and absurd aspect ratios.

Generation is cheap and deterministic: pixel data is a few stripes repeated, written
by hand (PNG, TIFF, BMP) or patched into the header of a small file Pillow wrote (JPEG,
WebP, GIF), so a 40 MP image costs a few kB of disk and well under a second.

`expect` of a case is the record's outcome: an error code, `READ` (decoded and seen by the
engine: status ok, or `no_card_found`), or `CARD` (a card that must be read: status ok).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ocr_job.records import ErrorCode

READ = "read"
CARD = "card"

#: 40 MP: exactly the default pixel cap (`OCR_MAX_PIXELS`), which it passes.
CAP_W, CAP_H = 8000, 5000


@dataclass(frozen=True, slots=True)
class HostileCase:
    name: str  # the file name, with the suffix the worker lists it by
    kind: str  # the memory class it belongs to (one row of docs/reliability.md)
    expect: str  # an ErrorCode value, READ or CARD
    make: Callable[[], bytes]


# --------------------------------------------------------------------------- pixels


def _row(width: int, y: int, channels: int, dtype: str) -> np.ndarray:
    """One row of a stripe: a few vertical bars whose shade depends on the stripe."""
    shade = (y // 97) % 4
    bars = ((np.arange(width) // 61) % 3 + shade) / 6.0  # 0 … 1
    if np.dtype(dtype).kind == "f":
        values = bars.astype(dtype)
    else:
        top = {1: 255, 2: 65535, 4: 1 << 20}[np.dtype(dtype).itemsize]
        values = (bars * top).astype(dtype)
    return np.repeat(values[:, None], channels, axis=1).reshape(-1)


# --------------------------------------------------------------------------- PNG


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(
    width: int,
    height: int,
    rows: Callable[[int], bytes],
    *,
    depth: int = 8,
    colour: int = 0,
    palette: bytes | None = None,
    extra: bytes = b"",
) -> bytes:
    """A PNG written row by row: `rows(y)` gives row y's bytes (unfiltered)."""
    out = io.BytesIO()
    out.write(b"\x89PNG\r\n\x1a\n")
    out.write(_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)))
    if palette is not None:
        out.write(_chunk(b"PLTE", palette))
    out.write(extra)
    z = zlib.compressobj(1)
    idat = bytearray()
    previous: bytes | None = None
    packed = b""
    for y in range(height):
        row = rows(y)
        if row is not previous:  # compress the same object once per stripe's first use
            packed, previous = b"\0" + row, row
        idat += z.compress(packed)
    idat += z.flush()
    out.write(_chunk(b"IDAT", bytes(idat)))
    out.write(_chunk(b"IEND", b""))
    return out.getvalue()


def _png_image(
    width: int, height: int, *, channels: int, depth: int, colour: int, palette: bytes | None = None
) -> bytes:
    if depth == 1:
        cache = {s: np.packbits((np.arange(width) // 61 + s) % 2).tobytes() for s in range(4)}
    else:
        dtype = ">u2" if depth == 16 else "u1"
        cache = {s: _row(width, s * 97, channels, dtype).tobytes() for s in range(4)}
    if palette is not None:
        cache = {s: ((np.arange(width) // 61 + s) % 200).astype(np.uint8).tobytes() for s in range(4)}
    return png(width, height, lambda y: cache[(y // 97) % 4], depth=depth, colour=colour, palette=palette)


def png_text_bomb() -> bytes:
    """A small PNG preceded by zTXt chunks that inflate to 1 MiB each (64 MiB in all)."""
    text = zlib.compress(b" " * (1 << 20), 9)
    extra = b"".join(_chunk(b"zTXt", b"k%d\0\0" % i + text) for i in range(64))
    grey = bytes(range(256)) * 2
    return png(512, 512, lambda y: grey, extra=extra)


# --------------------------------------------------------------------------- TIFF


@dataclass(frozen=True, slots=True)
class TiffPage:
    width: int
    height: int
    bits: int = 8
    samples: int = 1
    sample_format: int = 1  # 1 unsigned, 2 signed, 3 float
    rows_per_strip: int = 64
    tile: int | None = None  # a tiled page: the tiles' side
    blocks: int | None = None  # lie about the strip count (a header that claims more)
    big_tags: int = 0  # private tags whose values all point at the same padding …
    big_tag_bytes: int = 0  # … of this many bytes (Pillow reads each value at open)


def tiff(pages: list[TiffPage]) -> bytes:
    """A little-endian TIFF, deflate-compressed; every strip (or tile) of a page points at
    the same compressed block, so huge pages cost a few kB."""
    out = bytearray(b"II*\0\0\0\0\0")
    next_ptr = 4
    for page in pages:
        block_w = page.tile or page.width
        block_h = page.tile or min(page.rows_per_strip, page.height)
        dtype = {1: "u", 2: "i", 3: "f"}[page.sample_format] + str(page.bits // 8)
        rows = b"".join(_row(block_w, y, page.samples, "<" + dtype).tobytes() for y in range(block_h))
        block = zlib.compress(rows, 6)
        block_at = len(out)
        out += block + b"\0" * (len(block) % 2)
        padding_at = len(out)
        out += b"\0" * (page.big_tag_bytes if page.big_tags else 0)
        if page.tile:
            count = -(-page.width // page.tile) * -(-page.height // page.tile)
        else:
            count = -(-page.height // block_h)
        count = page.blocks or count
        entries: dict[int, tuple[int, list[int] | _At]] = {
            256: (4, [page.width]),
            257: (4, [page.height]),
            258: (3, [page.bits] * page.samples),
            259: (3, [8]),
            262: (3, [2 if page.samples >= 3 else 1]),
            277: (3, [page.samples]),
            284: (3, [1]),
            339: (3, [page.sample_format] * page.samples),
        }
        if page.tile:
            entries |= {
                322: (4, [page.tile]),
                323: (4, [page.tile]),
                324: (4, [block_at] * count),
                325: (4, [len(block)] * count),
            }
        else:
            entries |= {273: (4, [block_at] * count), 278: (4, [block_h]), 279: (4, [len(block)] * count)}
        entries |= {40000 + i: (7, _At(page.big_tag_bytes, padding_at)) for i in range(page.big_tags)}
        ifd_at = len(out)
        struct.pack_into("<I", out, next_ptr, ifd_at)
        out += _ifd(entries, ifd_at)
        next_ptr = ifd_at + 2 + 12 * len(entries)
    return bytes(out)


@dataclass(frozen=True, slots=True)
class _At:
    """A tag value already in the file: `count` values at `offset`."""

    count: int
    offset: int


def _ifd(entries: dict[int, tuple[int, list[int] | _At]], at: int) -> bytes:
    head = struct.pack("<H", len(entries))
    extra = bytearray()
    extra_at = at + 2 + 12 * len(entries) + 4
    for tag in sorted(entries):
        kind, values = entries[tag]
        if isinstance(values, _At):
            head += struct.pack("<HHII", tag, kind, values.count, values.offset)
            continue
        data = struct.pack(f"<{len(values)}{'H' if kind == 3 else 'I'}", *values)
        if len(data) <= 4:
            head += struct.pack("<HHI", tag, kind, len(values)) + data.ljust(4, b"\0")
        else:
            head += struct.pack("<HHII", tag, kind, len(values), extra_at + len(extra))
            extra += data
    return head + b"\0\0\0\0" + bytes(extra)


# --------------------------------------------------------------------------- BMP


def _bmp_rle8(width: int, height: int) -> bytes:
    """An 8-bit run-length BMP: 2 bytes per 255 pixels, a decompression bomb."""
    rows = []
    for shade in range(4):
        row = bytearray()
        left, x = width, 0
        while left:
            run = min(255, left)
            row += bytes([run, (x // 255 + shade) % 200])
            left -= run
            x += run
        rows.append(bytes(row + b"\0\0"))
    data = b"".join(rows[(y // 97) % 4] for y in range(height)) + b"\0\1"
    palette = b"".join(bytes([i, i, i, 0]) for i in range(256))
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(data), 2835, 2835, 256, 0)
    offset = 14 + len(info) + len(palette)
    return b"BM" + struct.pack("<IHHI", offset + len(data), 0, 0, offset) + info + palette + data


def _bmp_lying(width: int, height: int) -> bytes:
    """A real 200×150 24-bit BMP whose header claims `width`×`height`."""
    data = bytearray(_encode(_pattern(200, 150), "BMP"))
    struct.pack_into("<ii", data, 18, width, height)
    return bytes(data)


# --------------------------------------------------------------------------- patched headers


def _pattern(width: int, height: int) -> Image.Image:
    arr = np.zeros((height, width, 3), np.uint8)
    arr[:, :, 0] = (np.arange(width) * 7 % 256)[None, :]
    arr[:, :, 1] = (np.arange(height) * 5 % 256)[:, None]
    arr[::8] = 255
    return Image.fromarray(arr)


def _encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def jpeg_with_size(data: bytes, width: int, height: int) -> bytes:
    """`data` (a JPEG) with its frame header (SOF) claiming `width`×`height`."""
    out = bytearray(data)
    pos = 2
    while pos + 4 <= len(out):
        marker, length = out[pos + 1], struct.unpack(">H", out[pos + 2 : pos + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            struct.pack_into(">HH", out, pos + 5, height, width)
            return bytes(out)
        pos += 2 + length
    raise ValueError("no frame header")


def _jpeg(size: tuple[int, int], mode: str, **kw: object) -> bytes:
    return (
        _encode(_pattern(200, 160).convert(mode), "JPEG", quality=80, **kw)
        if size == (0, 0)
        else jpeg_with_size(_encode(_pattern(200, 160).convert(mode), "JPEG", quality=80, **kw), *size)
    )


def jpeg_many_scans(scans: int) -> bytes:
    """A 12 MP progressive JPEG whose last scan is repeated: a few bytes per scan, and
    libjpeg goes over every block again for each."""
    data = _encode(Image.new("RGB", (4000, 3000), (200, 180, 160)), "JPEG", quality=80, progressive=True)
    last = data[data.rindex(b"\xff\xda") : -2]
    return data[:-2] + last * scans + b"\xff\xd9"


def _webp_lossless(width: int, height: int) -> bytes:
    """A flat lossless WebP patched to `width`×`height`: a flat image costs no bits per
    pixel in VP8L, so the file still decodes at the claimed size."""
    data = bytearray(
        _encode(Image.new("RGB", (64, 64), (200, 190, 180)), "WEBP", lossless=True, method=0, exact=True)
    )
    pos = 12
    while pos + 8 <= len(data):
        kind, size = bytes(data[pos : pos + 4]), struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = pos + 8
        if kind == b"VP8X":
            data[body + 4 : body + 10] = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(
                3, "little"
            )
        elif kind == b"VP8L":
            bits = int.from_bytes(data[body + 1 : body + 5], "little")
            bits = (bits & ~((1 << 28) - 1)) | (width - 1) | ((height - 1) << 14)
            data[body + 1 : body + 5] = bits.to_bytes(4, "little")
        pos = body + size + (size & 1)
    return bytes(data)


def _gif_screen(width: int, height: int) -> bytes:
    """A 200×160 GIF whose logical screen (the image size Pillow allocates) is larger."""
    data = bytearray(_encode(_pattern(200, 160).convert("P"), "GIF"))
    struct.pack_into("<HH", data, 6, width, height)
    return bytes(data)


def _gif_frames(frames: int) -> bytes:
    base = _pattern(160, 120).convert("P")
    more = [Image.fromarray(np.roll(np.asarray(base), i, axis=1), "P") for i in range(1, frames)]
    for frame in more:
        frame.putpalette(base.getpalette() or [])
    return _encode(base, "GIF", save_all=True, append_images=more, duration=20, loop=0)


def _webp_frames(frames: int) -> bytes:
    base = _pattern(160, 120)
    more = [Image.fromarray(np.roll(np.asarray(base), i, axis=1)) for i in range(1, frames)]
    return _encode(
        base, "WEBP", save_all=True, append_images=more, duration=20, lossless=False, quality=50, method=0
    )


def _card_scan(card: np.ndarray, width: int, fmt: str) -> bytes:
    """The card (RGB) scaled to `width` px, as a progressive JPEG ("jpeg-progressive"), a
    16-bit grey PNG ("png16") or a lossy WebP ("webp", as phones and chat apps send them)."""
    h, w = card.shape[:2]
    big = cv2.resize(card, (width, round(width * h / w)), interpolation=cv2.INTER_LINEAR)
    if fmt == "jpeg-progressive":
        return _encode(Image.fromarray(big), "JPEG", quality=88, progressive=True)
    if fmt == "webp":
        return _encode(Image.fromarray(big), "WEBP", quality=80, method=0)
    grey = cv2.cvtColor(big, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257
    if fmt == "png16":
        ok, data = cv2.imencode(".png", grey, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        assert ok
        return data.tobytes()
    raise ValueError(fmt)


def _truncated(data: bytes, keep: float) -> bytes:
    return data[: int(len(data) * keep)]


def _text_strip(width: int, height: int) -> bytes:
    """A strip as elongated as `decode` admits, holding one line of text across it: the
    engine is given the longest line it can be given."""
    canvas = np.full((min(width, height), max(width, height), 3), 235, np.uint8)
    scale = canvas.shape[0] / 150
    text = "1234567890 ABCDEFGHIJ " * 40
    cv2.putText(
        canvas,
        text,
        (10, canvas.shape[0] * 2 // 3),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (20, 20, 20),
        max(1, round(scale * 2)),
        cv2.LINE_AA,
    )
    if height > width:
        canvas = np.ascontiguousarray(np.rot90(canvas))
    return _encode(Image.fromarray(canvas), "PNG", compress_level=1)


def _elongated(width: int, height: int) -> bytes:
    row = _row(width, 0, 1, "u1").tobytes()
    return png(width, height, lambda y: row)


# --------------------------------------------------------------------------- the corpus


def hostile_cases(card: np.ndarray) -> list[HostileCase]:
    """The corpus; `card` is a rendered card (RGB) for the cases that must be read."""
    ec = ErrorCode
    big = ec.IMAGE_TOO_LARGE.value
    w, h = CAP_W, CAP_H
    rgb16 = 2  # PNG colour types
    return [
        # JPEG: progressive and multi-component files keep full-resolution coefficients.
        HostileCase(
            "jpeg-progressive-cmyk-13370.jpg",
            "jpeg-progressive",
            big,
            lambda: _jpeg((13370, 13370), "CMYK", progressive=True),
        ),
        HostileCase(
            "jpeg-progressive-rgb-40mp.jpg",
            "jpeg-progressive",
            big,
            lambda: _jpeg((w, h), "RGB", progressive=True, subsampling=0),
        ),
        HostileCase(
            "jpeg-progressive-card.jpg",
            "jpeg-progressive",
            CARD,
            lambda: _card_scan(card, 3000, "jpeg-progressive"),
        ),
        # (libjpeg pads a baseline scan that ends early: a picture, mostly grey)
        HostileCase(
            "jpeg-baseline-cmyk-13370.jpg", "jpeg-baseline", READ, lambda: _jpeg((13370, 13370), "CMYK")
        ),
        HostileCase("jpeg-baseline-65000.jpg", "jpeg-baseline", big, lambda: _jpeg((65000, 65000), "RGB")),
        HostileCase(
            "jpeg-progressive-20000-scans.jpg", "jpeg-progressive", big, lambda: jpeg_many_scans(20000)
        ),
        HostileCase(
            "jpeg-truncated-progressive.jpg",
            "truncated",
            ec.UNREADABLE_IMAGE.value,
            lambda: _truncated(_card_scan(card, 1600, "jpeg-progressive"), 0.3),
        ),
        # PNG: bit depth and mode decide the decoder's bytes per pixel, not the file size.
        HostileCase(
            "png-16bit-rgb-40mp.png",
            "png-16bit",
            big,
            lambda: _png_image(w, h, channels=3, depth=16, colour=rgb16),
        ),
        HostileCase(
            "png-16bit-grey-40mp.png",
            "png-16bit",
            big,
            lambda: _png_image(w, h, channels=1, depth=16, colour=0),
        ),
        HostileCase(
            "png-16bit-grey-20mp.png",
            "png-16bit",
            READ,
            lambda: _png_image(5000, 4000, channels=1, depth=16, colour=0),
        ),
        HostileCase("png-16bit-card-7000.png", "png-16bit", big, lambda: _card_scan(card, 7000, "png16")),
        HostileCase("png-16bit-card-5000.png", "png-16bit", CARD, lambda: _card_scan(card, 5000, "png16")),
        HostileCase(
            "png-8bit-rgba-40mp.png",
            "png-8bit-colour",
            big,
            lambda: _png_image(w, h, channels=4, depth=8, colour=6),
        ),
        HostileCase(
            "png-1bit-40mp.png",
            "png-1bit-palette",
            READ,
            lambda: _png_image(w, h, channels=1, depth=1, colour=0),
        ),
        HostileCase(
            "png-palette-40mp.png",
            "png-1bit-palette",
            READ,
            lambda: _png_image(w, h, channels=1, depth=8, colour=3, palette=bytes(range(200)) * 3),
        ),
        HostileCase(
            "png-1bit-40000x40000.png",
            "bomb",
            big,
            lambda: _png_image(40000, 40000, channels=1, depth=1, colour=0),
        ),
        HostileCase("png-text-bomb.png", "png-text", ec.UNREADABLE_IMAGE.value, png_text_bomb),
        HostileCase(
            "png-truncated-40mp.png",
            "truncated",
            ec.UNREADABLE_IMAGE.value,
            lambda: _truncated(_png_image(w, h, channels=1, depth=8, colour=0), 0.5),
        ),
        # TIFF: sample formats, strips, tiles, pages.
        HostileCase(
            "tiff-int32-40mp.tif", "tiff-32bit", big, lambda: tiff([TiffPage(w, h, bits=32, sample_format=2)])
        ),
        HostileCase(
            "tiff-float32-40mp.tif",
            "tiff-32bit",
            big,
            lambda: tiff([TiffPage(w, h, bits=32, sample_format=3)]),
        ),
        HostileCase(
            "tiff-float32-16mp.tif",
            "tiff-32bit",
            big,
            lambda: tiff([TiffPage(4000, 4000, bits=32, sample_format=3)]),
        ),
        HostileCase(
            "tiff-float32-10mp.tif",
            "tiff-32bit",
            READ,
            lambda: tiff([TiffPage(4000, 2500, bits=32, sample_format=3)]),
        ),
        HostileCase(
            "tiff-int32-10mp.tif",
            "tiff-32bit",
            READ,
            lambda: tiff([TiffPage(4000, 2500, bits=32, sample_format=2)]),
        ),
        # (Pillow has no decoder for 64-bit samples: it cannot identify the file)
        HostileCase(
            "tiff-float64-10mp.tif",
            "tiff-32bit",
            ec.UNREADABLE_IMAGE.value,
            lambda: tiff([TiffPage(4000, 2500, bits=64, sample_format=3)]),
        ),
        HostileCase("tiff-16bit-grey-40mp.tif", "tiff-16bit", big, lambda: tiff([TiffPage(w, h, bits=16)])),
        HostileCase(
            "tiff-16bit-grey-20mp.tif", "tiff-16bit", READ, lambda: tiff([TiffPage(5000, 4000, bits=16)])
        ),
        HostileCase(
            "tiff-16bit-rgb-one-strip.tif",
            "tiff-16bit",
            big,
            lambda: tiff([TiffPage(5000, 4000, bits=16, samples=3, rows_per_strip=4000)]),
        ),
        HostileCase("tiff-tiled-8bit-40mp.tif", "tiff-tiled", READ, lambda: tiff([TiffPage(w, h, tile=256)])),
        HostileCase(
            "tiff-one-huge-tile.tif",
            "tiff-tiled",
            big,
            lambda: tiff([TiffPage(6000, 6000, bits=16, tile=6000)]),
        ),
        HostileCase(
            "tiff-tag-values-500mib.tif",
            "tiff-strips",
            big,
            lambda: tiff([TiffPage(300, 200, big_tags=100, big_tag_bytes=5 << 20)]),
        ),
        HostileCase(
            "tiff-many-strips.tif", "tiff-strips", big, lambda: tiff([TiffPage(64, 600000, rows_per_strip=1)])
        ),
        HostileCase(
            "tiff-pages-small-then-huge.tif",
            "multi-frame",
            READ,
            lambda: tiff([TiffPage(1200, 800), TiffPage(60000, 60000, bits=32, sample_format=3)]),
        ),
        HostileCase("tiff-1bit-100000.tif", "bomb", big, lambda: tiff([TiffPage(100000, 100000, bits=8)])),
        # WebP and GIF: pixels that cost nothing on disk.
        HostileCase("webp-lossless-40mp.webp", "webp", big, lambda: _webp_lossless(w, h)),
        HostileCase("webp-lossless-16383.webp", "bomb", big, lambda: _webp_lossless(16383, 16383)),
        HostileCase("webp-lossless-8mp.webp", "webp", big, lambda: _webp_lossless(3500, 2300)),
        HostileCase("webp-lossless-3mp.webp", "webp", READ, lambda: _webp_lossless(2000, 1500)),
        HostileCase("webp-lossy-card-4000.webp", "webp", CARD, lambda: _card_scan(card, 4000, "webp")),
        HostileCase("webp-animated-300-frames.webp", "multi-frame", READ, lambda: _webp_frames(300)),
        HostileCase("gif-animated-1000-frames.gif", "multi-frame", READ, lambda: _gif_frames(1000)),
        HostileCase("gif-screen-40mp.gif", "gif", READ, lambda: _gif_screen(w, h)),
        HostileCase("gif-screen-65535.gif", "bomb", big, lambda: _gif_screen(65535, 65535)),
        # BMP: run-length bombs and headers that lie.
        HostileCase("bmp-rle8-40mp.bmp", "bmp", big, lambda: _bmp_rle8(w, h)),
        HostileCase("bmp-rle8-12mp.bmp", "bmp", READ, lambda: _bmp_rle8(4000, 3000)),
        HostileCase(
            "bmp-lying-header-12mp.bmp",
            "truncated",
            ec.UNREADABLE_IMAGE.value,
            lambda: _bmp_lying(4000, 3000),
        ),
        HostileCase("bmp-lying-header-40mp.bmp", "bmp", big, lambda: _bmp_lying(w, h)),
        # Other containers Pillow opens: refused (an ICO named .png), or read by their first picture (MPO).
        HostileCase(
            "icon-named-png.png",
            "other",
            ec.UNSUPPORTED_FORMAT.value,
            lambda: _encode(_pattern(256, 256), "ICO", sizes=[(256, 256)]),
        ),
        HostileCase(
            "mpo-two-pictures.jpg",
            "multi-frame",
            READ,
            lambda: _encode(_pattern(400, 300), "MPO", save_all=True, append_images=[_pattern(3000, 2000)]),
        ),
        # Shapes no ID card picture has.
        HostileCase(
            "elongated-20000x64.png", "aspect", ec.IMAGE_TOO_ELONGATED.value, lambda: _elongated(20000, 64)
        ),
        HostileCase(
            "elongated-64x20000.png", "aspect", ec.IMAGE_TOO_ELONGATED.value, lambda: _elongated(64, 20000)
        ),
        HostileCase(
            "elongated-20000x40.png", "aspect", ec.IMAGE_TOO_SMALL.value, lambda: _elongated(20000, 40)
        ),
        HostileCase(
            "elongated-jpeg-30000x600.jpg",
            "aspect",
            ec.IMAGE_TOO_ELONGATED.value,
            lambda: _jpeg((30000, 600), "RGB"),
        ),
        HostileCase("elongated-at-limit-8000x1000.png", "aspect", READ, lambda: _elongated(8000, 1000)),
        HostileCase("elongated-text-4000x500.png", "aspect", READ, lambda: _text_strip(4000, 500)),
        HostileCase("elongated-text-500x4000.png", "aspect", READ, lambda: _text_strip(500, 4000)),
    ]


def write_hostile(dest: Path, card: np.ndarray) -> dict[str, HostileCase]:
    """Write the corpus into `dest`; the cases by file name."""
    dest.mkdir(parents=True, exist_ok=True)
    cases = {}
    for case in hostile_cases(card):
        (dest / case.name).write_bytes(case.make())
        cases[case.name] = case
    return cases
