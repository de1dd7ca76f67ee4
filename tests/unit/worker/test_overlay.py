"""Text laid over the card (a KYC watermark): told apart from the print (`ocr_job.overlay`)
and read through (`pipeline._read_view`), on generated cards; the real engine where the
reading is the point."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ocr_job import overlay, pipeline
from ocr_job.config import EngineName, JobConfig
from ocr_job.engines import Engine, load_engine
from ocr_job.engines.base import OcrResult, TextBox
from ocr_job.records import ResultRecord
from ocr_job.storage.base import InputItem
from ocr_job.synth import make_sample

pytestmark = pytest.mark.timeout(900)


def _bgr(key: str, watermark: bool, side: str = "front", style: str = "classic") -> np.ndarray:
    return make_sample(key, side, "clean", 1000, style, watermark).bgr


def test_the_print_alone_is_the_same_with_a_watermark_over_it_or_not() -> None:
    """Where the stamp changed the picture, the print alone barely changes; the card's ink
    (its values, left of the portrait, which turns to paper as any wide dark area does)
    stays ink."""
    for key in ("1", "2", "4", "6"):
        plain, marked = _bgr(key, False), _bgr(key, True)
        stamped = np.abs(marked.astype(int) - plain.astype(int)).max(axis=2) > 25
        assert stamped.mean() > 0.02
        bare_plain, bare_marked = overlay.print_only(plain), overlay.print_only(marked)
        moved = np.abs(bare_marked[..., 0].astype(int) - bare_plain[..., 0].astype(int)) > 60
        assert moved[stamped].mean() < 0.05
        values = slice(0, plain.shape[1] * 6 // 10)
        ink = cv2.cvtColor(plain, cv2.COLOR_BGR2GRAY)[:, values] < 60
        assert (bare_plain[:, values, 0][ink] < 100).mean() > 0.95


def _box(text: str, points: list[tuple[float, float]]) -> TextBox:
    a, b, c, d = points
    return TextBox(text, 0.99, (a, b, c, d))


def _flat(x: float, y: float, w: float, h: float = 40) -> list[tuple[float, float]]:
    return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]


def _card(lines: list[tuple[list[tuple[float, float]], int]]) -> np.ndarray:
    """Paper at 235 with a bar of strokes at each of `lines`' places, at its grey level."""
    card = np.full((606, 960, 3), 235, np.uint8)
    for points, grey in lines:
        (x0, y0), (x1, y1) = points[0], points[2]
        for x in range(int(x0) + 4, int(x1) - 8, 14):
            cv2.rectangle(card, (x, int(y0) + 8), (x + 5, int(y1) - 8), (grey, grey, grey), -1)
    return card


def test_text_off_the_cards_lines_or_lighter_than_its_ink_is_laid_over_it() -> None:
    name, number = _flat(60, 70, 300), _flat(340, 505, 460)
    printed = [_box("姓名张三", name), _box("11010119900102003X", number)]
    card = _card([(name, 30), (number, 30)])
    assert overlay.laid_over(card, printed) is None
    slanted = [(500.0, 300.0), (780.0, 170.0), (800.0, 210.0), (520.0, 340.0)]  # 25° off
    assert overlay.laid_over(card, [*printed, _box("仅供开户", slanted)]) == "slanted"
    assert overlay.off_the_lines([*printed, _box("仅供开户", slanted)]) == {2}
    assert overlay.laid_over(card, [*printed, _box("仅", slanted)]) is None  # one character: noise
    stars = [(178.0, 108.0), (221.0, 101.0), (234.0, 176.0), (191.0, 183.0)]  # the emblem's
    assert overlay.laid_over(card, [*printed, _box("★★", stars), _box("中华", stars)]) is None
    pale = _flat(420, 300, 300)
    on_paper = _card([(name, 30), (number, 30), (pale, 200)])
    assert overlay.laid_over(on_paper, [*printed, _box("他用无效", pale)]) == "translucent"


class _Asked:
    """Reads every picture alike, as `boxes`, unless it is the print alone (no colour left
    and white paper): then as `bare`."""

    name = "stand-in"

    def __init__(self, boxes: list[TextBox], bare: list[TextBox]) -> None:
        self.boxes, self.bare, self.asked = boxes, bare, 0

    def recognise(self, image: np.ndarray) -> OcrResult:
        self.asked += 1
        alone = bool((image[..., 0] == image[..., 2]).all() and image.max() == 255)
        return OcrResult(boxes=list(self.bare if alone else self.boxes))


def _front(name: str, extra: list[TextBox]) -> list[TextBox]:
    return [
        _box(f"姓名{name}", _flat(60, 70, 300)),
        _box("性别男", _flat(60, 145, 120)),
        _box("民族汉", _flat(300, 145, 120)),
        _box("出生1990年1月2日", _flat(60, 220, 300)),
        _box("住址北京市东城区景山前街4号", _flat(60, 290, 500)),
        _box("公民身份号码", _flat(60, 505, 200)),
        _box("110101199001020037", _flat(340, 505, 460)),
        *extra,
    ]


SLANT = _box("他用无效", [(640.0, 130.0), (900.0, 10.0), (915.0, 45.0), (655.0, 165.0)])
CARD = _card([(list(b.points), 30) for b in _front("张三", [])])


def test_a_card_with_nothing_laid_over_it_is_read_once() -> None:
    engine = _Asked(_front("张三", []), [])
    read = pipeline._read_view(CARD, engine, {})  # type: ignore[arg-type]
    assert engine.asked == 1 and read.reading.fields.name == "张三"


def test_a_value_the_watermark_was_read_into_is_read_from_the_print_alone() -> None:
    engine = _Asked(_front("罗心明他用", [SLANT]), _front("罗心明", []))
    read = pipeline._read_view(CARD, engine, {})  # type: ignore[arg-type]
    assert engine.asked == 2 and read.reading.fields.name == "罗心明"
    assert "watermark" in {w.code for w in read.reading.warnings}


