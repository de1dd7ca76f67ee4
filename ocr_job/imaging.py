"""Image stages of the pipeline: safe decode, card localisation, and upright geometry.

- `decode` refuses bad and oversized inputs before paying for them (the decoder's memory
  is estimated from the header), decodes only the first frame, honours EXIF orientation
  and normalises every mode (CMYK, 16-bit, float, palette, alpha) to BGR uint8 in strips.
- `locate_card` finds the card's quadrilateral, undoes its perspective and scales it
  so the detector never sees more than `long_side` pixels: that cap keeps memory flat.
- `upright_boxes` resolves 180° turns and residual skew on the engine's boxes, so the
  parser always gets boxes in reading order geometry.
"""

from __future__ import annotations

import dataclasses
import io
import math
import struct
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from ocr_job.config import DEFAULT_DECODE_BUDGET_MIB
from ocr_job.engines.base import Point, TextBox
from ocr_job.records import ErrorCode

#: ID-1 card: 85.6 mm × 54.0 mm.
CARD_ASPECT = 85.6 / 54.0
#: Images smaller than this on their short side cannot hold a legible card.
MIN_SIDE = 64
#: Decoded images are scaled down to this long side at once, so nothing large lingers.
WORK_LONG_SIDE = 2000
#: A JPEG is decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling) as long as its long
#: side stays at least this: a 3,800 px photo decodes at 1,900 px instead of at full size
#: (58 MB in Pillow's four bytes per pixel, the worker's peak on such photos).
DRAFT_MIN_LONG_SIDE = 1400
#: A picture within this share of the card's aspect ratio is taken as cropped to the card
#: (a scan, a crop with thin margins: within 2.5%), where a small outline found inside is
#: a detail of the card (the portrait's frame), not the card. A 3:2 photo is 5.4% off the
#: card's 1.585: at 8% its cards under a quarter of the picture were never located.
CROPPED_CARD_ASPECT = 0.04
#: The outline search sees the picture at this long side at most (`CardSearch`).
SEARCH_LONG_SIDE = 640
#: Formats the decoder accepts (Pillow's names).
SUPPORTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "GIF", "BMP", "TIFF", "WEBP"})


class ImageError(Exception):
    """An input that cannot become a card image; carries the record's error code."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class CardImage:
    image: np.ndarray  # BGR uint8, landscape, long side ≤ the cap
    found_quad: bool  # True when the card's outline was found and its perspective undone
    #: With `found_quad`: the picture's points at the card view's corners (top-left,
    #: top-right, bottom-right, bottom-left; `card_corners`).
    corners: np.ndarray | None = None


# --------------------------------------------------------------------------- decode

MiB = 1024 * 1024
#: The most memory the decoder may hold for one image by default (the worker's
#: `OCR_DECODE_BUDGET_MIB`), estimated from its header (`decode_cost`: the frame, plus the
#: format decoder's own buffers); the strip
#: conversion adds ≤ 16 MiB more (measured). The onnx engine loaded, the worker rests at
#: 190–230 MiB and the engine itself takes 40–50 MiB more on a card: decoding stays within
#: what the engine takes, so the worker stays under the engine's `MEMORY_NEED_BYTES`
#: (320 MiB) for any input. Inputs whose decoding would cost more are decoded reduced (JPEG)
#: or refused with `image_too_large`. Measured per class in docs/reliability.md.
DECODE_BUDGET_BYTES = DEFAULT_DECODE_BUDGET_MIB * MiB
#: A picture of an ID card (1.586:1) may be a page or a strip, but no more elongated than
#: this: beyond it the card's short side would be under 250 px at the working size, and the
#: engine is given lines thousands of pixels long.
MAX_ASPECT_RATIO = 8.0
#: Frames are converted to RGB and scaled down in strips of about this many pixels, so no
#: full-size copy (RGB, float) of a large frame is ever made.
STRIP_PIXELS = 1 << 18
#: A TIFF whose first page is cut into more strips or tiles than this is refused before
#: Pillow opens it (it builds a list entry per strip: ~100 bytes each, at open).
MAX_TIFF_BLOCKS = 65_536
#: A TIFF whose first page's tag values add up to more than this is refused before Pillow
#: opens it (it reads every value into memory). Real files: offsets, an ICC profile, XMP.
MAX_TIFF_TAG_BYTES = 16 * MiB
#: A JPEG of more scans than this is refused: libjpeg goes over every block of a component
#: for each scan that holds it (measured: 1,000 repeated scans of a 12 MP picture, 97 kB,
#: took 29 s; 20 MB of them would take hours, in C, where the item timeout cannot stop it).
#: Encoders write 1 (baseline) to about 10–20 (progressive).
MAX_JPEG_SCANS = 100
#: Bytes per pixel of Pillow's frame buffer by mode (4 for every mode not listed).
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
#: Modes with numeric samples, scaled to 0–255 from their range rather than converted.
_NUMERIC_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})

# Pillow keeps a PNG's text chunks in memory, up to 64 MiB of inflated text by default
# (a zTXt bomb of a few kB): allow 4 MiB, ample for any real metadata.
PngImagePlugin.MAX_TEXT_MEMORY = 4 * PngImagePlugin.MAX_TEXT_CHUNK


def limit_threads(threads: int) -> None:
    """OpenCV's own thread pool held to the worker's CPU share, `threads` (`--threads`).

    OpenCV sizes its pool by the machine's cores, not the container's CPU limit: in a pod
    limited to one CPU on a 64-core node, its parallel loops would start 64 threads and be
    throttled. One thread runs its functions sequentially (OpenCV's 0).
    """
    cv2.setNumThreads(threads if threads > 1 else 0)


def decode(data: bytes, max_pixels: int, budget_bytes: int = DECODE_BUDGET_BYTES) -> np.ndarray:
    """Bytes → BGR uint8, at most WORK_LONG_SIDE on the long side. Raises ImageError.

    `budget_bytes`: the most the decoder may take (`decode_cost`), the worker's
    `OCR_DECODE_BUDGET_MIB`; inputs that would cost more get `image_too_large`.

    Everything that decides the cost is read from the header first: the size, the mode,
    and the decoder's own buffers (`decode_cost`); then only the first frame is decoded,
    reduced by libjpeg where it can be, and converted to RGB and scaled down in strips.
    """
    if not data:
        raise ImageError(ErrorCode.EMPTY_FILE, "the file is empty")
    _check_tiff_header(data)
    img = _open(data)
    _check_shape(*img.size)
    _check_jpeg_scans(img, data)
    _check_cost(img, data, max_pixels, budget_bytes)
    try:
        if _webp_kind(img, data) is not None:
            orientation, size = _orientation(img), img.size
            del img  # the header only: libwebp decodes from `data`
            bgr = _webp_bgr(data, size)
        else:
            img.load()  # the first frame only: nothing ever seeks to another
            orientation = _orientation(img)
            bgr = _reduced_bgr(img, WORK_LONG_SIDE)
    except ImageError:
        raise
    except MemoryError:
        raise ImageError(
            ErrorCode.IMAGE_TOO_LARGE, "the image needs more memory than the worker has"
        ) from None
    except Exception as exc:
        raise ImageError(ErrorCode.UNREADABLE_IMAGE, f"the image data is damaged: {exc}") from None
    return np.ascontiguousarray(_turned(bgr, orientation))


def _open(data: bytes) -> Image.Image:
    """The image's header, nothing decoded.

    What an image may cost is decided by `decode`, from the header, for every format.
    Pillow's own decompression-bomb check is not relied on: over 89 MP it only warns (and
    lets the image through), which is ignored here; over 179 MP it raises at open, before
    a JPEG could be drafted, which is kept as a last net and reported as `image_too_large`.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # bomb warnings; a damaged EXIF block: read what is there
            img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageError(ErrorCode.UNREADABLE_IMAGE, "not an image file (unknown format)") from None
    except Image.DecompressionBombError:
        raise ImageError(
            ErrorCode.IMAGE_TOO_LARGE, f"image is over {2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6:.0f} MP"
        ) from None
    except Exception as exc:
        raise ImageError(ErrorCode.UNREADABLE_IMAGE, f"cannot read the image header: {exc}") from None
    if img.format not in SUPPORTED_FORMATS:
        raise ImageError(
            ErrorCode.UNSUPPORTED_FORMAT,
            f"image format {img.format} is not supported; use JPEG, PNG, WEBP, TIFF, BMP or GIF",
        )
    return img


