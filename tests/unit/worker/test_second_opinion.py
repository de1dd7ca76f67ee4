"""The pipeline's second opinion on a doubtful name, with stand-in engines (no model):
when it is asked, what it changes, and that its failure costs nothing but itself."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import cv2
import numpy as np
import pytest

from ocr_job import pipeline
from ocr_job.engines.base import OcrResult, Reread, TextBox

W, H = 960, 606


def _box(text: str, score: float, x: float, y: float, w: float = 300, h: float = 40) -> TextBox:
    return TextBox(text, score, ((x, y), (x + w, y), (x + w, y + h), (x, y + h)))


def _front(name_line: str, score: float) -> list[TextBox]:
    """The boxes of a front whose name line reads `name_line` at `score`."""
    return [
        _box(name_line, score, 60, 70),
        _box("性别男", 1.0, 60, 145, 120),
        _box("民族汉", 1.0, 300, 145, 120),
        _box("出生1990年1月2日", 1.0, 60, 220),
        _box("住址北京市东城区景山前街4号", 1.0, 60, 290, 500),
        _box("公民身份号码", 1.0, 60, 505, 200),
        _box("11010119900102003X", 1.0, 340, 505, 460),
    ]


class _Engine:
    name = "stand-in"

    def __init__(self, boxes: list[TextBox], again: Any) -> None:
        self.boxes, self.again, self.asked = boxes, again, 0

    def recognise(self, image: np.ndarray) -> OcrResult:
        return OcrResult(boxes=self.boxes)

    def reread(
        self, image: np.ndarray, box: TextBox, same: Any = str, also: Any = (), margins: Any = ()
    ) -> tuple[str, float] | None:
        self.asked += 1
        self.margins, self.also = margins, also
        if isinstance(self.again, BaseException):
            raise self.again
        return self.again


CARD = np.zeros((H, W, 3), np.uint8)


def test_a_sure_name_is_not_read_again() -> None:
    engine = _Engine(_front("姓名张三", 0.999), ("姓名李四", 0.99))
    reading = pipeline._recognise_and_parse(CARD, engine, {})
    assert engine.asked == 0 and reading.fields.name == "张三"


def test_a_doubtful_name_takes_the_second_opinions_text_and_score() -> None:
    engine = _Engine(_front("姓名张三", 0.95), ("姓名张叁", 0.97))
    timings: dict[str, float] = {}
    reading = pipeline._recognise_and_parse(CARD, engine, timings)
    assert engine.asked == 1 and "reread" in timings
    assert reading.fields.name == "张叁" and reading.confidence["name"] == 0.97
    assert engine.margins == pipeline.NAME_MARGINS  # the name is read at two cuts


def test_only_a_name_is_read_again_at_a_widened_cut() -> None:
    """A doubtful address line is read again at its box alone: widened, it would take in
    the lines above and below it."""
    boxes = _front("姓名张三", 0.999)
    boxes[4] = _box("住址北京市东城区景山前街4号", 0.95, 60, 290, 500)
    engine = _Engine(boxes, None)
    pipeline._recognise_and_parse(CARD, engine, {})
    assert engine.asked == 1 and engine.margins == ()


def test_an_address_line_offered_known_places_is_read_again_at_its_box_alone() -> None:
    """沪定县 (read sure) is no county: the line is read again with 泸定县 and 康定县 offered,
    at its box alone, as every address line."""
    boxes = _front("姓名张三", 0.999)
    boxes[3] = _box("出生1940年8月21日", 1.0, 60, 220)
    boxes[4] = _box("住址四川省甘孜藏族自治州沪定县", 0.999, 60, 290, 500)
    boxes[6] = _box("513322194008214763", 1.0, 340, 505, 460)
    boxes.append(_box("杨庄镇西关村二组", 0.999, 127, 335, 266))
    engine = _Engine(boxes, None)
    pipeline._recognise_and_parse(CARD, engine, {})
    assert engine.asked == 1 and engine.margins == ()
    assert {"住址四川省甘孜藏族自治州泸定县", "住址四川省甘孜藏族自治州康定县"} == set(engine.also)


def test_a_doubtful_second_opinion_leaves_the_name_empty_with_a_warning() -> None:
    engine = _Engine(_front("姓名张三", 0.95), ("姓名张三", 0.6))
    reading = pipeline._recognise_and_parse(CARD, engine, {})
    assert reading.fields.name is None
    assert ("value_low_confidence", "name") in {(w.code, w.field) for w in reading.warnings}


def test_a_name_sure_on_the_line_but_not_on_a_character_is_read_again() -> None:
    """The line's score is a mean: one character the recogniser hesitated over hides in it.
    The second opinion's characters' scores then decide: the recognisers that read it so
    were not sure of one either, so the name is left empty."""
    doubtful = TextBox("姓名张赞", 0.999, ((60, 70), (360, 70), (360, 110), (60, 110)), chars=(1, 1, 1, 0.6))
    boxes = [doubtful, *_front("姓名张三", 0.999)[1:]]
    engine = _Engine(boxes, Reread("姓名张赞", 0.99, (1, 1, 1, 0.7)))
    reading = pipeline._recognise_and_parse(CARD, engine, {})
    assert engine.asked == 1
    assert reading.fields.name is None
    assert ("value_low_confidence", "name") in {(w.code, w.field) for w in reading.warnings}
    sure = _Engine(boxes, Reread("姓名张赞", 0.99, (1, 1, 1, 0.95)))
    assert pipeline._recognise_and_parse(CARD, sure, {}).fields.name == "张赞"


def test_a_value_one_view_doubted_is_not_taken_from_another() -> None:
    """The located card left the name empty as doubtful; the whole picture read it with
    less doubt. A view that is surer of a rare character is not more right."""
    doubted = pipeline._recognise_and_parse(CARD, _Engine(_front("姓名张三", 0.5), None), {})
    whole = pipeline._recognise_and_parse(CARD, _Engine(_front("姓名张三", 0.999), None), {})
    assert doubted.fields.name is None and whole.fields.name == "张三"
    kept = pipeline._doubted_elsewhere(whole, [doubted, whole])
    assert kept.fields.name is None and "name" not in kept.confidence
    assert kept.fields.id_number == whole.fields.id_number
    assert ("value_low_confidence", "name") in {(w.code, w.field) for w in kept.warnings}
    assert pipeline._doubted_elsewhere(whole, [whole]) is whole


class _Views(_Engine):
    """A stand-in engine that reads each view in turn as the next of `views`."""

    def __init__(self, views: list[list[TextBox]]) -> None:
        super().__init__([], None)
        self.views = list(views)

    def recognise(self, image: np.ndarray) -> OcrResult:
        return OcrResult(boxes=self.views.pop(0))


def test_a_name_the_located_card_read_stands_against_the_whole_pictures_doubt() -> None:
    """The located card is the largest view of the card's text; the whole picture, read
    next for a missing field, prints it smaller. Its doubt does not empty a name the
    located card read without doubt; a name read on the whole picture, which the located
    card doubted, is still dropped."""
    no_address = [b for b in _front("姓名张三", 0.999) if not b.text.startswith("住址")]
    located, whole = np.zeros_like(CARD), np.zeros_like(CARD)  # dark as print: nothing laid over
    engine = _Views([no_address, _front("姓名张三", 0.5)])
    read = pipeline._best_read([located, whole], engine, {}, located)
    assert read is not None and read.located and read.reading.fields.name == "张三"
    doubted = [b for b in _front("姓名张三", 0.5) if not b.text.startswith("住址")]
    engine = _Views([doubted, _front("姓名张三", 0.999)])
    read = pipeline._best_read([located, whole], engine, {}, located)
    assert read is not None and not read.located and read.reading.fields.name is None


def test_a_failing_second_opinion_leaves_the_first_reading(caplog: pytest.LogCaptureFixture) -> None:
    engine = _Engine(_front("姓名张三", 0.95), RuntimeError("model file unreadable"))
    with caplog.at_level(logging.WARNING):
        reading = pipeline._recognise_and_parse(CARD, engine, {})
    assert reading.fields.name == "张三" and engine.asked == 1
    assert "second opinion failed (RuntimeError)" in caplog.text
    assert "张三" not in caplog.text


def _wrapped_deadline() -> RuntimeError:
    """The deadline as rapidocr hands it on: its own error, raised from the TimeoutError."""
    try:
        raise TimeoutError
    except TimeoutError as exc:
        wrapped = RuntimeError("the model run failed")
        wrapped.__cause__ = exc
        return wrapped


@pytest.mark.parametrize("deadline", [TimeoutError(), _wrapped_deadline()], ids=["bare", "wrapped"])
def test_the_inputs_deadline_is_not_swallowed(deadline: BaseException) -> None:
    engine = _Engine(_front("姓名张三", 0.95), deadline)
    with pytest.raises(type(deadline)):
        pipeline._recognise_and_parse(CARD, engine, {})


# -- places the parser asks to be read again (issue 14)


class _Looking(_Engine):
    """A stand-in engine that also reads places again: `lines` are its answers in turn,
    then no text (the parser asks for the sex's place first, then the address's)."""

    def __init__(self, boxes: list[TextBox], lines: list[Any]) -> None:
        super().__init__(boxes, None)
        self.lines, self.places = list(lines), []  # type: ignore[var-annotated]

    def read_line(self, image: np.ndarray, quad: Any) -> tuple[str, float] | None:
        self.places.append(quad)
        answer = self.lines.pop(0) if self.lines else ("", 0.0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def _front_without_sex() -> list[TextBox]:
    return [b for b in _front("姓名张三", 0.999) if b.text != "性别男"] + [_box("性别", 1.0, 60, 145, 80)]


def test_a_value_with_no_box_is_read_where_the_layout_puts_it() -> None:
    engine = _Looking(_front_without_sex(), [("男", 0.99)])
    timings: dict[str, float] = {}
    reading = pipeline._recognise_and_parse(CARD, engine, timings)
    assert reading.fields.sex == "男" and "look_again" in timings
    (x0, y0), (x1, _), (_, y1), _ = engine.places[0]  # right of the label, on its line
    assert 139 < x0 < 150 and x1 < 301 and y0 < 165 < y1


def test_a_place_seen_empty_leaves_the_field_missing_with_its_warning() -> None:
    engine = _Looking(_front_without_sex(), [("", 0.0)])
    reading = pipeline._recognise_and_parse(CARD, engine, {})
    assert reading.fields.sex is None
    assert ("field_missing", "sex") in {(w.code, w.field) for w in reading.warnings}


def test_a_failing_look_leaves_the_first_reading(caplog: pytest.LogCaptureFixture) -> None:
    engine = _Looking(_front_without_sex(), [RuntimeError("crop failed")])
    with caplog.at_level(logging.WARNING):
        reading = pipeline._recognise_and_parse(CARD, engine, {})
    assert reading.fields.name == "张三" and reading.fields.sex is None
    assert "reading a place again failed (RuntimeError)" in caplog.text


@pytest.mark.parametrize(
    ("read", "name"),
    [
        (("姓名张三一", 0.99), "张三一"),  # a last character the detector's box left out
        (("姓名张三", 0.99), "张三"),  # nothing after it
        (("姓名张三8", 0.99), "张三"),  # the pattern after it, read as a digit
        (("姓名张三一", 0.85), "张三"),  # more, read with doubt: the box's reading stands
        (("姓名张", 0.99), "张三"),  # less: the box's reading stands
        (("令姓名张三", 0.99), "张三"),  # more before the label: no name begins with it
    ],
)
def test_a_names_last_box_is_read_again_with_the_place_after_it(read: tuple[str, float], name: str) -> None:
    """The name's last box and the place right of it are read as one line, last of the
    places: that reading replaces the box only when it is the box's text and more of the
    card's script, read surely."""
    engine = _NameEnd(_front("姓名张三", 0.999), read)
    reading = pipeline._recognise_and_parse(CARD, engine, {})
    assert reading.fields.name == name
    (x0, y0), (x1, _), (_, y1), _ = engine.places[-1]  # the box, and the place after it
    assert x0 <= 61 and 360 < x1 < 470 and y0 < 90 < y1


