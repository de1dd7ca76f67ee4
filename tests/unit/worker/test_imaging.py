"""Safe decoding, card localisation and upright geometry, on images made here."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from ocr_job import imaging
from ocr_job.engines.base import TextBox
from ocr_job.imaging import ImageError
from ocr_job.records import ErrorCode
from ocr_job.synth import hostile

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
        (bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8)), ErrorCode.UNREADABLE_IMAGE),
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


# --------------------------------------------------------------------------- decode's memory


def _with_first_scan_components(data: bytes, count: int) -> bytes:
    """`data` (a JPEG) whose first scan header claims `count` components (a multi-scan file
    when fewer than the frame's)."""
    out = bytearray(data)
    pos = out.index(b"\xff\xda")
    out[pos + 4] = count
    return bytes(out)


def test_a_large_progressive_jpeg_is_refused_from_its_header() -> None:
    small = _jpeg_bytes(_pattern(200, 160).convert("CMYK"), quality=80, progressive=True)
    data = hostile.jpeg_with_size(small, 13370, 13370)
    with pytest.raises(ImageError) as info:
        imaging.decode(data, MAX_PIXELS)
    assert info.value.code is ErrorCode.IMAGE_TOO_LARGE
    assert "progressive CMYK JPEG" in info.value.message and "MiB" in info.value.message


def test_the_same_jpeg_as_one_baseline_scan_is_decoded_reduced() -> None:
    small = _jpeg_bytes(_pattern(200, 160).convert("CMYK"), quality=80)
    bgr = imaging.decode(hostile.jpeg_with_size(small, 13370, 13370), MAX_PIXELS)
    assert bgr.shape == (1672, 1672, 3)  # drafted at 1/8; libjpeg pads the short scan


def test_a_baseline_jpeg_whose_components_come_in_scans_of_their_own_is_multi_scan() -> None:
    data = hostile.jpeg_with_size(_jpeg_bytes(_pattern(200, 160), quality=80, subsampling=0), 8000, 5000)
    assert imaging._jpeg_first_scan_components(data) == 3
    with pytest.raises(ImageError) as info:
        imaging.decode(_with_first_scan_components(data, 1), MAX_PIXELS)
    assert info.value.code is ErrorCode.IMAGE_TOO_LARGE and "multi-scan" in info.value.message


def test_a_jpeg_of_too_many_scans_is_refused_before_libjpeg_goes_over_them() -> None:
    data = hostile.jpeg_many_scans(imaging.MAX_JPEG_SCANS)
    with pytest.raises(ImageError) as info:
        imaging.decode(data, MAX_PIXELS)
    assert info.value.code is ErrorCode.IMAGE_TOO_LARGE and "scans" in info.value.message
    ordinary = _jpeg_bytes(_pattern(800, 500), quality=80, progressive=True)
    assert imaging.decode(ordinary, MAX_PIXELS).shape == (500, 800, 3)


def test_pillows_decompression_bomb_warning_is_not_what_decides() -> None:
    # 120 MP claimed: Pillow only warns (over its 89 MP) and would decode it. Drafted at 1/8
    # it is 1.9 MP: decoded reduced, at little cost. A 1-bit PNG of the same size is refused
    # by the pixel cap, before Pillow would have let it through.
    small = _jpeg_bytes(_pattern(200, 160), quality=80)
    bgr = imaging.decode(hostile.jpeg_with_size(small, 12000, 10000), MAX_PIXELS)
    assert max(bgr.shape[:2]) <= imaging.WORK_LONG_SIDE
    with pytest.raises(ImageError) as info:
        imaging.decode(_huge_png_header(12000, 10000), MAX_PIXELS)
    assert info.value.code is ErrorCode.IMAGE_TOO_LARGE and "120 MP" in info.value.message


@pytest.mark.parametrize(("mode", "per_pixel"), [("L", 1), ("P", 1), ("I;16", 2), ("RGB", 4), ("RGBA", 4)])
def test_decode_cost_follows_the_mode_not_the_file_size(mode: str, per_pixel: int) -> None:
    img = Image.open(io.BytesIO(_png_bytes(Image.new(mode, (1000, 500)))))
    assert imaging.decode_cost(img, b"", img.size) == 1000 * 500 * per_pixel


def test_decode_cost_of_a_progressive_jpeg_counts_every_coefficient() -> None:
    data = hostile.jpeg_with_size(
        _jpeg_bytes(_pattern(200, 160), quality=80, progressive=True, subsampling=2), 8000, 4000
    )  # 4:2:0
    img = Image.open(io.BytesIO(data))
    img.draft("RGB", imaging._draft_size(8000, 4000))
    coefficients = (8000 * 4000 + 2 * 4000 * 2000) * 2
    assert imaging.decode_cost(img, data, (8000, 4000)) == img.size[0] * img.size[1] * 4 + coefficients


def test_decode_cost_of_tiff_counts_its_largest_strip_or_tile() -> None:
    for page, block in [
        (hostile.TiffPage(2000, 1000, bits=16, rows_per_strip=1000), 2000 * 1000 * 2),
        (hostile.TiffPage(2000, 1000, tile=512), 512 * 512),
    ]:
        img = Image.open(io.BytesIO(hostile.tiff([page])))
        assert (
            imaging.decode_cost(img, b"", img.size)
            == img.size[0] * img.size[1] * imaging._MODE_BYTES.get(img.mode, 4) + block
        )


def test_a_tiff_cut_into_too_many_strips_is_refused_before_pillow_opens_it() -> None:
    data = hostile.tiff([hostile.TiffPage(64, imaging.MAX_TIFF_BLOCKS + 1, rows_per_strip=1)])
    assert imaging._tiff_first_page(data)[0] == imaging.MAX_TIFF_BLOCKS + 1
    with pytest.raises(ImageError) as info:
        imaging.decode(data, MAX_PIXELS)
    assert info.value.code is ErrorCode.IMAGE_TOO_LARGE and "strips" in info.value.message


def test_a_tiff_whose_tags_point_at_the_whole_file_is_refused_before_pillow_reads_them() -> None:
    page = hostile.TiffPage(300, 200, big_tags=20, big_tag_bytes=1 << 20)
    data = hostile.tiff([page])
    assert imaging._tiff_first_page(data)[1] >= 20 << 20
    with pytest.raises(ImageError) as info:
        imaging.decode(data, MAX_PIXELS)
    assert info.value.code is ErrorCode.IMAGE_TOO_LARGE and "tags" in info.value.message
    few = hostile.tiff([hostile.TiffPage(300, 200, big_tags=2, big_tag_bytes=1 << 20)])
    assert imaging.decode(few, MAX_PIXELS).shape == (200, 300, 3)


def test_only_the_first_page_of_a_tiff_counts() -> None:
    huge = hostile.TiffPage(60000, 60000, bits=32, sample_format=3)
    data = hostile.tiff([hostile.TiffPage(300, 200), huge])
    assert imaging.decode(data, MAX_PIXELS).shape == (200, 300, 3)


@pytest.mark.parametrize("sample_format", [2, 3])
def test_32_bit_samples_are_scaled_from_their_range_in_strips(sample_format: int) -> None:
    data = hostile.tiff([hostile.TiffPage(2400, 400, bits=32, sample_format=sample_format)])
    bgr = imaging.decode(data, MAX_PIXELS)
    assert bgr.shape == (333, 2000, 3)
    assert bgr.min() <= 2 and bgr.max() >= 253  # the range spread over 0–255, not clipped


def test_a_large_16_bit_image_converted_in_strips_matches_the_whole_conversion() -> None:
    rng = np.random.default_rng(3)
    ramp = np.tile(np.linspace(0, 65535, 3001), (2003, 1)) + rng.normal(0, 500, (2003, 3001))
    grey16 = np.clip(ramp, 0, 65535).astype(np.uint16)
    bgr = imaging.decode(_png_bytes(Image.fromarray(grey16)), MAX_PIXELS)
    whole = cv2.resize(
        (grey16 / 65535 * 255).astype(np.float32), (bgr.shape[1], bgr.shape[0]), interpolation=cv2.INTER_AREA
    )
    assert np.abs(bgr[..., 0].astype(np.float32) - whole).mean() < 1.0


def test_an_animated_gif_is_read_by_its_first_frame_only() -> None:
    first = Image.new("P", (120, 80), 0)
    first.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    second = Image.new("P", (120, 80), 1)
    second.putpalette(first.getpalette() or [])
    buf = io.BytesIO()
    first.save(buf, format="GIF", save_all=True, append_images=[second] * 50)
    assert tuple(imaging.decode(buf.getvalue(), MAX_PIXELS)[40, 60]) == (0, 0, 255)  # red


def test_png_text_chunks_are_held_to_a_few_mib() -> None:
    with pytest.raises(ImageError) as info:
        imaging.decode(hostile.png_text_bomb(), MAX_PIXELS)
    assert info.value.code is ErrorCode.UNREADABLE_IMAGE and "text chunks" in info.value.message


@pytest.mark.parametrize(
    ("size", "code"),
    [
        ((800, 100), None),  # 8:1, the most elongated a picture of a card may be
        ((810, 100), ErrorCode.IMAGE_TOO_ELONGATED),
        ((100, 2000), ErrorCode.IMAGE_TOO_ELONGATED),
        ((20000, 40), ErrorCode.IMAGE_TOO_SMALL),
    ],
)
def test_absurd_aspect_ratios_are_refused_from_the_header(
    size: tuple[int, int], code: ErrorCode | None
) -> None:
    data = _png_bytes(Image.new("L", size, 200))
    if code is None:
        assert imaging.decode(data, MAX_PIXELS).shape[:2] == (size[1], size[0])
        return
    with pytest.raises(ImageError) as info:
        imaging.decode(data, MAX_PIXELS)
    assert info.value.code is code and "px" in info.value.message


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_undone_as_pillow_does(orientation: int) -> None:
    img = _pattern(320, 200)
    arr = np.asarray(img).copy()
    arr[:40, :60] = (0, 255, 0)  # a green corner tells every turn apart
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _png_bytes_with_exif(Image.fromarray(arr), exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    assert np.array_equal(imaging.decode(data, MAX_PIXELS)[..., ::-1], expected)


def _png_bytes_with_exif(img: Image.Image, exif: Image.Exif) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", exif=exif)
    return buf.getvalue()


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


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((606, 960), (606, 960)),  # a card at the cap: as it is
        ((1212, 1920), (606, 960)),  # a card twice as large: the long-side cap
        ((2000, 2000), (762, 762)),  # a square photo: no more pixels than the card
        ((3000, 4000), (660, 880)),  # 4:3: the same
        ((960, 606), (960, 606)),  # a card on its side keeps its long side
        ((500, 500), (500, 500)),  # small pictures are never enlarged
    ],
)
def test_a_whole_picture_view_never_holds_more_pixels_than_a_card(
    shape: tuple[int, int], expected: tuple[int, int]
) -> None:
    view = imaging.fit_view(np.zeros((*shape, 3), np.uint8), 960)
    assert view.shape[:2] == expected
    assert view.shape[0] * view.shape[1] <= 960 * 606