def _check_cost(img: Image.Image, data: bytes, max_pixels: int, budget_bytes: int) -> None:
    """Draft a JPEG to the scale libjpeg will decode it at, then refuse what would decode to
    more than `max_pixels`, or cost the decoder more than `budget_bytes`."""
    width, height = img.size
    try:
        if img.format in ("JPEG", "MPO"):
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: large photos never fill memory.
            img.draft("RGB", _draft_size(width, height))
        cost = decode_cost(img, data, (width, height))
    except Exception as exc:  # a header Pillow opened but whose tags make no sense
        raise ImageError(ErrorCode.UNREADABLE_IMAGE, f"cannot read the image header: {exc}") from None
    if img.size[0] * img.size[1] > max_pixels:
        raise ImageError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"image is {width}×{height} px ({width * height / 1e6:.0f} MP); "
            f"the limit is {max_pixels / 1e6:.0f} MP",
        )
    if cost > budget_bytes:
        multi_scan = img.format in ("JPEG", "MPO") and _jpeg_coefficient_bytes(img, data, (width, height))
        kind = (
            f"{'progressive' if img.info.get('progressive') else 'multi-scan'} {img.mode} JPEG"
            if multi_scan
            else f"{img.format} ({img.mode})"
        )
        fits = "as a baseline JPEG" if multi_scan else "as a JPEG"
        raise ImageError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"decoding this {width}×{height} {kind} would take about {cost / MiB:.0f} MiB of "
            f"memory; the limit is {budget_bytes / MiB:.0f} MiB (OCR_DECODE_BUDGET_MIB; {fits}, "
            f"or with fewer pixels, it fits)",
        )


def _check_shape(width: int, height: int) -> None:
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            ErrorCode.IMAGE_TOO_SMALL,
            f"image is {width}×{height} px; at least {MIN_SIDE} px on each side is needed",
        )
    ratio = max(width, height) / min(width, height)
    if ratio > MAX_ASPECT_RATIO:
        raise ImageError(
            ErrorCode.IMAGE_TOO_ELONGATED,
            f"image is {width}×{height} px ({ratio:.0f}:1); a picture of an ID card is at most "
            f"{MAX_ASPECT_RATIO:.0f}:1",
        )