@pytest.mark.parametrize(
    ("look", "second", "lead", "name"),
    [
        (("姓名钟䶮颖", 0.95), None, 0.86, None),  # its place reads otherwise: in dispute, empty
        (("姓名钟䶮颖", 0.95), None, 1.0, "钟龚颖"),  # 龚 read surely: it stands
        (("姓名钟䶮颖", 0.95), ("姓名钟䶮颖", 0.99), 0.86, "钟䶮颖"),  # the second opinion agrees with it
        (("姓名钟䶮颖", 0.85), None, 0.86, "钟龚颖"),  # read there with doubt: no dispute
        (("姓名钟龚", 0.95), None, 0.86, "钟龚颖"),  # shorter: the place was cut, no dispute
    ],
)
def test_a_name_read_otherwise_with_its_place_is_in_dispute(
    look: tuple[str, float], second: tuple[str, float] | None, lead: float, name: str | None
) -> None:
    """钟䶮颖 read 钟龚颖 in its box (龚 at 0.86), 钟䶮颖 at 0.90 with the room beside it: two
    sure readings of the same glyphs disagree, so the second opinion is asked, and unless
    it reads as the place did, the characters in dispute read with a lead under
    SURE_IN_DISPUTE are unsure and the name empty (于玉燚, its place read 于玉炎 at 0.90 and
    燚 at 1.0 in its box: kept)."""
    boxes = _front("姓名钟龚颖", 0.999)
    boxes[0] = dataclasses.replace(boxes[0], chars=(1.0, 1.0, 1.0, lead, 1.0))
    engine = _NameEnd(boxes, look)
    engine.again = second
    reading = pipeline._recognise_and_parse(CARD, engine, {})
    assert reading.fields.name == name
    if look[1] >= 0.9 and len(look[0]) == 5:  # in dispute: the second opinion is asked
        assert engine.asked == 1
    if name is None:
        assert ("value_low_confidence", "name") in {(w.code, w.field) for w in reading.warnings}


