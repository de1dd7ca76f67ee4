"""Safe decoding, card localisation and upright geometry, on images made here."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from ocr_job import imaging
from ocr_job.engines.base import TextBox
from ocr_job.imaging import ImageError
from ocr_job.records import ErrorCode

MAX_PIXELS = 40_000_000


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _jpeg_bytes(img: Image.Image, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **kw)
    return buf.getvalue()


def _pattern(w: int = 320, h: int = 200) -> Image.Image:
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:, : w // 2] = (255, 0, 0)  # left half red
    arr[:, w // 2 :] = (0, 0, 255)  # right half blue
    return Image.fromarray(arr)


def _huge_png_header(width: int, height: int) -> bytes:
    """A valid PNG whose header claims width×height, with a tiny (truncated) IDAT."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100))


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", ErrorCode.EMPTY_FILE),
        (b"this is a text file, not an image\n" * 10, ErrorCode.UNREADABLE_IMAGE),
        (bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8)),
         ErrorCode.UNREADABLE_IMAGE),
        (_png_bytes(Image.new("RGB", (1, 1))), ErrorCode.IMAGE_TOO_SMALL),
        (_huge_png_header(40000, 40000), ErrorCode.IMAGE_TOO_LARGE),
    ],
    ids=["empty", "text", "random", "1x1", "40000x40000"],
)
def test_bad_inputs_get_their_error_code(data: bytes, code: ErrorCode) -> None:
    with pytest.raises(ImageError) as info:
        imaging.decode(data, MAX_PIXELS)
    assert info.value.code is code
    assert info.value.message