def decode_cost(img: Image.Image, data: bytes, full_size: tuple[int, int]) -> int:
    """Bytes the decoder will hold for `img`'s first frame, from the header: Pillow's frame
    buffer (at its size after `draft`), plus what the format's decoder keeps besides.
    `full_size`: the size the header gives (before `draft`)."""
    width, height = img.size
    frame = width * height * _MODE_BYTES.get(img.mode, 4)
    if img.format in ("JPEG", "MPO"):
        return frame + _jpeg_coefficient_bytes(img, data, full_size)
    if img.format == "TIFF":
        return frame + _tiff_block_bytes(img)
    if img.format == "WEBP":
        kind = _webp_kind(img, data)
        if kind is None:  # Pillow's WebPAnimDecoder: its canvas, its previous frame, a copy
            return frame + 3 * width * height * 4
        lossy_reduced = kind == "VP8 " and _webp_scale(width, height) > 1
        return width * height * (WEBP_REDUCED_BYTES if lossy_reduced else WEBP_FULL_BYTES) + 4 * MiB
    tile = getattr(img, "tile", None)  # an opened file's (ImageFile), not typed on Image
    if img.format == "BMP" and tile and tile[0][0] == "bmp_rle":
        return 3 * frame  # Pillow's RLE decoder builds the frame as bytes, twice
    return frame


def _webp_kind(img: Image.Image, data: bytes) -> str | None:
    """ "VP8 " (lossy) or "VP8L" (lossless) for a still, opaque WebP, which OpenCV decodes
    (`_webp_bgr`); None for any other image (animated or with alpha: Pillow decodes it)."""
    if img.format != "WEBP" or img.mode != "RGB" or getattr(img, "n_frames", 1) != 1:
        return None
    pos = 12  # RIFF, size, WEBP; then chunks: fourcc, little-endian size, body (padded to even)
    while pos + 8 <= len(data):
        fourcc, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if fourcc in (b"VP8 ", b"VP8L"):
            return fourcc.decode("ascii")
        if fourcc in (b"ANIM", b"ANMF", b"ALPH"):
            return None
        pos += 8 + size + (size & 1)
    return None


def _webp_scale(width: int, height: int) -> int:
    """The denominator OpenCV decodes a WebP at (1, 2, 4 or 8): as a JPEG, the smallest
    size whose long side stays at least DRAFT_MIN_LONG_SIDE."""
    return max(d for d in (1, 2, 4, 8) if d == 1 or max(width, height) // d >= DRAFT_MIN_LONG_SIDE)


#: OpenCV's WebP decoding, bytes per pixel of the full-size picture (measured; see
#: docs/reliability.md): a lossy one reduced keeps a BGR frame (3 B/px; the reduced result
#: is counted with the strips); at full size, or lossless (libwebp's ARGB then BGR), 7 B/px.
WEBP_REDUCED_BYTES = 3
WEBP_FULL_BYTES = 7


def _webp_bgr(data: bytes, size: tuple[int, int]) -> np.ndarray:
    """A still, opaque WebP of `size` decoded by OpenCV (libwebp, without Pillow's animation
    canvases), reduced as a JPEG is, then scaled to WORK_LONG_SIDE. EXIF orientation is left
    to `decode`, which read it from the header."""
    scale = _webp_scale(*size)
    flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
             8: cv2.IMREAD_REDUCED_COLOR_8}[scale] | cv2.IMREAD_IGNORE_ORIENTATION  # fmt: skip
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3:
        raise ImageError(ErrorCode.UNREADABLE_IMAGE, "the image data is damaged: libwebp cannot decode it")
    return fit(bgr, WORK_LONG_SIDE)


def _jpeg_coefficient_bytes(img: Image.Image, data: bytes, full_size: tuple[int, int]) -> int:
    """libjpeg holds every DCT coefficient of the full-size image (2 bytes a pixel per
    component, at its sampling) when the file has several scans: progressive, or
    components in scans of their own. `draft` does not reduce this."""
    frame_components = len(getattr(img, "layer", ())) or 1
    if not img.info.get("progressive") and _jpeg_first_scan_components(data) >= frame_components:
        return 0
    width, height = full_size
    layers = getattr(img, "layer", None) or [("", 1, 1, 0)]
    h_max = max(layer[1] for layer in layers) or 1
    v_max = max(layer[2] for layer in layers) or 1
    total = 0
    for _, h, v, _ in layers:
        blocks_w = math.ceil(math.ceil(width * h / h_max) / 8)
        blocks_h = math.ceil(math.ceil(height * v / v_max) / 8)
        total += blocks_w * blocks_h * 64 * 2
    return total


def _check_jpeg_scans(img: Image.Image, data: bytes) -> None:
    """Refuse a JPEG of more than MAX_JPEG_SCANS scans (each start-of-scan marker: entropy
    coded data never holds its bytes, 0xFF being stuffed)."""
    if img.format not in ("JPEG", "MPO"):
        return
    scans = data.count(b"\xff\xda")
    if scans > MAX_JPEG_SCANS:
        raise ImageError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"the JPEG has {scans} scans; decoding more than {MAX_JPEG_SCANS} costs too much time",
        )


def _jpeg_first_scan_components(data: bytes) -> int:
    """How many components the first scan (SOS) of a JPEG holds; 0 when none is found."""
    pos = 2
    while pos + 4 < len(data):
        if data[pos] != 0xFF:
            return 0
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
            continue
        if marker == 0xDA:
            return data[pos + 4]
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return 0