def _back(authority: TextBox, validity: TextBox) -> list[TextBox]:
    """The boxes of a back: the titles, the labels, and these two values."""
    return [
        _box("中华人民共和国", 1.0, 380, 80, 520, 60),
        _box("居民身份证", 1.0, 330, 170, 560, 70),
        _box("签发机关", 1.0, 220, 455, 130),
        authority,
        _box("有效期限", 1.0, 220, 530, 130),
        validity,
    ]


def test_an_authority_read_with_the_room_before_it_keeps_its_first_character() -> None:
    """`南县公安局` read again with the room after its label reads `贵南县公安局`: the box
    takes it; a reading with the label's characters before it is not taken."""
    boxes = _back(_box("南县公安局", 1.0, 410, 455, 170), _box("2022.04.30-2042.04.30", 1.0, 400, 530, 360))
    for read, authority in ((("贵南县公安局", 0.99), "贵南县公安局"), (("关南县公安局", 0.99), "南县公安局")):
        engine = _Looking(boxes, [read])
        reading = pipeline._recognise_and_parse(CARD, engine, {})
        assert reading.fields.issuing_authority == authority
        (x0, _), (x1, _), _, _ = engine.places[0]
        assert 350 < x0 < 410 and x1 == pytest.approx(580, abs=1)


