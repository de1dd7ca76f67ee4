"""Boxes → lines → characters with their source box and position.

The card is upright but may be skewed by a few degrees: the skew is estimated from the
boxes' own top edges and removed before boxes are grouped into lines by vertical overlap.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ocr_job.engines.base import TextBox

from .idnumber import ID_RUN
from .vocab import (
    BACK_LABELS,
    BACK_TITLES,
    FRONT_LABELS,
    is_label_alone,
    match_label,
    squeeze,
    to_halfwidth,
)


@dataclass(frozen=True, slots=True)
class Item:
    """A box in deskewed card coordinates."""

    index: int  # position in the caller's box list
    text: str
    score: float
    x0: float
    x1: float
    y0: float
    y1: float
    #: The engine turned this box's text the other way round than most of the card's:
    #: its text is a misreading (a crop turned upside down reads as other characters).
    against: bool = False
    #: Each character's own score (`TextBox.chars`), when the engine gave one per character.
    chars: tuple[float, ...] = ()
    #: The box is a line of text that runs across the card's lines (down the card): print
    #: of something else, such as a page turned a quarter under the card.
    crosswise: bool = False
    #: The box is a place read again, its extent estimated (`TextBox.placed`).
    placed: bool = False

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2

    @property
    def height(self) -> float:
        return self.y1 - self.y0


@dataclass(frozen=True, slots=True)
class Chars:
    """A string whose every character remembers its box, its estimated x range and its own
    score (1.0 where the engine gave none: its box's score then stands for it)."""

    text: str
    src: tuple[int, ...]
    xs: tuple[tuple[float, float], ...]
    scores: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.text)

    def __getitem__(self, key: slice) -> Chars:
        return Chars(self.text[key], self.src[key], self.xs[key], self.scores[key])

    def __add__(self, other: Chars) -> Chars:
        return Chars(
            self.text + other.text, self.src + other.src, self.xs + other.xs, self.scores + other.scores
        )

    @property
    def x0(self) -> float:
        return self.xs[0][0] if self.xs else math.inf

    def boxes(self) -> set[int]:
        return set(self.src)

    def only(self, keep: Callable[[str], bool]) -> Chars:
        """The characters `keep` holds for, each with its box, place and score."""
        at = [i for i, ch in enumerate(self.text) if keep(ch)]
        return Chars(
            "".join(self.text[i] for i in at),
            tuple(self.src[i] for i in at),
            tuple(self.xs[i] for i in at),
            tuple(self.scores[i] for i in at),
        )

    def strip(self, chars: str | None = None) -> Chars:
        text = self.text
        start = len(text) - len(text.lstrip(chars))
        end = len(text.rstrip(chars))
        return self[start : max(start, end)]


EMPTY = Chars("", (), (), ())


def drop_label_boxes(chars: Chars, value_x: float, label_end: float, column: float = math.inf) -> Chars:
    """`chars` without its leading characters that lie left of `value_x` or belong to a
    label box: one ending before `label_end` that begins left of the value column
    (`column`; not given: any box ending there) by half its first character's width or
    more (a label, even a misread one, is a box of its own that ends where the value column
    starts). A short box that begins at the column is a value: the wrapped end of an
    address (`6` of `…1-6-230` / `6`)."""
    ends: dict[int, float] = {}
    starts: dict[int, tuple[float, float]] = {}
    for src, (x0, x1) in zip(chars.src, chars.xs, strict=True):
        ends[src] = max(ends.get(src, x1), x1)
        starts.setdefault(src, (x0, x1))

    def label_box(src: int) -> bool:
        x0, x1 = starts[src]
        return ends[src] <= label_end and x0 < column - 0.5 * (x1 - x0)

    keep = 0
    while keep < len(chars) and (
        (chars.xs[keep][0] + chars.xs[keep][1]) / 2 < value_x or label_box(chars.src[keep])
    ):
        keep += 1
    return chars[keep:]


def after_label(line: Line, labels: dict[str, tuple[str, ...]]) -> tuple[str, Chars] | None:
    """(field, value characters) of a line whose first box starts with a label.

    The label's box is left out before the boxes are joined: a label box reaching into
    the value's box must not have the value's first character trimmed as a repeat.
    """
    first = line.items[0]
    chars = chars_of(first)
    label = match_label(chars.text, labels)
    if label is None:
        return None
    rest = chars[len(label[1]) :]
    value = EMPTY
    if rest.text:
        value = rest
    for item in line.items[1:]:
        more = chars_of(item)
        value = value[: len(value) - _overlap_repeat(value, more, item.height)] + more
    return label[0], value


