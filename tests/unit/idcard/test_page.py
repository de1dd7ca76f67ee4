"""A card lying askew on a printed page: the page's print around it is not the card's.

The card's boxes (`cards.front` / `cards.back`) are turned about the card's centre and laid
in a larger picture; the page's lines run straight across the picture, up to the card's
edges, as boxes of marks and of real characters read with high scores (the detector finds
both on a page). The card must read as it does alone.
"""

from __future__ import annotations

import math
import random

import pytest

from ocr_job.engines.base import TextBox
from ocr_job.idcard import parse
from ocr_job.idcard.layout import Item, is_card_print, on_card, skew_angle

from .cards import ADDR3, LI_F, LI_X, B, H, W, back, front, render

PICTURE = (1800, 1300)
OFFSET = (400.0, 330.0)  # where the card's top-left corner lies before it is turned
PAGE_LINE = 26  # the page's line height (the card's lines are 30 high)
PAGE_TEXTS = ("I l lol u m", "ull 1 l1 u", "国家标准化管理委员会发布", "山", "第三章 附则", "2019年第4号")


def _turned(points: list[tuple[float, float]], degrees: float) -> list[tuple[float, float]]:
    a = math.radians(degrees)
    cx, cy = W / 2, H / 2
    return [
        (
            OFFSET[0] + cx + (x - cx) * math.cos(a) - (y - cy) * math.sin(a),
            OFFSET[1] + cy + (x - cx) * math.sin(a) + (y - cy) * math.cos(a),
        )
        for x, y in points
    ]