@pytest.mark.parametrize(
    ("box", "read", "period"),
    [
        ("2020.1", ("2020.11.17-长期", 0.99), ("2020-11-17", "长期")),  # ended early
        ("1.14-2035.11.14", ("有效期限2025.11.14-2035.11.14", 0.99), ("2025-11-14", "2035-11-14")),
        ("2020.1", ("2020.1117期", 0.99), (None, None)),  # no period: the box stands
        ("2020.1", ("2020.11.17-长期", 0.75), (None, None)),  # read with doubt
    ],
)
def test_a_validity_read_in_part_is_read_again_with_the_room_around_it(
    box: str, read: tuple[str, float], period: tuple[str | None, str | None]
) -> None:
    """A validity period's one box read in part is read again with the room left of it
    (after its label) and right of it: the reading replaces the box when it holds the
    box's text and parses as a period, read surely."""
    boxes = _back(_box("玛纳斯县公安局", 1.0, 400, 455, 240), _box(box, 1.0, 420, 530, 16 * len(box)))
    engine = _Looking(boxes, [read])
    reading = pipeline._recognise_and_parse(CARD, engine, {})
    assert (reading.fields.valid_from, reading.fields.valid_to) == period
    (x0, _), (x1, _), _, _ = engine.places[0]
    assert 350 < x0 < 420 and x1 > 420 + 16 * len(box) + 30