def _tiff_block_bytes(img: Image.Image) -> int:
    """The largest strip or tile of a TIFF's page, as stored (before conversion): libtiff
    decodes one at a time into a buffer of that size."""
    tags = getattr(img, "tag_v2", {})
    width, height = img.size
    bits = sum(tags.get(258, (8,)) or (8,)) or 8
    if 322 in tags and 323 in tags:
        block_w, block_h = int(tags[322]), int(tags[323])
    else:
        block_w, block_h = width, min(height, int(tags.get(278, height) or height))
    return block_w * block_h * bits // 8


def _check_tiff_header(data: bytes) -> None:
    """Refuse a TIFF whose first page Pillow would pay too much for at open, before it
    does: more than MAX_TIFF_BLOCKS strips or tiles (a list entry each: hundreds of MiB for
    a 5 MB file), or tags whose values add up to more than MAX_TIFF_TAG_BYTES (each tag's
    value is read into memory, and a hundred tags can each point at the whole file)."""
    blocks, tag_bytes = _tiff_first_page(data)
    if blocks > MAX_TIFF_BLOCKS:
        raise ImageError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"the TIFF's first page is cut into {blocks} strips or tiles; the limit is {MAX_TIFF_BLOCKS}",
        )
    if tag_bytes > MAX_TIFF_TAG_BYTES:
        raise ImageError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"the TIFF's tags hold {tag_bytes / MiB:.0f} MiB of values; "
            f"the limit is {MAX_TIFF_TAG_BYTES / MiB:.0f} MiB",
        )


#: Bytes per value of each TIFF field type (BYTE … IFD8); unknown types count one.
_TIFF_TYPE_BYTES = {
    1: 1,
    2: 1,
    3: 2,
    4: 4,
    5: 8,
    6: 1,
    7: 1,
    8: 2,
    9: 4,
    10: 8,
    11: 4,
    12: 8,
    13: 4,
    16: 8,
    17: 8,
    18: 8,
}


def _tiff_first_page(data: bytes) -> tuple[int, int]:
    """Of a TIFF's first page (IFD): the number of strip or tile offsets, and the bytes of
    the tag values stored outside the IFD. (0, 0) if not a TIFF."""
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None or len(data) < 16:
        return 0, 0
    magic = struct.unpack(order + "H", data[2:4])[0]
    if magic == 42:
        head, count_fmt, entry_size, value_fmt = 8, "H", 12, "I"
        first = struct.unpack(order + "I", data[4:8])[0]
    elif magic == 43:  # BigTIFF
        head, count_fmt, entry_size, value_fmt = 16, "Q", 20, "Q"
        first = struct.unpack(order + "Q", data[8:16])[0]
    else:
        return 0, 0
    count_size, value_size = struct.calcsize(count_fmt), struct.calcsize(value_fmt)
    if first < head or first + count_size > len(data):
        return 0, 0
    entries = struct.unpack(order + count_fmt, data[first : first + count_size])[0]
    blocks = tag_bytes = 0
    for i in range(entries):
        at = first + count_size + i * entry_size
        if at + entry_size > len(data):
            break
        tag, kind = struct.unpack(order + "HH", data[at : at + 4])
        count = struct.unpack(order + value_fmt, data[at + 4 : at + 4 + value_size])[0]
        if tag in (273, 324):  # StripOffsets, TileOffsets
            blocks = max(blocks, count)
        size = count * _TIFF_TYPE_BYTES.get(kind, 1)
        if size > value_size:  # stored outside the entry, read at open
            tag_bytes += size
    return blocks, tag_bytes


def _draft_size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, DRAFT_MIN_LONG_SIDE / max(width, height))
    return max(1, int(width * scale)), max(1, int(height * scale))


def _reduced_bgr(img: Image.Image, long_side: int) -> np.ndarray:
    """The loaded frame as BGR uint8, scaled down to at most `long_side` (area filter),
    converted strip by strip: no full-size copy in any mode."""
    width, height = img.size
    scale = min(1.0, long_side / max(width, height))
    out_w, out_h = max(1, math.floor(width * scale + 0.5)), max(1, math.floor(height * scale + 0.5))
    levels = _levels(img)
    rows = max(STRIP_PIXELS // width, 2 * math.ceil(height / out_h))
    out = np.empty((out_h, out_w, 3), np.uint8)
    for y0 in range(0, height, rows):
        y1 = min(height, y0 + rows)
        o0, o1 = math.floor(y0 * out_h / height + 0.5), math.floor(y1 * out_h / height + 0.5)
        if o1 <= o0:
            continue
        strip = _to_rgb(img.crop((0, y0, width, y1)), levels)
        if strip.shape[:2] != (o1 - o0, out_w):
            strip = cv2.resize(strip, (out_w, o1 - o0), interpolation=cv2.INTER_AREA)
        out[o0:o1] = strip[..., ::-1]
    return out


def _levels(img: Image.Image) -> tuple[float, float] | None:
    """The range numeric modes are scaled from: 16-bit samples keep their scale (0–65535,
    or 0–max for 8-bit data stored in 16 bits); 32-bit integers and floats their range."""
    if img.mode not in _NUMERIC_MODES:
        return None
    lo, hi = (float(v) for v in img.getextrema())  # type: ignore[arg-type]
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if img.mode.startswith("I;16"):
        return 0.0, 65535.0 if hi > 255 else max(hi, 1.0)
    return lo, max(hi, lo + 1e-9)


def _to_rgb(img: Image.Image, levels: tuple[float, float] | None = None) -> np.ndarray:
    """Any Pillow mode → RGB uint8 array; transparency is laid over white; numeric modes
    are scaled from `levels` (float32, one strip at a time)."""
    if img.mode in _NUMERIC_MODES:
        lo, hi = levels or _levels(img) or (0.0, 1.0)
        arr = np.asarray(img).astype(np.float32)
        np.nan_to_num(arr, copy=False, nan=lo, posinf=hi, neginf=lo)
        arr -= lo
        arr *= 255.0 / (hi - lo)
        grey = np.clip(arr, 0, 255, out=arr).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    return np.asarray(img.convert("RGB"))


def _orientation(img: Image.Image) -> int:
    try:
        value = img.getexif().get(0x0112, 1)
    except Exception:  # a damaged EXIF block: the picture as stored
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _turned(image: np.ndarray, orientation: int) -> np.ndarray:
    """`image` as displayed: EXIF orientation 2–8 undone (as `ImageOps.exif_transpose`)."""
    turns = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.rot90(a, k=-1),
        7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
        8: lambda a: np.rot90(a, k=1),
    }
    turn = turns.get(orientation)
    return image if turn is None else turn(image)