def _webp_bytes(img: Image.Image, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="WEBP", **kw)
    return buf.getvalue()


def _photo(w: int, h: int) -> Image.Image:
    """A photo-like picture: the two-colour pattern with noise (so lossy coding has work)."""
    noise = np.random.default_rng(3).integers(-20, 21, (h, w, 3))
    return Image.fromarray(np.clip(np.asarray(_pattern(w, h)).astype(int) + noise, 0, 255).astype(np.uint8))


def test_a_12_mp_lossy_webp_photo_fits_the_default_budget_and_keeps_its_colours() -> None:
    data = _webp_bytes(_photo(4000, 3000), quality=80)
    img = Image.open(io.BytesIO(data))
    assert imaging.decode_cost(img, data, img.size) <= imaging.DECODE_BUDGET_BYTES
    bgr = imaging.decode(data, MAX_PIXELS)
    assert bgr.shape == (1500, 2000, 3)  # decoded at 1/2 by OpenCV, as a JPEG would be
    assert bgr[750, 100, 2] > 200 and bgr[750, 100, 0] < 50  # left half red
    assert bgr[750, 1900, 0] > 200 and bgr[750, 1900, 2] < 50  # right half blue


def test_a_lossless_webp_costs_more_and_obeys_the_budget_given() -> None:
    data = _webp_bytes(_pattern(4000, 3000), lossless=True)
    img = Image.open(io.BytesIO(data))
    assert imaging.decode_cost(img, data, img.size) > imaging.DECODE_BUDGET_BYTES
    with pytest.raises(ImageError) as info:
        imaging.decode(data, MAX_PIXELS)
    assert info.value.code is ErrorCode.IMAGE_TOO_LARGE
    assert "OCR_DECODE_BUDGET_MIB" in info.value.message
    assert imaging.decode(data, MAX_PIXELS, 128 * imaging.MiB).shape == (1500, 2000, 3)