def test_a_lone_character_read_again_is_measured_where_its_reading_lies() -> None:
    """`号` at the start of a wide place (the next line's, after …154): its strokes are a
    small part of the whole place, but all of where a one-character reading lies, so it
    is text, not the card's background."""
    boxes = _front("姓名张三", 0.999)
    card = _printed(boxes, DARK, 1)
    for dx in (0, 14):  # one character's strokes (under 1% of the place), a line high
        cv2.line(card, (70 + dx, 345), (74 + dx, 372), DARK, 4)
    quad = ((60.0, 340.0), (950.0, 340.0), (950.0, 378.0), (60.0, 378.0))
    engine = _Looking(boxes, [("号", 0.99)])
    _, upright, looked, _ = pipeline._look_again(card, engine, list(boxes), list(boxes), {"address": quad})
    assert looked == {"address"} and [b.text for b in upright[len(boxes) :]] == ["号"]


class _NameEnd(_Looking):
    """Reads `read` at the name's place (the top line), nothing elsewhere."""

    def __init__(self, boxes: list[TextBox], read: tuple[str, float]) -> None:
        super().__init__(boxes, [])
        self.read = read

    def read_line(self, image: np.ndarray, quad: Any) -> tuple[str, float] | None:
        self.places.append(quad)
        return self.read if quad[0][1] < 120 else ("", 0.0)


def test_places_map_back_onto_a_card_turned_upside_down() -> None:
    """The engine's boxes of a card lying 180° turned: the place asked for (in upright
    coordinates) is handed to the engine in the picture's own, turned with it."""

    def turned(box: TextBox) -> TextBox:
        p = [(W - x, H - y) for x, y in box.points]
        return TextBox(box.text, box.score, (p[2], p[3], p[0], p[1]), angle=180)

    engine = _Looking([turned(b) for b in _front_without_sex()], [("男", 0.99)])
    reading = pipeline._recognise_and_parse(CARD, engine, {})
    assert reading.fields.sex == "男"
    (x0, y0), (x1, _), (_, y1), _ = engine.places[0]
    assert W - 150 < x0 <= W - 139 and x1 >= W - 300 and y0 > H - 165 > y1  # reading order kept


def _printed(boxes: list[TextBox], place_ink: tuple[int, int, int], width: int) -> np.ndarray:
    """A pale card with dark strokes 4 px wide in every box, and lines of `place_ink`,
    `width` px wide, where the sex's value is printed (right of its label)."""
    card = np.full((H, W, 3), 236, np.uint8)
    for box in boxes:
        (x0, y0), _, (x1, y1), _ = box.points
        for x in range(int(x0) + 4, int(x1) - 4, 14):
            cv2.line(card, (x, int(y0) + 6), (x + 6, int(y1) - 6), (30, 30, 34), 4)
    for x in range(150, 290, 12):  # a guilloche's curl, or a value's strokes
        cv2.line(card, (x, 150), (x + 8, 180), place_ink, width)
    return card


PALE = (200, 180, 230)  # a guilloche's pink (BGR)
FADED = (150, 150, 150)  # strokes under glare
DARK = (30, 30, 34)