def _separated(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> bool:
    """Two convex quadrilaterals do not overlap (an axis of one of their edges parts them)."""
    for poly in (a, b):
        for (x0, y0), (x1, y1) in zip(poly, poly[1:] + poly[:1], strict=True):
            nx, ny = y0 - y1, x1 - x0
            pa = [nx * x + ny * y for x, y in a]
            pb = [nx * x + ny * y for x, y in b]
            if max(pa) < min(pb) or max(pb) < min(pa):
                return True
    return False


def page_boxes(degrees: float, seed: int = 0, down: bool = False, angle: int = 0) -> list[TextBox]:
    """The page's boxes: lines of words across the picture (`down`: down it, the page
    turned a quarter), none over the card (turned by `degrees`), some of them ending right
    at its edge; `angle`: the angle their text was read at (180: the page upside down)."""
    rng = random.Random(seed)
    card = _turned([(-8, -8), (W + 8, -8), (W + 8, H + 8), (-8, H + 8)], degrees)
    across, along = (PICTURE[1], PICTURE[0]) if down else PICTURE
    out = []
    y = 40.0
    while y < along - 40:
        x = 40.0
        while x < across - 80:
            width = rng.uniform(60, 260)
            quad = [(x, y), (x + width, y), (x + width, y + PAGE_LINE), (x, y + PAGE_LINE)]
            if down:  # the text's top to the right, its line running down
                quad = [(y + PAGE_LINE, x), (y + PAGE_LINE, x + width), (y, x + width), (y, x)]
            if _separated(quad, card):
                text = rng.choice(PAGE_TEXTS)
                score = 0.94 if text == "山" else rng.uniform(0.5, 0.99)
                out.append(TextBox(text, score, tuple(quad), angle=angle))  # type: ignore[arg-type]
            x += width + rng.uniform(15, 40)
        y += PAGE_LINE * 1.8
    return out


def on_page(
    specs: list[B], degrees: float, seed: int = 0, down: bool = False, angle: int = 0
) -> list[TextBox]:
    card = [
        TextBox(b.text, b.score, tuple(_turned(list(b.points), degrees)))  # type: ignore[arg-type]
        for b in render(specs)
    ]
    boxes = card + page_boxes(degrees, seed, down, angle)
    random.Random(seed).shuffle(boxes)
    return boxes


@pytest.mark.parametrize("degrees", [-9.0, -5.0, 0.0, 4.0, 9.0])
def test_a_front_on_a_page_reads_as_it_does_alone(degrees: float) -> None:
    specs = front("欧阳娜娜", "男", "汉", ("1985", "12", "31"), ADDR3, LI_X)
    alone = parse(render(specs), W, H)
    assert alone.fields.model_dump(exclude_none=True) == LI_F and alone.warnings == []

    reading = parse(on_page(specs, degrees), *PICTURE)
    assert reading.side == "front"
    assert reading.fields.model_dump(exclude_none=True) == LI_F
    assert reading.warnings == []


@pytest.mark.parametrize("degrees", [-9.0, -5.0, 0.0, 4.0, 9.0])
def test_a_back_on_a_page_reads_as_it_does_alone(degrees: float) -> None:
    specs = back("乌恰县公安局", "2024.11.10-长期")
    want = {"issuing_authority": "乌恰县公安局", "valid_from": "2024-11-10", "valid_to": "长期"}
    reading = parse(on_page(specs, degrees, seed=1), *PICTURE)
    assert reading.side == "back"
    assert reading.fields.model_dump(exclude_none=True) == want
    assert reading.warnings == []


@pytest.mark.parametrize(("down", "angle"), [(True, 0), (False, 180)])
def test_a_card_upright_on_a_page_turned_the_other_way(down: bool, angle: int) -> None:
    """The page's lines run down the picture, or its text reads upside down: the card's
    own print says which way up the card lies."""
    specs = front("欧阳娜娜", "男", "汉", ("1985", "12", "31"), ADDR3, LI_X)
    boxes = on_page(specs, 6.0, down=down, angle=angle)
    page = [b for b in boxes if b.text in PAGE_TEXTS]
    assert sum(len(b.text) for b in page) > 2 * sum(len(b.text) for b in boxes if b not in page)
    reading = parse(boxes, *PICTURE)
    assert reading.side == "front"
    assert reading.fields.model_dump(exclude_none=True) == LI_F
    assert reading.warnings == []


def test_the_skew_is_the_card_s_own_not_the_page_s() -> None:
    boxes = on_page(front("欧阳娜娜", "男", "汉", ("1985", "12", "31"), ADDR3, LI_X), -7.0)
    assert len(boxes) > 3 * 16  # the page holds many more lines than the card
    assert math.degrees(skew_angle(boxes)) == pytest.approx(-7.0, abs=0.2)


def test_without_the_card_s_print_every_line_sets_the_skew() -> None:
    boxes = render([B("欢迎光临本店", 100, 100), B("营业时间九点", 100, 160)], skew_deg=4.0)
    assert math.degrees(skew_angle(boxes)) == pytest.approx(4.0, abs=0.2)


@pytest.mark.parametrize(
    ("text", "own"),
    [
        ("姓名张三", True),
        ("公民身份号码", True),
        ("有效期限2024.11.10-长期", True),
        ("中华人民共和国", True),
        ("44030519851231107X", True),
        ("1985年12月31日", True),
        ("I11 m u u1 m 1 u lul 111 1 ll1", False),  # a page's marks: digits among letters
        ("国家标准化管理委员会发布", False),
        ("山", False),
    ],
)
def test_the_card_s_own_print(text: str, own: bool) -> None:
    assert is_card_print(text) is own


def _item(index: int, text: str, x0: float, y: float, width: float, height: float = 30.0) -> Item:
    return Item(index, text, 0.99, x0, x0 + width, y - height / 2, y + height / 2)


def test_nothing_of_the_card_begins_left_of_its_label_column() -> None:
    items = [
        _item(0, "姓名", 200, 100, 60),
        _item(1, "张三", 300, 100, 70),
        _item(2, "I l lol u", 20, 100, 160),  # the page, up to the card's edge
        _item(3, "山", 150, 160, 25),  # a page character right at the edge
        _item(4, "住址", 203, 220, 60),
        _item(5, "北京市东城区", 300, 220, 200),
        _item(6, "景山前街4号", 300, 265, 180),  # the address's next line: no label
        _item(7, "号", 188, 310, 28),  # a speck of the card left of a label, within its slack
    ]
    assert [i.index for i in on_card(items)] == [0, 1, 4, 5, 6, 7]


def test_nothing_of_the_card_begins_right_of_its_widest_line_nor_below_its_last() -> None:
    items = [
        _item(0, "住址", 100, 300, 60),
        _item(1, "北京市东城区", 200, 300, 200),
        _item(2, "公民身份号码", 100, 540, 200),
        _item(3, LI_X, 340, 540, 520),
        _item(4, "II", 880, 540, 30),  # the page, right after the card's edge
        _item(5, "第三章", 900, 300, 90),
        _item(6, "附则", 400, 600, 60),  # the page, under the card
    ]
    assert [i.index for i in on_card(items)] == [0, 1, 2, 3]


def test_a_label_word_inside_a_line_is_not_the_column() -> None:
    items = [
        _item(0, "性别", 100, 150, 60),
        _item(1, "出生", 100, 225, 60),
        _item(2, "名", 140, 78, 30),  # the name's label misread, a merged line after it
        _item(3, "住址贵州省黔东南", 200, 78, 300),
    ]
    assert [i.index for i in on_card(items)] == [0, 1, 2, 3]


def test_without_labels_nothing_is_left_out() -> None:
    items = [_item(0, "欢迎光临", 100, 100, 120), _item(1, "I l lol", 0, 100, 80)]
    assert on_card(items) == items


def test_nothing_of_the_card_ends_above_its_first_line() -> None:
    items = [
        _item(0, "国家标准化管理委员会发布", 100, 10, 400),  # the page, above the card
        _item(1, "姓名", 100, 100, 60),
        _item(2, "欧阳娜娜", 200, 100, 140),
        _item(3, "性别", 100, 172, 60),
        _item(4, "姓名", 120, 400, 60),  # a form's label below the card: not its first line
    ]
    assert [i.index for i in on_card(items)] == [1, 2, 3, 4]
    # without the name's label, the name's line is at most a line pitch above the sex's
    assert [i.index for i in on_card(items[:1] + items[2:4])] == [2, 3]