def test_truncated_jpeg_is_unreadable() -> None:
    data = _jpeg_bytes(_pattern(800, 500), quality=90)
    with pytest.raises(ImageError) as info:
        imaging.decode(data[: len(data) // 3], MAX_PIXELS)
    assert info.value.code is ErrorCode.UNREADABLE_IMAGE


def test_pixel_cap_is_configurable() -> None:
    data = _png_bytes(_pattern(400, 300))
    with pytest.raises(ImageError) as info:
        imaging.decode(data, max_pixels=100_000)
    assert info.value.code is ErrorCode.IMAGE_TOO_LARGE
    assert imaging.decode(data, max_pixels=120_000).shape == (300, 400, 3)


def test_decode_gives_bgr_and_keeps_colours() -> None:
    bgr = imaging.decode(_png_bytes(_pattern()), MAX_PIXELS)
    assert bgr.dtype == np.uint8 and bgr.shape == (200, 320, 3)
    assert tuple(bgr[100, 10]) == (0, 0, 255)  # red in BGR
    assert tuple(bgr[100, 300]) == (255, 0, 0)  # blue in BGR


def test_cmyk_jpeg_is_read() -> None:
    data = _jpeg_bytes(_pattern().convert("CMYK"), quality=95)
    bgr = imaging.decode(data, MAX_PIXELS)
    b, g, r = (int(v) for v in bgr[100, 10])
    assert r > 200 and g < 60 and b < 60


def test_16_bit_png_is_scaled_not_clipped() -> None:
    ramp = (np.tile(np.linspace(0, 65535, 256), (100, 1))).astype(np.uint16)
    data = _png_bytes(Image.fromarray(ramp))
    bgr = imaging.decode(data, MAX_PIXELS)
    assert bgr[50, 0, 0] < 10 and bgr[50, 128, 0] in range(110, 145) and bgr[50, 255, 0] > 245


def test_gif_and_alpha_are_read() -> None:
    gif = io.BytesIO()
    _pattern().convert("P").save(gif, format="GIF")
    assert imaging.decode(gif.getvalue(), MAX_PIXELS).shape == (200, 320, 3)
    rgba = Image.new("RGBA", (120, 80), (0, 0, 0, 0))
    assert tuple(imaging.decode(_png_bytes(rgba), MAX_PIXELS)[40, 60]) == (255, 255, 255)


def test_exif_orientation_is_honoured() -> None:
    img = _pattern(320, 200)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    bgr = imaging.decode(_jpeg_bytes(img, exif=exif, quality=95), MAX_PIXELS)
    assert bgr.shape[:2] == (320, 200)  # now portrait
    assert bgr[10, 100, 2] > 200  # red (the old left half) is now on top


def test_large_jpeg_is_decoded_reduced() -> None:
    data = _jpeg_bytes(_pattern(6000, 4000), quality=80)
    bgr = imaging.decode(data, max_pixels=10_000_000)  # fits only because of draft decoding
    assert max(bgr.shape[:2]) <= imaging.WORK_LONG_SIDE


def test_jpeg_just_under_twice_the_work_side_is_decoded_at_half_scale() -> None:
    # 3,800 px: halving gives less than WORK_LONG_SIDE, and the decoder still halves it
    # rather than holding 9 MP at full size; 3 MP admits only the reduced decode.
    data = _jpeg_bytes(_pattern(3800, 2400), quality=80)
    bgr = imaging.decode(data, max_pixels=3_000_000)
    assert bgr.shape[:2] == (1200, 1900)


def _card_on_background(rotate: int = 0) -> np.ndarray:
    bg = np.full((900, 1300, 3), (40, 90, 60), np.uint8)
    card = np.full((540, 856, 3), (235, 235, 230), np.uint8)
    cv2.putText(card, "TOP", (40, 80), cv2.FONT_HERSHEY_SIMPLEX, 2, (0, 0, 0), 4)
    src = np.float32([[0, 0], [855, 0], [855, 539], [0, 539]])
    dst = np.float32([[230, 170], [1080, 210], [1050, 760], [200, 720]])
    m = cv2.getPerspectiveTransform(src, dst)
    cv2.warpPerspective(card, m, (1300, 900), dst=bg, borderMode=cv2.BORDER_TRANSPARENT)
    return np.ascontiguousarray(np.rot90(bg, k=rotate // 90)) if rotate else bg


@pytest.mark.parametrize("rotate", [0, 90])
def test_locate_card_undoes_perspective(rotate: int) -> None:
    found = imaging.locate_card(_card_on_background(rotate), long_side=960)
    assert found.found_quad
    h, w = found.image.shape[:2]
    assert w == 960 and abs(w / h - imaging.CARD_ASPECT) < 0.02
    # The card's pale surface fills the crop: no background left at the centre or edges.
    assert found.image[h // 2, w // 2].mean() > 200
    assert found.image[h // 2, 15].mean() > 180 and found.image[h // 2, w - 15].mean() > 180


def test_without_an_outline_the_whole_image_is_used() -> None:
    plain = np.full((1000, 600, 3), 230, np.uint8)
    found = imaging.locate_card(plain, long_side=960)
    assert not found.found_quad
    assert found.image.shape[:2] == (960, 576)  # scaled, not turned: the views decide


def test_a_scan_of_just_the_card_is_the_card() -> None:
    card = np.full((540, 856, 3), 235, np.uint8)
    cv2.rectangle(card, (560, 100), (800, 420), (120, 120, 120), -1)  # the portrait block
    found = imaging.locate_card(card, long_side=960)
    assert not found.found_quad and found.image.shape[:2] == (540, 856)  # never enlarged


def _box(text: str, x0: float, y0: float, x1: float, y1: float, angle: int = 0) -> TextBox:
    return TextBox(text, 0.99, ((x0, y0), (x1, y0), (x1, y1), (x0, y1)), angle)


def test_upright_boxes_turns_an_upside_down_card() -> None:
    # Engine output on a card turned 180°: texts corrected by the classifier, geometry not.
    boxes = [_box("姓名张三", 700, 500, 900, 540, 180), _box("住址北京市东城区", 500, 300, 900, 340, 180)]
    fixed = imaging.upright_boxes(boxes, 1000, 600)
    name, addr = fixed
    assert name.y0 < addr.y0  # the name line is on top again
    assert name.x0 == pytest.approx(100) and name.points[0] == (100, 60)


def test_upright_boxes_removes_skew() -> None:
    import math

    angle = math.radians(6)
    def skewed(text: str, x: float, y: float, length: float) -> TextBox:
        dx, dy = math.cos(angle) * length, math.sin(angle) * length
        return TextBox(text, 0.9, ((x, y), (x + dx, y + dy), (x + dx, y + dy + 30), (x, y + 30)))
    boxes = [skewed("公民身份号码", 100, 100, 300), skewed("北京市东城区", 100, 200, 300)]
    fixed = imaging.upright_boxes(boxes, 1000, 600)
    for b in fixed:
        (_, y0), (_, y1) = b.points[0], b.points[1]
        assert abs(y1 - y0) < 2


@pytest.mark.parametrize(("shape", "expected"), [
    ((606, 960), (606, 960)),  # a card at the cap: as it is
    ((1212, 1920), (606, 960)),  # a card twice as large: the long-side cap
    ((2000, 2000), (762, 762)),  # a square photo: no more pixels than the card
    ((3000, 4000), (660, 880)),  # 4:3: the same
    ((960, 606), (960, 606)),  # a card on its side keeps its long side
    ((500, 500), (500, 500)),  # small pictures are never enlarged
])
def test_a_whole_picture_view_never_holds_more_pixels_than_a_card(
    shape: tuple[int, int], expected: tuple[int, int]
) -> None:
    view = imaging.fit_view(np.zeros((*shape, 3), np.uint8), 960)
    assert view.shape[:2] == expected
    assert view.shape[0] * view.shape[1] <= 960 * 606