@pytest.mark.parametrize(
    ("ink", "width", "read"), [(PALE, 1, None), (PALE, 2, None), (FADED, 4, "男"), (DARK, 4, "男")]
)
def test_a_place_whose_strokes_are_far_fainter_than_the_cards_text_holds_none(
    ink: tuple[int, int, int], width: int, read: str | None
) -> None:
    """What the engine reads in a place asked for counts only when it is printed like text:
    a pale guilloche there read as "888" at 0.985 was appended to an address; a sex faded
    by glare is still read (the sex is taken from its vocabulary alone)."""
    boxes = _front_without_sex()
    engine = _Looking(boxes, [("男", 0.99)])
    reading = pipeline._recognise_and_parse(_printed(boxes, ink, width), engine, {})
    assert engine.places and reading.fields.sex == read


@pytest.mark.parametrize(
    ("ink", "width", "vocabulary", "held"),
    [
        (PALE, 2, True, "blank"),
        (PALE, 2, False, "blank"),
        (FADED, 4, True, "text"),
        (FADED, 4, False, "unread"),  # an address's end under glare: not made out
        (DARK, 4, False, "text"),
    ],
)
def test_faded_strokes_are_a_value_only_where_the_vocabulary_checks_it(
    ink: tuple[int, int, int], width: int, vocabulary: bool, held: str
) -> None:
    boxes = _front_without_sex()
    card = _printed(boxes, ink, width)
    place = ((145.0, 145.0), (300.0, 145.0), (300.0, 185.0), (145.0, 185.0))
    assert pipeline._held(card, place, ("男", 0.99), boxes, vocabulary) == held
    assert pipeline._held(card, place, ("男", 0.85), boxes, vocabulary) == (
        "blank" if held == "blank" else "unread"
    )


@pytest.mark.parametrize("read", [("www", 0.55), ("", 0.0)])
@pytest.mark.parametrize(
    ("paper", "highlight", "remains", "held"),
    [
        (220, False, False, "blank"),
        (220, True, True, "unread"),
        (228, True, True, "unread"),  # the whole picture's view of a card: its paper lit brighter
        (220, True, False, "blank"),  # a highlight over blank paper: nothing was printed there
        (248, True, True, "blank"),  # a white copy: no highlight stands out from its paper
    ],
)
def test_a_place_under_a_highlight_is_not_taken_for_blank(
    read: tuple[str, float], paper: int, highlight: bool, remains: bool, held: str
) -> None:
    """Glare fades print into the paper: an address's last line under it (05, 号) read
    "www" at 0.55, or nothing, and the address was reported without it. A place whose
    start a highlight lies over, with strokes still standing out there, is "unread"; a
    highlight over blank paper (beside a complete address) leaves it "blank"; on a white
    copy's paper, there is no highlight to tell."""
    boxes = _front_without_sex()
    card = _printed(boxes, PALE, 1)
    card[card == 236] = paper
    if highlight:
        card[140:190, 140:230] = 255
    if remains:  # what glare left of the print: broken grey strokes
        for x in range(150, 225, 12):
            cv2.line(card, (x, 152), (x + 6, 166), FADED, 3)
    place = ((145.0, 145.0), (300.0, 145.0), (300.0, 185.0), (145.0, 185.0))
    start = ((145.0, 145.0), (215.0, 145.0), (215.0, 185.0), (145.0, 185.0))
    assert pipeline._held(card, place, read, boxes, vocabulary=False, start=start) == held


def _digits_scored(text: str, low: float) -> tuple[float, ...]:
    """A character score for each of `text`'s: `low` for the last digit of its first year
    (2014's 4 read as 1), 1.0 for the rest."""
    at = text.index("20") + 3
    return tuple(low if i == at else 1.0 for i in range(len(text)))