#: A line read on blank paper, level with the card's: lighter than any print.
PALE = _box("他用无效", _flat(640, 10, 250))


@pytest.mark.parametrize(
    ("over", "view", "alone", "name"),
    [
        (SLANT, "罗他明", "罗心明", "罗心明"),  # text surely laid over: the print alone is right
        (PALE, "罗心明他用", "罗心明", "罗心明"),  # the overlay's characters around the print's
        (PALE, "孙雪春", "抄当甘", None),  # maybe print lightened by blur, read worse alone
    ],
)
def test_a_value_the_print_alone_reads_otherwise_stands_only_when_the_overlay_explains_it(
    over: TextBox, view: str, alone: str, name: str | None
) -> None:
    engine = _Asked(_front(view, [over]), _front(alone, []))
    reading = pipeline._read_view(CARD, engine, {}).reading  # type: ignore[arg-type]
    assert reading.fields.name == name and reading.fields.address == "北京市东城区景山前街4号"
    warned = {(w.code, w.field) for w in reading.warnings}
    assert (
        ("value_low_confidence", "name") in warned if name is None else "watermark" in {w[0] for w in warned}
    )


def test_a_print_alone_that_reads_less_leaves_the_values_it_reads_otherwise_empty() -> None:
    """Blur or glare fades print that the print alone then loses: the view's reading
    stands, but not a value the print alone reads otherwise."""
    bare = [b for b in _front("罗心明", []) if not b.text.startswith("住址")]
    engine = _Asked(_front("罗心明他用", [SLANT]), bare)
    reading = pipeline._read_view(CARD, engine, {}).reading  # type: ignore[arg-type]
    assert reading.fields.name is None and reading.fields.address == "北京市东城区景山前街4号"
    assert reading.fields.id_number == "110101199001020037"
    assert ("value_low_confidence", "name") in {(w.code, w.field) for w in reading.warnings}


#: A line of the stamp's beside the name, at 13° off the card's: the parser takes it for
#: the name's end (潘荣 and 入网使用, read 潘荣入网使用).
BESIDE = _box("入网使用", [(380.0, 110.0), (600.0, 60.0), (606.0, 86.0), (386.0, 136.0)])


def test_a_value_read_with_a_line_across_the_cards_is_left_empty() -> None:
    """The print alone read less (its address faded, its name doubted): the view's reading
    stands, but not its name, which holds a line lying off the card's."""
    bare = [b for b in _front("潘荣", []) if not b.text.startswith(("住址", "姓名"))]
    engine = _Asked(_front("潘荣", [BESIDE]), bare)
    seen = pipeline._read_view(CARD, engine, {})  # type: ignore[arg-type]
    reading = seen.reading
    assert reading.fields.name is None and reading.fields.address == "北京市东城区景山前街4号"
    assert ("value_low_confidence", "name") in {(w.code, w.field) for w in reading.warnings}
    first = pipeline._recognise_and_parse(CARD, _Asked(_front("潘荣", [BESIDE]), []), {})
    assert first.fields.name == "潘荣入网使用"  # what the view alone reads


@pytest.fixture(scope="module")
def engine() -> Engine:
    return load_engine(EngineName.ONNX)


def _record(engine: Engine, jpeg: bytes) -> ResultRecord:
    config = JobConfig(source="src", output="out")
    return pipeline.process(pipeline.Fetched(InputItem("card.jpg", 1, "e"), data=jpeg), engine, config)


#: Generated cards (`ocr-job samples --watermark`, seed 5) whose watermark the recogniser read
#: into a value before the print was read alone: 罗心明再次复印无效 (black), an address ending
#: …3204印无 (red), 蒋静他用无效共实名认 (grey), 段荣涵本次贷款 (blue), 登付萍祎职登记使用 (red).
STAMPED = [
    ("5:72", "front", "classic"),
    ("5:24", "front", "classic"),
    ("5:60", "front", "compact"),
    ("5:174", "front", "realdesign"),
    ("5:186", "front", "wide"),
]


#: Generated watermarked cards whose stamp's characters were read into the name beside it:
#: by the name's place read with the room after it (秦雪共社保, 赵永强机), by the second
#: opinion's wider cut (覃雨若用), with a stamp's line the parser joined to the name
#: (潘荣入网使用: the print alone read 潘栄, so the name is left empty).
BESIDE_NAMES = [
    ("5:157", "photo", "compact", True),
    ("5:236", "hard", "wide", True),
    ("5:38", "hard", "compact", True),
    ("6:50", "hard", "slim", False),
]


@pytest.mark.parametrize(("key", "level", "style", "read"), BESIDE_NAMES)
def test_a_stamps_characters_beside_a_name_are_not_read_into_it(
    engine: Engine, key: str, level: str, style: str, read: bool
) -> None:
    sample = make_sample(key, "front", level, 1000, style, watermark=True)
    record = _record(engine, sample.jpeg())
    assert record.fields is not None
    if read:
        assert record.fields.name == sample.fields.name
    else:
        assert record.fields.name is None
        assert ("value_low_confidence", "name") in {(w.code, w.field) for w in record.warnings}


@pytest.mark.parametrize(("key", "side", "style"), STAMPED)
def test_a_watermarked_copy_is_read_as_the_card_under_it(
    engine: Engine, key: str, side: str, style: str
) -> None:
    sample = make_sample(key, side, "clean", 1000, style, watermark=True)
    record = _record(engine, sample.jpeg())
    assert record.fields is not None
    assert record.fields.model_dump() == sample.fields.model_dump()
    assert "watermark" in {w.code for w in record.warnings}