def test_a_small_webp_is_decoded_at_full_size_and_its_exif_orientation_honoured() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    bgr = imaging.decode(_webp_bytes(_pattern(320, 200), quality=95, exif=exif), MAX_PIXELS)
    assert bgr.shape == (320, 200, 3)  # portrait, once: OpenCV's own rotation is off
    assert bgr[10, 100, 2] > 200  # red (the old left half) is now on top


def test_webp_with_alpha_or_frames_is_read_by_pillow_over_white_first_frame() -> None:
    rgba = Image.new("RGBA", (320, 200), (0, 0, 255, 0))
    rgba.paste((255, 0, 0, 255), (0, 0, 160, 200))
    bgr = imaging.decode(_webp_bytes(rgba, lossless=True), MAX_PIXELS)
    assert tuple(bgr[100, 40]) == (0, 0, 255) and tuple(bgr[100, 300]) == (255, 255, 255)
    first, second = _pattern(320, 200), Image.new("RGB", (320, 200), (0, 255, 0))
    animated = _webp_bytes(first, save_all=True, append_images=[second] * 5, lossless=True)
    bgr = imaging.decode(animated, MAX_PIXELS)
    assert tuple(bgr[100, 40]) == (0, 0, 255) and tuple(bgr[100, 300]) == (255, 0, 0)