def fit(image: np.ndarray, long_side: int) -> np.ndarray:
    """`image` scaled down to at most `long_side` on its long side (never enlarged)."""
    h, w = image.shape[:2]
    scale = long_side / max(h, w)
    if scale >= 1.0:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def fit_view(image: np.ndarray, long_side: int) -> np.ndarray:
    """A whole picture as the engine sees it: at most `long_side` on its long side, and no
    more pixels than a card of that long side. The detector's working memory grows with
    the pixels it sees (measured: a 960×960 view needs twice the 960×606 card's), so a
    square photo is seen at 762×762 instead."""
    h, w = image.shape[:2]
    card_pixels = long_side * round(long_side / CARD_ASPECT)
    if h * w <= card_pixels:
        return fit(image, long_side)
    return fit(image, min(long_side, math.floor(max(h, w) * math.sqrt(card_pixels / (h * w)))))


_STROKE = np.ones((3, 3), np.uint8)


def _within(image: np.ndarray, corners: Sequence[Point]) -> np.ndarray | None:
    """The part of `image` in the bounding box of `corners`; None when under 2 px a side."""
    xs, ys = [p[0] for p in corners], [p[1] for p in corners]
    h, w = image.shape[:2]
    x0, x1 = max(0, math.floor(min(xs))), min(w, math.ceil(max(xs)))
    y0, y1 = max(0, math.floor(min(ys))), min(h, math.ceil(max(ys)))
    return image[y0:y1, x0:x1] if x1 - x0 >= 2 and y1 - y0 >= 2 else None


def ink_contrast(image: np.ndarray, corners: Sequence[Point]) -> float:
    """How far the darkest strokes within `corners` (their bounding box, in `image`) stand
    out from the rest: the median grey minus the 1st percentile (0-255), lines thinner than
    3 px (a guilloche's, on a card 960 px wide) closed over first. Printed text stands out
    by ~100-220; a guilloche's fine lines by a tenth to a fifth of that."""
    region = _within(image, corners)
    if region is None:
        return 0.0
    grey = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY) if region.ndim == 3 else region
    grey = cv2.morphologyEx(grey, cv2.MORPH_CLOSE, _STROKE)  # lines thinner than a stroke go
    low, mid = np.percentile(grey, (1, 50))
    return float(mid - low)


def darkest_within(image: np.ndarray, corners: Sequence[Point]) -> np.ndarray | None:
    """Each pixel's darkest channel within `corners` (their bounding box); None when the box
    is under 2 px a side."""
    region = _within(image, corners)
    if region is None:
        return None
    return region.min(axis=2) if region.ndim == 3 else region


def saturated_share(image: np.ndarray, corners: Sequence[Point], level: int) -> float:
    """The share of the pixels within `corners` (their bounding box) whose every channel is
    `level` or more: paper lit into the sensor's ceiling, where print fades away."""
    darkest = darkest_within(image, corners)
    if darkest is None:
        return 0.0
    return float(np.count_nonzero(darkest >= level)) / darkest.size


# --------------------------------------------------------------------------- locate


def locate_card(image: np.ndarray, long_side: int, search: CardSearch | None = None) -> CardImage:
    """Crop the card out of a photo and undo its perspective; else use the whole image.

    A found card is landscape; whether it is upside down is settled later from the text
    (see `upright_boxes`). Without an outline the image is returned as it is, scaled.
    `search`: the picture's outline search, when the caller has made it already.
    """
    quad = find_card_quad(image, search)
    if quad is not None:
        card = _warp(image, quad, long_side)
        return CardImage(image=card, found_quad=True, corners=card_corners(quad))
    return CardImage(image=fit_view(image, long_side), found_quad=False)


def find_card_quad(image: np.ndarray, search: CardSearch | None = None) -> np.ndarray | None:
    """The four corners (float32, image coords) of the card, or None if no clear outline
    (the largest of `card_quads`)."""
    search = CardSearch.of(image, search)
    quads = search.quads()
    if not quads:
        return None
    h, w = image.shape[:2]
    if search.card_shaped and cv2.contourArea(quads[0]) < 0.25 * h * w:
        return None  # a card-shaped image whose largest outline is small: a detail of the card
    return quads[0]


def card_quads(image: np.ndarray, min_share: float = 0.12, loose: bool = False,
               cut: bool = False, per_map: int = 5,
               nested: bool = False) -> tuple[list[np.ndarray], bool]:  # fmt: skip
    """Every clear card outline in `image` (`CardSearch.quads`), with whether the picture
    itself is card-shaped (cropped to a card)."""
    search = CardSearch(image)
    return search.quads(min_share, loose, cut, per_map, nested), search.card_shaped