@pytest.mark.parametrize(
    ("period", "again", "read"),
    [
        ("2011.06.08-长期", 0.63, (None, "长期")),  # no length checks the start: left empty
        ("2011.06.08-长期", 0.98, ("2011-06-08", "长期")),  # the second opinion is sure of it
        # no recogniser read it so: each digit at the joint 0.64, and 长期 too low to stand alone
        ("2011.06.08-长期", None, (None, None)),
        ("2011.06.08-2031.06.08", 0.63, ("2011-06-08", "2031-06-08")),  # its length checks it
    ],
)
def test_a_validity_digit_read_with_doubt_is_asked_again_and_left_empty_when_unchecked(
    period: str, again: float | None, read: tuple[str | None, str | None]
) -> None:
    """A period without end (长期) with a digit under CHAR_SECOND_OPINION_BELOW is read again
    by the second opinion; its start with a digit still doubtful (2014 read 2011: its 1 at
    0.52, then 0.63) is left empty with a warning, 长期 stands. A period with an end is
    checked by its length, and not read again."""
    validity = dataclasses.replace(_box(period, 0.93, 400, 530, 360), chars=_digits_scored(period, 0.52))
    boxes = _back(_box("普安县公安局", 1.0, 400, 455, 200), validity)
    chars = _digits_scored(period, again) if again is not None else ()
    engine = _Engine(boxes, Reread(period, 0.99 if chars else 0.64, chars))
    reading = pipeline._recognise_and_parse(CARD, engine, {})
    assert engine.asked == ("长期" in period)
    assert (reading.fields.valid_from, reading.fields.valid_to) == read
    if read[0] is None:
        assert ("value_low_confidence", "valid_from") in {(w.code, w.field) for w in reading.warnings}


def test_a_validity_digit_over_the_floor_is_not_asked_again() -> None:
    """A digit of a period without end at 0.82 (a 7 under glare) stands: read again, the
    joint reading had made 17 into 1/ and the period was lost."""
    period = "2012.11.17-长期"
    validity = dataclasses.replace(_box(period, 0.99, 400, 530, 360), chars=_digits_scored(period, 0.82))
    boxes = _back(_box("沙雅县公安局", 1.0, 400, 455, 200), validity)
    engine = _Engine(boxes, Reread("2012.11.1/-长期", 0.54, ()))
    reading = pipeline._recognise_and_parse(CARD, engine, {})
    assert engine.asked == 0
    assert (reading.fields.valid_from, reading.fields.valid_to) == ("2012-11-17", "长期")


def _stamped(boxes: list[TextBox], beside: tuple[int, int, int]) -> np.ndarray:
    """A pale card printed in every box (`_printed`), with strokes of `beside` right of the
    name's box, in the room two characters take (a stamp laid over the copy, or print)."""
    card = _printed(boxes, DARK, 4)
    for x in range(366, 500, 14):
        cv2.line(card, (x, 76), (x + 6, 104), beside, 4)
    return card


STAMP = (190, 190, 200)  # a grey stamp at a quarter of its colour over the paper
LIGHTER = (100, 100, 100)  # print lighter than the box's: a character the box left out, blurred


@pytest.mark.parametrize(("beside", "name"), [(DARK, "张三李四"), (LIGHTER, "张三李四"), (STAMP, "张三")])
def test_characters_read_beside_a_name_are_taken_only_where_printed_as_it_is(
    beside: tuple[int, int, int], name: str
) -> None:
    """The name's place, read with the room beside its box, read 秦雪共社保 on a copy stamped
    仅供社保使用: the stamp's strokes stand out far less than the name's (a fifth to two
    fifths as much), print beside the box as much as the box's or more than half."""
    boxes = _front("姓名张三", 0.999)
    engine = _NameEnd(boxes, ("姓名张三李四", 0.99))
    reading = pipeline._recognise_and_parse(_stamped(boxes, beside), engine, {})
    assert reading.fields.name == name


@pytest.mark.parametrize(("beside", "name"), [(DARK, "张三李四"), (STAMP, "张三")])
def test_a_second_opinion_reading_past_the_box_is_taken_only_where_printed_as_it_is(
    beside: tuple[int, int, int], name: str
) -> None:
    """The second opinion's wider cut read 覃雨若用, the 用 of a stamp beside the box."""
    boxes = _front("姓名张三", 0.97)
    engine = _Engine(boxes, ("姓名张三李四", 0.999))
    reading = pipeline._recognise_and_parse(_stamped(boxes, beside), engine, {})
    assert engine.asked == 1 and reading.fields.name == name