#: The width of a digit, a Latin letter or a sign against a CJK character's in the card's
#: fonts (half-width forms, about half an em).
NARROW_SHARE = 0.55


def _advance(ch: str) -> float:
    return NARROW_SHARE if ch.isascii() else 1.0


def printed_width(text: str) -> float:
    """How wide `text` prints, in CJK characters (a digit or Latin letter takes less)."""
    return sum(_advance(ch) for ch in text)


def chars_of(item: Item) -> Chars:
    """The box's characters without whitespace, each given a share of the width by its
    kind (a digit is about half as wide as a CJK character): `出生1971` ends where its
    last digit ends, not half a character further left."""
    text = to_halfwidth(item.text)
    total = sum(_advance(ch) for ch in text) or 1.0
    unit = (item.x1 - item.x0) / total
    spans, at = [], item.x0
    for ch in text:
        step = _advance(ch) * unit
        spans.append((at, at + step))
        at += step
    keep = [i for i, ch in enumerate(text) if not ch.isspace()]
    scores = item.chars if len(item.chars) == len(text) else (1.0,) * len(text)
    return Chars(
        "".join(text[i] for i in keep),
        tuple(item.index for _ in keep),
        tuple(spans[i] for i in keep),
        tuple(scores[i] for i in keep),
    )


#: Two boxes of a line that hold different characters overlap by their margins, up to
#: about this share of their height; a character read in both makes them overlap by more,
#: and by at least this share of its width.
BOX_MARGINS = 0.45
SAME_GLYPH_OVERLAP = 0.4
#: A box's last character scored below this on its own, overlapping the next box by more
#: than the boxes' margins, is that box's first glyph read in part.
PART_GLYPH_BELOW = 0.8


def _overlap_repeat(before: Chars, after: Chars, height: float = 0.0) -> int:
    """How many trailing characters of `before` the overlapping box `after` repeats."""
    if not before.text or not after.text or before.xs[-1][1] <= after.x0:
        return 0
    inside = sum((x0 + x1) / 2 > after.x0 for x0, x1 in before.xs)
    for k in range(min(inside + 1, len(before), len(after)), 0, -1):
        if before.text.endswith(after.text[:k]):
            return k
    # the same glyphs read twice, differently: trust the box they lie inside of. Boxes of
    # one line split in two overlap by their margins alone (`出生1971` + `年6月18日`):
    # a glyph read twice makes them overlap by most of its width more.
    # A last character read with doubt is a glyph the box's end cut in part (委 of 魏 at
    # 0.52, the next box reading 魏 whole): the margins' overlap is enough.
    x0, x1 = before.xs[-1]
    width = x1 - x0
    need = max(SAME_GLYPH_OVERLAP * width, BOX_MARGINS * height + 0.1 * width)
    if before.scores[-1] < PART_GLYPH_BELOW:
        need = BOX_MARGINS * height
    if before.xs[-1][1] - after.x0 >= need:
        return sum((a + b) / 2 > after.x0 - 0.1 * (x1 - x0) for a, b in before.xs)
    return 0


def join(items: Iterable[Item]) -> Chars:
    """The characters of boxes left to right; text repeated where boxes overlap is
    kept once."""
    out = EMPTY
    for item in items:
        chars = chars_of(item)
        repeat = _overlap_repeat(out, chars, item.height)
        out = out[: len(out) - repeat] + chars
    return out