def card_outlines(image: np.ndarray, min_share: float = 0.12, per_map: int = 5,
                  nested: bool = False) -> list[np.ndarray]:  # fmt: skip
    """Every clear card outline (`card_quads`, largest first), without the picture's shape."""
    return CardSearch(image).quads(min_share, per_map=per_map, nested=nested)


def search_outlines(image: np.ndarray) -> CardSearch:
    """The outline search of `image` (`CardSearch`): made once per picture by the pipeline
    and handed to `quality.survey`, `twosided.cards_apart` and `locate_card`."""
    return CardSearch(image)


class CardSearch:
    """The search for card outlines in one picture, made once and asked for each variant.

    The picture is seen at SEARCH_LONG_SIDE px at most; its edges (`_Edges`), its edge and
    threshold maps (`_edge_maps`) and their regions (outer ones, and every one) are found
    once. `quads` then gives the outlines of one variant (strict or loose, cut, a smaller
    share, more regions, nested ones); an outline found by several variants is refitted to
    the edges once. The same picture gives the same outlines as a search of its own would:
    the pipeline makes one per picture and hands it to `locate_card`, `twosided` and
    `quality.survey`, which each made their own before (about 28 ms each).
    """

    def __init__(self, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        self.shape = (h, w)
        self.scale = min(1.0, SEARCH_LONG_SIDE / max(h, w))
        small = (
            cv2.resize(image, (max(1, round(w * self.scale)), max(1, round(h * self.scale))),
                       interpolation=cv2.INTER_AREA)
            if self.scale < 1
            else image
        )  # fmt: skip
        self.small_shape: tuple[int, int] = small.shape[:2]
        sh, sw = self.small_shape
        grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0)
        self.edges = _Edges(grey)
        self.maps = _edge_maps(grey)
        self.band = max(4.0, 0.012 * max(sh, sw))
        #: The picture is card-shaped (cropped to a card).
        self.card_shaped = abs(max(sw, sh) / min(sw, sh) / CARD_ASPECT - 1) < CROPPED_CARD_ASPECT
        self._regions: dict[bool, list[list[np.ndarray]]] = {}
        self._found: dict[tuple[bool, int, int, bool, bool], np.ndarray | None] = {}
        self._fitted: dict[bytes, tuple[np.ndarray, list[float]]] = {}

    @classmethod
    def of(cls, image: np.ndarray, search: CardSearch | None) -> CardSearch:
        """`search` when it was made on `image` (its size), else a search of `image`."""
        return search if search is not None and search.shape == image.shape[:2] else cls(image)

    def regions(self, nested: bool = False) -> list[list[np.ndarray]]:
        """Each map's regions, largest first: outer ones only, or, `nested`, every one."""
        if nested not in self._regions:
            mode = cv2.RETR_LIST if nested else cv2.RETR_EXTERNAL
            self._regions[nested] = [
                sorted(cv2.findContours(region, mode, cv2.CHAIN_APPROX_SIMPLE)[0], key=cv2.contourArea,
                       reverse=True)
                for region in self.maps
            ]  # fmt: skip
        return self._regions[nested]

    def quads(self, min_share: float = 0.12, loose: bool = False, cut: bool = False,
              per_map: int = 5, nested: bool = False) -> list[np.ndarray]:  # fmt: skip
        """Every clear card outline in the picture.

        Candidates come from several edge and threshold maps. Each candidate's sides are
        refitted to the edge pixels along them (a polygon approximation cuts the rounded
        corners, which moves the sides by a few pixels), and a candidate counts only when
        every side runs along an edge of its own direction (lighting gradients make large
        false regions in threshold maps; a card's printed pattern has edges everywhere, but
        not in one direction along a line). Outlines are returned largest first (float32,
        image coords), each covering at least `min_share` of the picture. `loose`: a side
        may be mostly hidden (by a finger over the card's edge) when the others run along
        edges. `cut`: only outlines with a side along the picture's border, which needs no
        edge there (a card cut by the picture's edge; any share of it may be cut off, so
        any aspect from 1:1 to 3:1). The `per_map` largest regions of each map are tried:
        outer regions only, or, `nested`, regions inside others too (cards on a page).
        """
        sh, sw = self.small_shape
        area = float(sh * sw)
        candidates: list[np.ndarray] = []
        for m, contours in enumerate(self.regions(nested)):
            for k, contour in enumerate(contours[:per_map]):
                if cv2.contourArea(contour) < min_share * area:
                    continue
                found = self._outline(nested, m, k, loose, cut)
                if found is None or cv2.contourArea(found) > 0.93 * area:
                    continue  # none, or the frame of the picture
                quad, sides = self._fit(found)
                if cut:  # judged as found: refitting may pull a cut side onto the print near it
                    along = [_along_border(found[i], found[(i + 1) % 4], sw, sh, self.band) for i in range(4)]
                    inner = [v for a, v in zip(along, sides, strict=True) if not a]
                    if not 2 <= len(inner) <= 3 or min(inner) < 0.5:
                        continue  # no side cut, or a strip of the background along the border
                    sides = [1.0 if a else v for a, v in zip(along, sides, strict=True)]
                least, mean = (0.2, 0.65) if loose else (0.5, 0.75)
                if sum(sides) / 4 >= mean and min(sides) >= least:
                    candidates.append(quad)
        candidates.sort(key=cv2.contourArea, reverse=True)
        return [(quad / self.scale).astype(np.float32) for quad in candidates]

    def _outline(self, nested: bool, m: int, k: int, loose: bool, cut: bool) -> np.ndarray | None:
        """The four-cornered outline of region `k` of map `m` (`_quad_of`), once per variant."""
        key = (nested, m, k, loose, cut)
        if key not in self._found:
            self._found[key] = _quad_of(
                self.regions(nested)[m][k],
                1.0,
                0.0,
                (0.9, 3.0) if cut else (1.25, 2.0),
                (0.02, 0.03, 0.05, 0.08, 0.12) if loose else (0.02, 0.03, 0.05),
            )
        return self._found[key]

    def _fit(self, found: np.ndarray) -> tuple[np.ndarray, list[float]]:
        """`found` refitted to the edges (`_refine_sides`), and each side's edge support."""
        key = found.tobytes()
        if key not in self._fitted:
            quad = _refine_sides(found, self.edges.points, self.band)
            sides = [self.edges.support(quad[i], quad[(i + 1) % 4]) for i in range(4)]
            self._fitted[key] = (quad, sides)
        quad, sides = self._fitted[key]
        return quad, list(sides)


class _Edges:
    """Canny edges of a small grey image, with their gradient, for checking outlines."""

    #: Samples along a side, and how far (px) across the side an edge may lie.
    SAMPLES = 40
    REACH = 3

    def __init__(self, grey: np.ndarray) -> None:
        self.canny = cv2.Canny(grey, 20, 60)
        self.gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
        self.gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
        ys, xs = np.nonzero(self.canny)
        self.points = np.stack([xs, ys], axis=1).astype(np.float64)  # in rising y

    def support(self, a: np.ndarray, b: np.ndarray) -> float:
        """The share of points along a→b with an edge across the side near them."""
        h, w = self.canny.shape[:2]
        d = (b - a).astype(np.float64)
        length = float(np.hypot(*d))
        if length < 1:
            return 0.0
        normal = np.array([-d[1], d[0]]) / length
        ts = np.linspace(0.05, 0.95, self.SAMPLES)[:, None, None]
        ks = np.arange(-self.REACH, self.REACH + 1)[None, :, None]
        pts = (a + d * ts + normal * ks).round().astype(int)  # samples × offsets × 2
        x, y = pts[..., 0], pts[..., 1]
        inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        x, y = np.clip(x, 0, w - 1), np.clip(y, 0, h - 1)
        gx, gy = self.gx[y, x], self.gy[y, x]
        across = np.abs(gx * normal[0] + gy * normal[1]) >= 0.85 * np.hypot(gx, gy)
        hit = inside & (self.canny[y, x] > 0) & across
        return float(hit.any(axis=1).mean())


def _refine_sides(quad: np.ndarray, points: np.ndarray, band: float) -> np.ndarray:
    """`quad` (any polygon) with each side refitted to the edge points within `band` px of its middle
    part, and the corners moved to where the refitted sides meet (two rounds). `points`: x, y
    rows in rising y (`_Edges.points`), so each side looks only at the rows it spans."""
    for _ in range(2):
        lines: list[tuple[np.ndarray, np.ndarray]] = []
        for i in range(len(quad)):
            a, b = quad[i].astype(np.float64), quad[(i + 1) % len(quad)].astype(np.float64)
            length = float(np.hypot(*(b - a)))
            if length < 1:
                return quad
            u = (b - a) / length
            rows = np.searchsorted(points[:, 1], (min(a[1], b[1]) - band - 1, max(a[1], b[1]) + band + 1))
            span = points[rows[0] : rows[1]]
            rel = span - a
            t = rel @ u / length
            dist = rel @ np.array([-u[1], u[0]])
            near = span[(np.abs(dist) <= band) & (t > 0.12) & (t < 0.88)]
            if len(near) >= 0.3 * length:
                vx, vy, x0, y0 = cv2.fitLine(near.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
                lines.append((np.array([x0, y0], np.float64), np.array([vx, vy], np.float64)))
            else:
                lines.append((a, u))
        corners = []
        for i in range(len(quad)):
            (p1, d1), (p2, d2) = lines[i - 1], lines[i]
            m = np.array([[d1[0], -d2[0]], [d1[1], -d2[1]]])
            if abs(np.linalg.det(m)) < 1e-6:
                return quad
            corners.append(p1 + d1 * np.linalg.solve(m, p2 - p1)[0])
        refined = np.array(corners, np.float32)
        if np.abs(refined - quad).max() > 3 * band:
            return quad  # the fit ran off to other edges: keep the outline as found
        quad = refined
    return quad


def _edge_maps(grey: np.ndarray) -> list[np.ndarray]:
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5))
    canny = cv2.dilate(cv2.Canny(grey, 30, 90), kernel, iterations=1)
    canny = cv2.morphologyEx(canny, cv2.MORPH_CLOSE, kernel, iterations=2)
    soft = cv2.dilate(cv2.Canny(grey, 10, 40), kernel, iterations=2)
    _, otsu = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    otsu = cv2.morphologyEx(otsu, cv2.MORPH_CLOSE, kernel, iterations=3)
    return [canny, soft, otsu, cv2.bitwise_not(otsu)]