@dataclass(slots=True)
class Line:
    items: list[Item]

    @property
    def y0(self) -> float:
        return min(i.y0 for i in self.items)

    @property
    def y1(self) -> float:
        return max(i.y1 for i in self.items)

    @property
    def cy(self) -> float:
        return sorted(i.cy for i in self.items)[len(self.items) // 2]

    @property
    def height(self) -> float:
        return sorted(i.height for i in self.items)[len(self.items) // 2]

    @property
    def x0(self) -> float:
        return self.items[0].x0

    def chars(self) -> Chars:
        return join(self.items)


#: A box whose top edge is this many times its side is a line of text, run along its top.
LINE_RATIO = 1.5


def _line_edge(box: TextBox) -> tuple[float, float] | None:
    """The top edge (dx, dy) of a box that is a line of text (LINE_RATIO), else None."""
    (tlx, tly), (trx, try_), _, (blx, bly) = box.points
    dx, dy = trx - tlx, try_ - tly
    return (dx, dy) if math.hypot(dx, dy) > LINE_RATIO * max(math.hypot(blx - tlx, bly - tly), 1.0) else None


#: A box holding this many digits, and four times as many as Latin letters, is a line of the
#: card's own print (the number, a date); a page's print read as marks holds letters.
CARD_DIGITS = 8


def is_card_print(text: str) -> bool:
    """Whether `text` parses as the card's own print: it begins with a label, holds a
    title of the back, or holds the digits of the number or a date (few letters among
    them). Print around the card (a page it lies on, a form) holds none of these."""
    value = squeeze(text)
    if match_label(value, FRONT_LABELS) or match_label(value, BACK_LABELS):
        return True
    if any(t in value for t in BACK_TITLES):
        return True
    digits = sum(ch.isdigit() for ch in value)
    letters = sum(ch.isascii() and ch.isalpha() for ch in value)
    return digits >= CARD_DIGITS and letters * 4 <= digits


def skew_angle(boxes: Sequence[TextBox]) -> float:
    """The skew (radians) of the card's lines: the weighted median slope of the top edges
    of its own print (`is_card_print`), when any of it was read as a line; else of every
    line read. The print around a card lying on a page runs at the page's angle, and a
    page holds more lines than the card."""
    edges = [(box, edge) for box in boxes if (edge := _line_edge(box)) is not None and edge[0] > 0]
    own = [(box, edge) for box, edge in edges if is_card_print(box.text)]
    return _median_slope([edge for _, edge in own or edges])


def _median_slope(edges: Sequence[tuple[float, float]]) -> float:
    """The median slope of `edges` (dx, dy), each weighted by its length; 0 beyond 20°."""
    if not edges:
        return 0.0
    slopes = sorted((math.atan2(dy, dx), math.hypot(dx, dy)) for dx, dy in edges)
    total = sum(w for _, w in slopes)
    acc = 0.0
    for angle, weight in slopes:
        acc += weight
        if acc >= total / 2:
            return angle if abs(angle) < math.radians(20) else 0.0
    return 0.0


def _card_angle(boxes: Sequence[TextBox]) -> int:
    """The text angle most of the card's characters were read at (of its own print, when
    any was read: a page around the card may lie the other way up)."""
    by_angle: dict[int, int] = {}
    for box in [b for b in boxes if is_card_print(b.text)] or boxes:
        by_angle[box.angle] = by_angle.get(box.angle, 0) + len(box.text.strip())
    return max(by_angle, key=lambda a: (by_angle[a], a == 0)) if by_angle else 0


#: A line of text at more than 45° to the card's lines runs across them (sin 45°).
CROSSWISE = math.sqrt(0.5)


def deskew(boxes: Sequence[TextBox], width: int, height: int) -> list[Item]:
    """Rotate every box about the card centre so that text lines are horizontal."""
    card_angle = _card_angle(boxes)
    angle = -skew_angle(boxes)
    cos, sin = math.cos(angle), math.sin(angle)
    cx, cy = width / 2, height / 2
    items = []
    for index, box in enumerate(boxes):
        if not box.text.strip():
            continue
        pts = [
            (cx + (x - cx) * cos - (y - cy) * sin, cy + (x - cx) * sin + (y - cy) * cos)
            for x, y in box.points
        ]
        edge = _line_edge(box)
        # the box's own height, measured perpendicular to its text direction
        tl, tr, br, bl = pts
        top = (tl[1] + tr[1]) / 2
        bottom = (bl[1] + br[1]) / 2
        items.append(
            Item(
                index,
                box.text,
                box.score,
                min(p[0] for p in pts),
                max(p[0] for p in pts),
                min(top, bottom),
                max(top, bottom),
                against=box.angle != card_angle,
                chars=box.chars,
                placed=box.placed,
                crosswise=edge is not None
                and abs(math.sin(math.atan2(edge[1], edge[0]) + angle)) > CROSSWISE,
            )
        )
    return items


def runs_sideways(items: Sequence[Item]) -> bool:
    """Most of the text is in boxes much taller than wide: the card lies on its side in
    this picture, and each such box was read turned (its text is a guess). The card's own
    print decides when any was read (a page around an upright card may run the other way)."""
    total = sideways = 0
    for item in [i for i in items if is_card_print(i.text)] or items:
        n = len(item.text.strip())
        if n < 3:
            continue
        total += n
        if item.x1 - item.x0 < 0.67 * item.height:
            sideways += n
    return sideways * 2 > total


def runs_down(boxes: Sequence[TextBox]) -> bool:
    """Most of the text was read along boxes that run down (or up) the picture: the card
    lies on its side, and though each line was read along its length, the parser's
    geometry (labels left of values, lines one under the other) does not hold until the
    picture is turned (`runs_sideways` is the other case: lines read across). The card's
    own print decides when any was read (a page around an upright card may run down)."""
    total = down = 0
    for box in [b for b in boxes if is_card_print(b.text)] or boxes:
        n = len(box.text.strip())
        edge = _line_edge(box)
        if n < 3 or edge is None:
            continue
        total += n
        if abs(edge[1]) > abs(edge[0]):
            down += n
    return down * 2 > total


def without_misread_labels(lines: list[Line]) -> list[Line]:
    """Lines without a misread box at their start followed by other boxes: that place
    holds the label, and a misread label carries nothing of the value."""
    out = []
    for line in lines:
        items = line.items
        while len(items) > 1 and items[0].against:
            items = items[1:]
        out.append(Line(items))
    return out


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


#: The labels printed at the start of a line, one under the other: the left column of the
#: card's print (民族 stands inside its line).
COLUMN_LABELS: dict[str, tuple[str, ...]] = {
    field: spellings for field, spellings in (FRONT_LABELS | BACK_LABELS).items() if field != "ethnicity"
}
#: The labels of the card's last line (the number's on the front, the period's on the back).
LAST_LINE_LABELS: dict[str, tuple[str, ...]] = {
    "id_number": FRONT_LABELS["id_number"],
    "validity": BACK_LABELS["validity"],
}
#: The front's lines above each label's line: nothing of the front is printed higher.
LINES_ABOVE: dict[str, int] = {"name": 0, "sex": 1, "birth_date": 2, "address": 3}
#: The widest line pitch of a front, in its labels' heights (the bench's styles: 2.3-2.8).
MAX_PITCH = 3.2
#: A box of the card ends at most this many heights of its first line above that line's top.
TOP_SLACK = 0.5
#: A box of the card begins at most this many of its column label's heights left of that
#: label (the labels of a perspective view do not stand exactly one under the other).
COLUMN_SLACK = 1.0
#: The labels of the column begin within this many of their heights of their median.
COLUMN_SPREAD = 2.0
#: A box of the card begins at least this many heights of the card's widest line left of
#: that line's end, and at most this many of its last line's below that line's bottom.
END_SLACK = 0.5
#: Digits of a run that is the number (the others may be letters read for digits).
NUMBER_DIGITS = 12


def on_card(items: Sequence[Item]) -> list[Item]:
    """The items that can be the card's print; the others lie beside the card (the print
    of a page or form it lies on, which reaches up to the card's edges). The card's own
    print bounds it, as the ID-1 layout places it: nothing is printed left of the label
    column, nothing begins right of the end of the card's widest line (the number on the
    front, the title on the back) nor below its last line (the number's, the period's), and
    nothing ends above its first line (the name's on the front, the title on the back)."""
    return _below_first_line(_above_last_line(_before_widest_end(_right_of_column(items))))


def _right_of_column(items: Sequence[Item]) -> list[Item]:
    """The items that begin right of the label column: at most COLUMN_SLACK of the
    nearest line-start label's height left of that label. All of them when no label of
    the column was read."""
    labels = [i for i in items if not i.against and match_label(squeeze(i.text), COLUMN_LABELS)]
    if not labels:
        return list(items)
    # a label word read inside a line (lines merged by the detector) is not the column
    middle = sorted(i.x0 for i in labels)[(len(labels) - 1) // 2]
    column = [i for i in labels if abs(i.x0 - middle) <= COLUMN_SPREAD * max(i.height, 1.0)]

    def left_limit(item: Item) -> float:
        label = min(column, key=lambda c: abs(c.cy - item.cy))
        return label.x0 - COLUMN_SLACK * max(label.height, 1.0)

    return [i for i in items if i.x0 >= left_limit(i)]


def _is_number(text: str) -> bool:
    return any(sum(ch.isdigit() for ch in m.group()) >= NUMBER_DIGITS for m in ID_RUN.finditer(squeeze(text)))


def _before_widest_end(items: Sequence[Item]) -> list[Item]:
    """The items that begin left of the end of the card's widest line (the number's box,
    a title), by END_SLACK of its height. All of them when none of these was read."""
    widest = [
        i for i in items if not i.against and (_is_number(i.text) or any(t in i.text for t in BACK_TITLES))
    ]
    if not widest:
        return list(items)
    end = max(i.x1 - END_SLACK * max(i.height, 1.0) for i in widest)
    return [i for i in items if i.x0 < end]


def _above_last_line(items: Sequence[Item]) -> list[Item]:
    """The items that begin above the bottom of the card's last line (its label or the
    number read), by END_SLACK of its height (a value a perspective put lower than its
    label). All of them when that line was not read."""
    last = [
        i
        for i in items
        if not i.against and (_is_number(i.text) or match_label(squeeze(i.text), LAST_LINE_LABELS))
    ]
    if not last:
        return list(items)
    bottom = max(i.y1 + END_SLACK * max(i.height, 1.0) for i in last)
    return [i for i in items if i.y0 < bottom]


def _below_first_line(items: Sequence[Item]) -> list[Item]:
    """The items that end below the top of the card's first line, by TOP_SLACK of its
    height: the title on the back, the name's line on the front; when the highest label of
    the front read is another, at most LINES_ABOVE of MAX_PITCH line heights above it. The
    highest such print decides (a label word of a page below the card is not the highest).
    All of them when none was read."""
    bounds: list[tuple[float, float]] = []
    for item in items:
        label = match_label(squeeze(item.text), FRONT_LABELS)
        lines = (
            LINES_ABOVE.get(label[0]) if label else 0 if any(t in item.text for t in BACK_TITLES) else None
        )
        if lines is not None and not item.against:
            bounds.append((item.y0, item.y0 - (lines * MAX_PITCH + TOP_SLACK) * max(item.height, 1.0)))
    if not bounds:
        return list(items)
    top = min(bounds)[1]
    return [i for i in items if i.y1 > top]


def group_lines(items: Iterable[Item]) -> list[Line]:
    """Lines top to bottom, each with its boxes left to right.

    A box joins the line it overlaps vertically by more than half of the smaller height,
    unless it lies over or under a box of that line (`_stacked`): two lines of a tight
    pitch on a small card overlap as much.
    """
    lines: list[Line] = []
    for item in sorted(items, key=lambda i: i.cy):
        best, best_overlap = None, 0.0
        for line in lines:
            overlap = _overlap(item.y0, item.y1, line.cy - line.height / 2, line.cy + line.height / 2)
            share = overlap / max(min(item.height, line.height), 1.0)
            stacked = any(_stacked(item, other) for other in line.items)
            if share > 0.5 and share > best_overlap and not stacked:
                best, best_overlap = line, share
        if best is None:
            lines.append(Line([item]))
        else:
            best.items.append(item)
    for line in lines:
        line.items.sort(key=lambda i: i.x0)
    lines.sort(key=lambda line: line.cy)
    return lines


def _stacked(a: Item, b: Item) -> bool:
    """Whether `a` lies over or under `b`: they share most of the narrower one's width, and
    their middles are a quarter of a line or more apart (道403号翡翠里 under 江苏省宿迁市…
    on a card 360 px wide, lines 20 px high and 16 apart). Boxes of one line overlap at
    their ends, or wholly when one line was read twice, at the same height."""
    shared = _overlap(a.x0, a.x1, b.x0, b.x1)
    narrower = max(min(a.x1 - a.x0, b.x1 - b.x0), 1.0)
    return shared > 0.5 * narrower and abs(a.cy - b.cy) >= 0.25 * max(min(a.height, b.height), 1.0)


#: A box this many times taller than the card's median box is not a line of text: the
#: detector outlined a picture area (the portrait, the emblem) as one region.
TALLEST_LINE_FACTOR = 3.0


def without_picture_regions(items: Sequence[Item]) -> list[Item]:
    """The items without those far taller than a text line (read as stray characters) and
    the lines of text that run across the card's lines (`Item.crosswise`)."""
    items = [item for item in items if not item.crosswise]
    if len(items) < 3:
        return items
    heights = sorted(item.height for item in items)
    limit = TALLEST_LINE_FACTOR * heights[len(heights) // 2]
    return [item for item in items if item.height <= limit]


def layout(boxes: Sequence[TextBox], width: int, height: int) -> list[Line]:
    return group_lines(without_picture_regions(deskew(boxes, width, height)))


#: A value's region right of its label: at most this many line heights wide (柯尔克孜 is
#: four characters), and at least this many (a narrower gap holds no value).
VALUE_REGION_WIDTH = 5.0
MIN_VALUE_REGION = 1.6


def value_region(line: Line, field: str, right_limit: float) -> tuple[float, float, float, float] | None:
    """Where the value of `field` must be printed on `line`, when its label was read as a
    box of its own, or as the end of one (`性别女民族`), and nothing was read right of it up
    to the next box: from the label's end to the next box (or `right_limit`, the photo),
    as high as the label's line. None when the label is not there or no value fits."""
    for k, item in enumerate(line.items):
        text = squeeze(item.text)
        if not (is_label_alone(text, field) or text.endswith(FRONT_LABELS[field])):
            continue
        limit = line.items[k + 1].x0 if k + 1 < len(line.items) else right_limit
        return _right_of(item, min(limit, right_limit), VALUE_REGION_WIDTH)
    return None


#: A birth date (`1965年12月26日`: seven characters wide), or what is left of it, lies at
#: most this many line heights right of the box before it.
DATE_WIDTH = 8.0


def end_region(line: Line, right_limit: float) -> tuple[float, float, float, float] | None:
    """Where the rest of a date cut short on `line` (or the whole date after its label) is
    printed: right of the line's last box, at most DATE_WIDTH heights on, up to
    `right_limit` (the photo). None when none fits."""
    return rest_of_line(line, right_limit, DATE_WIDTH)


def rest_of_line(
    line: Line, right_limit: float, heights: float = math.inf, least: float = MIN_VALUE_REGION
) -> tuple[float, float, float, float] | None:
    """The place right of `line`'s last box, at most `heights` line heights wide, up to
    `right_limit`; None when it is less than `least` heights wide."""
    return _right_of(line.items[-1], right_limit, heights, least) if line.items else None


def _right_of(
    item: Item, right_limit: float, heights: float, least: float = MIN_VALUE_REGION
) -> tuple[float, float, float, float] | None:
    h = max(item.height, 1.0)
    x0 = item.x1
    x1 = min(x0 + heights * h, right_limit)
    if x1 - x0 < least * h:
        return None
    return level_with(item, x0, x1)


#: The room left of a value's box begins this many line heights after the box before it
#: (its label's): what the detector left out of the box lies between the two.
LABEL_CLEARANCE = 0.15


def room_beside(line: Line, k: int, before: float, after: float, right_limit: float) -> tuple[float, float]:
    """How far, in pixels, the room left and right of the `k`-th box of `line` goes: at
    most `before` and `after` line heights, not into the box before it (LABEL_CLEARANCE
    after its end) nor the box after it, nor past `right_limit`. A value's character the
    detector left out of its box lies there."""
    box = line.items[k]
    h = max(box.height, 1.0)
    left = box.x0 - before * h
    if k > 0:
        left = max(left, line.items[k - 1].x1 + LABEL_CLEARANCE * h)
    right = min(box.x1 + after * h, right_limit)
    if k + 1 < len(line.items):
        right = min(right, line.items[k + 1].x0)
    return max(box.x0 - left, 0.0) if k > 0 else 0.0, max(right - box.x1, 0.0)


def level_with(item: Item, x0: float, x1: float) -> tuple[float, float, float, float]:
    """The place from `x0` to `x1` on `item`'s line: as high as the item, and a little
    more (0.15 of its height) above and below."""
    h = max(item.height, 1.0)
    return (x0, item.y0 - 0.15 * h, x1, item.y1 + 0.15 * h)


def holding(lines: Iterable[Line], index: int) -> tuple[Line, int] | None:
    """The line that holds the item of box `index`, and the item's place on it."""
    for line in lines:
        for k, item in enumerate(line.items):
            if item.index == index:
                return line, k
    return None


def undo_deskew(
    quad: Sequence[tuple[float, float]], boxes: Sequence[TextBox], width: int, height: int
) -> tuple[tuple[float, float], ...]:
    """The points of `quad`, given in the deskewed card's coordinates (`deskew`), in the
    coordinates of `boxes`."""
    angle = skew_angle(boxes)
    cos, sin = math.cos(angle), math.sin(angle)
    cx, cy = width / 2, height / 2
    return tuple(
        (cx + (x - cx) * cos - (y - cy) * sin, cy + (x - cx) * sin + (y - cy) * cos) for x, y in quad
    )