def _along_border(a: np.ndarray, b: np.ndarray, width: int, height: int, band: float) -> bool:
    """Whether side a→b runs along (or beyond) one border of a `width`×`height` picture."""
    return bool(any(
        (a[k] < band and b[k] < band) or (a[k] > size - 1 - band and b[k] > size - 1 - band)
        for k, size in ((0, width), (1, height))
    ))  # fmt: skip


def _quad_of(
    contour: np.ndarray,
    image_area: float,
    min_share: float = 0.12,
    aspects: tuple[float, float] = (1.25, 2.0),
    steps: tuple[float, ...] = (0.02, 0.03, 0.05),
) -> np.ndarray | None:
    """A four-cornered outline of `contour` (its hull simplified by each of `steps` of its
    perimeter in turn; larger steps cut off what sticks out of the card: a finger), or
    None."""
    if cv2.contourArea(contour) < min_share * image_area:
        return None
    hull = cv2.convexHull(contour)
    peri = cv2.arcLength(hull, True)
    quad: np.ndarray | None = None
    for eps in steps:
        approx = cv2.approxPolyDP(hull, eps * peri, True)
        if len(approx) == 4:
            quad = approx.reshape(4, 2).astype(np.float32)
            break
    if quad is None:
        rect = cv2.minAreaRect(hull)
        if cv2.contourArea(hull) < 0.85 * rect[1][0] * rect[1][1]:
            return None
        quad = cv2.boxPoints(rect).astype(np.float32)
    quad = _order_corners(quad)
    top = np.linalg.norm(quad[1] - quad[0])
    left = np.linalg.norm(quad[3] - quad[0])
    long_, short = max(top, left), min(top, left)
    if short < 1 or not aspects[0] <= long_ / short <= aspects[1]:
        return None
    return quad


def _order_corners(quad: np.ndarray) -> np.ndarray:
    """Corners as top-left, top-right, bottom-right, bottom-left."""
    s = quad.sum(axis=1)
    d = np.diff(quad, axis=1).ravel()
    return np.array(
        [quad[np.argmin(s)], quad[np.argmin(d)], quad[np.argmax(s)], quad[np.argmax(d)]],
        dtype=np.float32,
    )


def warp_card(image: np.ndarray, quad: np.ndarray, long_side: int) -> np.ndarray:
    """The card at `quad` straightened to the ID-1 aspect, `long_side` px wide."""
    return _warp(image, quad, long_side)


def card_corners(quad: np.ndarray) -> np.ndarray:
    """`quad` from the corner that becomes the straightened card's top-left (`_warp`)."""
    top = np.linalg.norm(quad[1] - quad[0])
    left = np.linalg.norm(quad[3] - quad[0])
    # the card stands on its short side: start the outline one corner later
    return np.roll(quad, -1, axis=0) if left > top else quad


def _warp(image: np.ndarray, quad: np.ndarray, long_side: int) -> np.ndarray:
    quad = card_corners(quad)
    width = long_side
    height = round(long_side / CARD_ASPECT)
    dst = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    return cv2.warpPerspective(
        image, matrix, (width, height), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE
    )


# --------------------------------------------------------------------------- upright


def upright_boxes(boxes: list[TextBox], width: int, height: int) -> list[TextBox]:
    """Boxes in upright card geometry: undo a 180° turn, then residual skew.

    The engine's angle classifier already turned each line's text right way up;
    when most of the text (by characters) was upside down, the whole card was,
    so its geometry is turned too. Skew is measured from the boxes' top edges.
    """
    if not boxes:
        return boxes
    if is_turned(boxes):
        boxes = [_turn_180(b, width, height) for b in boxes]
    angle = _skew_degrees(boxes)
    if abs(angle) >= 1.0:
        boxes = [_rotate(b, -angle, width / 2, height / 2) for b in boxes]
    return boxes


def is_turned(boxes: list[TextBox]) -> bool:
    """True when most of the text (by characters) was read upside down: the card is turned
    180° in the image (`upright_boxes` turns the geometry then)."""
    flipped = sum(len(b.text) for b in boxes if b.angle == 180)
    return flipped * 2 > sum(len(b.text) for b in boxes)


def _turn_180(box: TextBox, width: int, height: int) -> TextBox:
    p = [(width - x, height - y) for x, y in box.points]
    return dataclasses.replace(box, points=(p[2], p[3], p[0], p[1]), angle=(box.angle + 180) % 360)


def _skew_degrees(boxes: list[TextBox]) -> float:
    angles: list[float] = []
    weights: list[float] = []
    for b in boxes:
        (x0, y0), (x1, y1) = b.points[0], b.points[1]
        length = math.hypot(x1 - x0, y1 - y0)
        if length < 2 * max(b.height, 1) * 0.5 or len(b.text) < 3:
            continue
        angles.append(math.degrees(math.atan2(y1 - y0, x1 - x0)))
        weights.append(length)
    if not angles:
        return 0.0
    order = np.argsort(angles)
    cum = np.cumsum(np.asarray(weights)[order])
    median = float(np.asarray(angles)[order][np.searchsorted(cum, cum[-1] / 2)])
    return median if abs(median) <= 30 else 0.0


def _rotate(box: TextBox, degrees: float, cx: float, cy: float) -> TextBox:
    rad = math.radians(degrees)
    c, s = math.cos(rad), math.sin(rad)
    pts: list[Point] = [
        (cx + (x - cx) * c - (y - cy) * s, cy + (x - cx) * s + (y - cy) * c) for x, y in box.points
    ]
    return dataclasses.replace(box, points=(pts[0], pts[1], pts[2], pts[3]))
