"""The front of the resident identity card: name, sex, ethnicity, birth, address, number.

Fields are found relative to the printed labels; where a label was not read, the fixed
order of the front (name, sex/ethnicity, birth, address, number) decides.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Collection
from dataclasses import dataclass, field

from . import idnumber, places
from .checks import check_front
from .dates import (
    birth_month_day,
    birth_year_month,
    has_background_letters,
    holds_in_order,
    looks_like_birth,
    parse_birth,
)
from .layout import (
    EMPTY,
    Chars,
    Item,
    Line,
    after_label,
    chars_of,
    drop_label_boxes,
    end_region,
    group_lines,
    holding,
    level_with,
    on_card,
    printed_width,
    rest_of_line,
    room_beside,
    value_region,
    without_misread_labels,
)
from .reading import Draft, Region
from .vocab import (
    ADDRESS_ENDINGS,
    FRONT_LABELS,
    address_text,
    implausible_name,
    is_known_ethnicity,
    is_label_alone,
    match_label,
    nearest_ethnicity,
    normalise_ethnicity,
    normalise_name,
    not_address_chars,
    squeeze,
)

#: Where values start on a front (share of the card width), when no label says so.
VALUE_X = 0.155
#: Boxes right of this and above NUMBER_Y lie on the photo: noise.
PHOTO_X = 0.6
NUMBER_Y = 0.78
#: Address lines further apart than this many line heights have a line between them that
#: was not detected (read right, consecutive lines were at most 1.5 apart).
LINE_LOST = 1.75
#: Where the photo starts, as a share of the way from the labels' left edge to the end of
#: the number (for a picture in which the card is only a part, no share of its width).
PHOTO_FROM_TEXT = 0.64

_SEX = re.compile("[男女]")
#: How far right of the value column (a share of the card's width) the sex can be printed:
#: one character at the column ends within ~4 mm (5% of the width), or ~8 mm printed 4 mm
#: off (the class-4 fixture `engine_class4_sex_no_box`), while 民族's value begins 14 mm
#: (16%) or more past the column on every layout drawn (`synth.layouts`).
SEX_SLOT = 0.1

#: An ethnicity outside the 56 groups (a card may print 穿青人 or 其他) is reported with a
#: warning when it was read clearly; below this score it is a misreading, left empty.
MIN_UNKNOWN_ETHNICITY_SCORE = 0.9
#: A box of digits or Latin letters alone among the ethnicity's boxes, read with a score
#: below this, is the card's pattern, not print (`_without_pattern_boxes`).
PATTERN_BOX_BELOW = 0.8
#: An address line that goes on past the number's region's place names counts as theirs
#: (its score left out of the address's floor) when each character after them was read at
#: this score or more (`_sure_beyond`).
SURE_BEYOND_PLACES = 0.95
#: A place name's character left out of the address is restored from the number's region
#: only when every line of the address was read with at least this score.
MIN_SCORE_TO_RESTORE = 0.95


@dataclass(slots=True)
class Row:
    """A line with its label (a field name, or None) and the value characters after it."""

    line: Line
    kind: str | None
    value: Chars
    labelled: bool = False
    guessed: bool = False  # the kind is a guess from the line's shape alone


def _id_run(chars: Chars) -> tuple[int, int] | None:
    """Start and end of the last run that may be an identity number."""
    best = None
    for match in idnumber.ID_RUN.finditer(chars.text):
        if sum(ch.isdigit() for ch in match.group()) >= 12:
            best = match.span()
    return best


def _classify(line: Line) -> Row:
    labelled = after_label(line, FRONT_LABELS)
    if labelled is not None:
        return Row(line, labelled[0], labelled[1], labelled=True)
    chars = line.chars()
    label = match_label(chars.text, FRONT_LABELS)
    if label:
        return Row(line, label[0], chars[len(label[1]) :], labelled=True)
    at = chars.text.find("民族")
    if _SEX.match(chars.text[:3].lstrip("性别姓")) or (0 < at < 8 and _SEX.search(chars.text[:at])):
        return Row(line, "sex", chars)
    if 0 < at <= 2:
        # the sex line with its label and value misread (`修民族汉`): the sex is then
        # missing, the ethnicity after `民族` is still read (above the birth line only:
        # an address line may hold 民族路)
        return Row(line, "sex", chars, guessed=True)
    if looks_like_birth(chars.text) or birth_month_day(chars.text) is not None:
        return Row(line, "birth_date", chars)
    return Row(line, None, chars)


def _aligned(line: Line, value_x: float, width: int) -> bool:
    return abs(line.x0 - value_x) < 0.06 * width


def _cut_number(chars: Chars) -> Chars:
    """An address line never includes the identity number or its label."""
    span = _id_run(chars)
    if span:
        chars = chars[: span[0]]
    for spelling in FRONT_LABELS["id_number"]:
        at = chars.text.find(spelling)
        if at >= 0:
            chars = chars[:at]
    return chars


def _starts_box(chars: Chars, line: Line) -> bool:
    """Whether `chars` begins where one of the line's boxes begins (a measured position,
    not one estimated from the characters' share of a box)."""
    return bool(chars.text) and any(abs(i.x0 - chars.x0) < 1e-6 for i in line.items)


def _split_sex_line(value: Chars, past_sex: float) -> tuple[Chars, Chars]:
    """(sex, ethnicity) characters of `男民族汉`, `性别 男 民族 汉`, `民族汉`...; `past_sex`:
    the x (px) right of which no sex is printed (see `_ethnicity_box`)."""
    text = value.text
    at = text.find("民族")
    label = match_label(text[at:], FRONT_LABELS) if at >= 0 else None
    if label is None:
        for spelling in FRONT_LABELS["ethnicity"]:
            at = text.find(spelling)
            if at >= 0:
                label = ("ethnicity", spelling)
                break
    if label is not None:
        before, after = value[:at], value[at + len(label[1]) :]
    else:
        sex_at = _SEX.search(text)
        if sex_at is None:
            return EMPTY, _ethnicity_box(value, past_sex)
        before, after = value[: sex_at.end()], value[sex_at.end() :]
        if len(after) >= 3 and (after.text[0] == "民" or after.text[1] in "族旅蔟"):
            after = after[2:]
        elif len(after) >= 2 and after.text[0] in "族旅蔟":  # 民 lost under glare: 族汉
            after = after[1:]
        elif is_label_alone(after.text, "ethnicity"):
            after = EMPTY  # the label misread (民方) or cut short (民), its value not read
    sex_at = _SEX.search(before.text)
    sex = before[sex_at.start() : sex_at.end()] if sex_at else EMPTY
    return sex, after


def _ethnicity_box(value: Chars, past_sex: float) -> Chars:
    """The last box of a sex line whose label 民族 and sex were not read, when that box
    says exactly one of the 56 groups and is a box of its own after another, or begins
    right of `past_sex`, where the card prints no sex (glare took the sex and the label
    民族 from `性别 女 民族 土家`, and left `性别` and `土家`)."""
    last = value.src[-1] if value.src else None
    at = next((i for i, src in enumerate(value.src) if src == last), len(value))
    box = value[at:]
    alone = at > 0 or (box.text and box.x0 > past_sex)
    if alone and is_known_ethnicity(normalise_ethnicity(box.text)):
        return box
    return EMPTY


def _put_name(draft: Draft, chars: Chars) -> None:
    """The name, unless what was read cannot be one (another line's text taken for it, or
    a character misread as a sign: 肖一 read 肖！, whose boxes a second opinion may then
    read again: `CardReading.sources` names them)."""
    name = normalise_name(chars.text)
    problem = implausible_name(name)
    if problem is not None:
        draft.sources["name"] = frozenset(chars.boxes())
        draft.warn("name_implausible", f"what was read as the name is not one: {problem}", "name")
        return
    draft.put("name", name, chars)


def _without_pattern_boxes(draft: Draft, chars: Chars) -> Chars:
    """`chars` without the boxes read as nothing but digits or Latin letters with doubt (a
    box score below PATTERN_BOX_BELOW): no group's name holds one, and the guilloche beside
    a value reads so (`8888` at 0.70 over the lattice by 汉)."""
    pattern = {
        src
        for src in chars.boxes()
        if draft.scores[src] < PATTERN_BOX_BELOW
        and all(ch.isascii() for ch, at in zip(chars.text, chars.src, strict=True) if at == src)
    }
    out = EMPTY
    for i, src in enumerate(chars.src):
        if src not in pattern:
            out = out + chars[i : i + 1]
    return out


def _put_ethnicity(draft: Draft, chars: Chars) -> None:
    """The group as printed; a misreading one character away from exactly one group
    becomes that group, with a warning."""
    if not is_known_ethnicity(normalise_ethnicity(chars.text)):
        bare = _without_pattern_boxes(draft, chars)
        chars = bare if is_known_ethnicity(normalise_ethnicity(bare.text)) else chars
    value = normalise_ethnicity(chars.text)
    nearest = nearest_ethnicity(value)
    if nearest is not None:
        draft.warn(
            "ethnicity_corrected",
            f"read {value}, which is not a group; taken as {nearest}, the only group one character away",
            "ethnicity",
        )
        value = nearest
    elif not is_known_ethnicity(value) and draft.lowest_score(chars) < MIN_UNKNOWN_ETHNICITY_SCORE:
        draft.warn(
            "value_low_confidence",
            f"read {value}, which is not one of the 56 groups, with a low score",
            "ethnicity",
        )
        return
    draft.put("ethnicity", value, chars)


def _photo_corner(items: list[Item], width: int, height: int) -> tuple[float, float]:
    """The photo's left edge and lower edge. Measured from the text when the number line
    and the labels are there (the picture may hold more than the card); else shares of
    the picture."""
    numbers = [i for i in items if _id_run(chars_of(i)) is not None]
    labels = [i for i in items if match_label(squeeze(i.text), FRONT_LABELS) is not None]
    if not numbers or not labels:
        return PHOTO_X * width, NUMBER_Y * height
    number = max(numbers, key=lambda i: i.cy)
    left = min(i.x0 for i in labels)
    if number.x1 - left < 0.3 * width:
        return PHOTO_X * width, NUMBER_Y * height
    return left + PHOTO_FROM_TEXT * (number.x1 - left), min(number.y0, NUMBER_Y * height)


@dataclass(slots=True)
class FrontLayout:
    """The front as its geometry reads: the lines above the number line, each classified,
    the number line, the value column and the photo's corner."""

    rows: list[Row]  # the lines above the address label (all of them when there is none)
    tail: list[Row]  # the address label's line and the lines below it, down to the number
    number: Chars  # the number's characters (EMPTY: none read)
    number_top: float  # where the number line begins (the card's lower text edge when unread)
    glued: Chars  # address text read in one box with the number
    glued_starts_address: bool
    value_x: float  # where values begin
    photo_x: float
    width: int
    height: int

    @property
    def kinds(self) -> list[str | None]:
        return [r.kind for r in self.rows]


def _number_line(lines: list[Line]) -> tuple[int, Chars, Chars]:
    """(index, number, text before it) of the lowest line with a number-like run, else of
    the labelled one, else (len(lines), EMPTY, EMPTY)."""
    for k in range(len(lines) - 1, -1, -1):
        chars = lines[k].chars()
        span = _id_run(chars)
        if span:
            return k, chars[span[0] : span[1]], _cut_number(chars)
    for k, line in enumerate(lines):
        if any(s in line.chars().text for s in FRONT_LABELS["id_number"]):
            return k, EMPTY, EMPTY
    return len(lines), EMPTY, EMPTY


def _front_layout(items: list[Item], width: int, height: int) -> FrontLayout:
    items = on_card(items)
    photo_x, photo_y = _photo_corner(items, width, height)
    items = [i for i in items if not (i.x0 > photo_x and i.cy < photo_y)]
    lines = without_misread_labels(group_lines(items))
    number_at, number, glued = _number_line(lines)
    number_top = lines[number_at].y0 if number_at < len(lines) else NUMBER_Y * height
    rows = [_classify(line) for line in lines[:number_at]]
    birth_at = next((i for i, r in enumerate(rows) if r.kind == "birth_date"), len(rows))
    rows = [Row(r.line, None, r.value) if r.guessed and i > birth_at else r for i, r in enumerate(rows)]
    starts = [r.value.x0 for r in rows if r.labelled and r.kind not in ("sex", "ethnicity") and r.value.text]
    value_x = sorted(starts)[len(starts) // 2] if starts else VALUE_X * width
    glued_label = match_label(glued.text, FRONT_LABELS)
    glued_starts_address = glued_label is not None and glued_label[0] == "address"
    if glued_label is not None:
        glued = glued[len(glued_label[1]) :] if glued_starts_address else EMPTY
    elif glued.text and glued.x0 < value_x - 0.03 * width:
        glued = EMPTY  # an unread label, not address text
    kinds = [r.kind for r in rows]
    addr_at = kinds.index("address") if "address" in kinds else len(rows)
    return FrontLayout(
        rows[:addr_at],
        rows[addr_at:],
        number,
        number_top,
        glued,
        glued_starts_address,
        value_x,
        photo_x,
        width,
        height,
    )


def parse_front(
    items: list[Item], width: int, height: int, draft: Draft, looked: Collection[str] = ()
) -> None:
    """Fill `draft` with the front fields and checks. `looked`: the regions the caller has
    read again (see `Draft.look_again`); what was found there is among `items`."""
    card = _front_layout(items, width, height)
    name = _read_name(draft, card)
    _read_sex_and_ethnicity(draft, card, looked)
    birth, birth_chars = _read_birth(draft, card)
    reading = idnumber.read(card.number.text, birth) if card.number.text else None
    _read_address(draft, card, looked, reading)
    if reading is not None:
        draft.put("id_number", reading.number, card.number)
    _check_address_place(draft, reading)
    check_front(draft, reading)
    if birth is None:
        _look_for_birth(draft, card, birth_chars, looked)
    if birth is None and birth_chars.text:
        _birth_from_number(draft, birth_chars, reading)
    _look_for_name_end(draft, card, name, looked)  # last: the name's place is read last


def _read_name(draft: Draft, card: FrontLayout) -> Chars:
    """The name: its labelled line (and aligned lines below it, a long name wrapped), else
    the last unlabelled line above the sex line. Returns what was read as the name."""
    rows, kinds, width = card.rows, card.kinds, card.width
    first_known = next(
        (i for i, k in enumerate(kinds) if k in ("sex", "ethnicity", "birth_date", "address")), len(rows)
    )
    name_chars = EMPTY
    if "name" in kinds:
        at = kinds.index("name")
        name_chars = rows[at].value
        for row in rows[at + 1 : first_known]:
            if row.kind is None and _aligned(row.line, card.value_x, width):
                name_chars = name_chars + row.value
    else:
        unlabelled = [r for r in rows[:first_known] if r.kind is None]
        if unlabelled:
            name_chars = drop_label_boxes(
                unlabelled[-1].value, card.value_x - 0.02 * width, card.value_x + 0.02 * width
            )
    _put_name(draft, name_chars)
    return name_chars


#: A name's first or last character that the detector left out of its box lies within
#: this many line heights of the box; less room than NAME_END_ROOM holds none.
NAME_END_WIDTH = 1.6
NAME_END_ROOM = 0.8


def _look_for_name_end(draft: Draft, card: FrontLayout, chars: Chars, looked: Collection[str]) -> None:
    """A name read whole asks for its last box to be read again together with the room
    right of it (up to the next box or the photo) and, when it is the name's one box, the
    room left of it after the label's box (a first character lost the same way): the
    detector's box of 澹台芳一 ended before its 一, a lone stroke read at 0.30 alone; read
    with the name, 0.99. A name read as one character (no name has one: `邓` of 邓晶, its 晶
    under glare outside the box) asks the same."""
    one = len(normalise_name(chars.text)) == 1
    if "name" in looked or not ("name" in draft.values or one) or not chars.src:
        return
    last = chars.src[-1]
    found = holding((r.line for r in card.rows), last)
    if found is None:
        return
    line, k = found
    box = line.items[k]
    room = NAME_END_ROOM * max(box.height, 1.0)
    left, right = room_beside(line, k, NAME_END_WIDTH, NAME_END_WIDTH, card.photo_x)
    left = left if set(chars.src) == {last} and left >= room else 0.0
    right = right if right >= room else 0.0
    if left or right:
        draft.look_again["name"] = level_with(box, box.x0 - left, box.x1 + right)


def _read_sex_and_ethnicity(draft: Draft, card: FrontLayout, looked: Collection[str]) -> None:
    """Sex and ethnicity from their line; where a label was read without its value, the
    place the value must be printed (right of the label) is asked to be read again, and
    so is the rest of the sex's line when neither 民族 nor its value was read there."""
    kinds = card.kinds
    sex_row = next((r for r in card.rows if r.kind == "sex"), None)
    if sex_row is not None:
        past_sex = card.value_x + SEX_SLOT * card.width
        sex, ethnicity = _split_sex_line(sex_row.value, past_sex)
        draft.put("sex", sex.text, sex)
        if ethnicity.text:
            _put_ethnicity(draft, ethnicity)
    if "ethnicity" in kinds and "ethnicity" not in draft.values:
        _put_ethnicity(draft, card.rows[kinds.index("ethnicity")].value)
    lines = [r.line for r in card.rows if r.kind in ("sex", "ethnicity")]
    for name in ("sex", "ethnicity"):
        if name in draft.values or name in looked or name in {w.field for w in draft.warnings}:
            continue
        region = next((r for line in lines if (r := value_region(line, name, card.photo_x))), None)
        if region is None and name == "ethnicity" and sex_row is not None and "sex" in draft.values:
            # neither 民族 nor its value read (glare over both): they follow the sex on its
            # line, wherever a layout prints them
            region = rest_of_line(sex_row.line, card.photo_x, least=AFTER_SEX_ROOM)
        if region is not None:
            draft.look_again[name] = region


#: The rest of the sex's line holds 民族 and its value only when this many line heights
#: are left of it.
AFTER_SEX_ROOM = 2.0


def _read_birth(draft: Draft, card: FrontLayout) -> tuple[datetime.date | None, Chars]:
    kinds = card.kinds
    if "birth_date" not in kinds:
        return None, EMPTY
    chars = card.rows[kinds.index("birth_date")].value
    birth = parse_birth(chars.text)
    if birth is not None:
        draft.put("birth_date", birth.isoformat(), chars)
    return birth, chars


@dataclass(slots=True)
class AddressBlock:
    """The address as read: its characters, the lines they came from, and whether a part of
    a line or a whole line between two read ones was lost."""

    chars: Chars = EMPTY
    lines: list[tuple[Line, Chars]] = field(default_factory=list)
    hole: bool = False


def _address_rows(card: FrontLayout) -> tuple[Chars, Line | None, list[Row]]:
    """The address text on its label's line (with that line) and the rows below it."""
    if card.glued_starts_address:
        return EMPTY, None, []
    if card.tail:
        return _cut_number(card.tail[0].value), card.tail[0].line, card.tail[1:]
    kinds = card.kinds
    after = max((i for i, k in enumerate(kinds) if k in ("sex", "birth_date")), default=-1)
    rows = [r for r in card.rows[after + 1 :] if r.kind is None] if after >= 0 else []
    return EMPTY, None, rows


def _address_block(card: FrontLayout) -> AddressBlock:
    """The labelled line and the aligned lines below it, down to the number (below the
    address label no other label is printed: every line there is address).

    Address lines start one under the other; a line that starts further right, or a line
    of text in the value column away from its start, lost its beginning."""
    width, value_x = card.width, card.value_x
    first, prev, rows = _address_rows(card)
    block = AddressBlock(first, [(prev, first)] if prev is not None and first.text else [])
    starts = [first.x0] if prev is not None and _starts_box(first, prev) else []
    for row in rows:
        # a character left in the label column is an unread label (`址` alone) or noise;
        # so is a box that ends where the value column starts (a misread `住址`), unless
        # it begins there too (the address's wrapped last character or two)
        # the column: where the address's lines begin, once one was read there
        column = min([value_x, *starts])
        value = drop_label_boxes(row.line.chars(), value_x - 0.04 * width, value_x + 0.02 * width, column)
        if not value.text:
            continue
        gap = row.line.cy - prev.cy if prev is not None else 0.0
        if prev is not None and gap > 2.5 * max(prev.height, 1.0):
            break
        # address lines follow each other 0.9-1.5 line heights apart: twice that, and a
        # whole line between them was not detected
        block.hole |= prev is not None and gap > LINE_LOST * max(prev.height, 1.0)
        if abs(value.x0 - value_x) > 0.06 * width:
            block.hole |= value.x0 > value_x and len(value) >= 2  # else a speck of noise
            continue
        value = _cut_number(value)
        block.chars = block.chars + value
        if value.text:
            block.lines.append((row.line, value))
        if _starts_box(value, row.line):
            starts.append(value.x0)
        prev = row.line
    block.hole |= len(starts) > 1 and max(starts) - min(starts) > 0.025 * width
    if card.glued.text:
        block.chars = block.chars + card.glued
    return block


#: The last address line ends this many line heights short of the others' right edge (or,
#: for a one-line address, of the photo) or less: it reaches the margin, and the address
#: may go on on the next line.
FULL_LINE_SLACK = 1.0
ONE_LINE_SLACK = 2.0
#: Address lines are this many line heights apart where only one line was read.
LINE_PITCH = 1.3


def _after_address(block: AddressBlock, card: FrontLayout) -> Region | None:
    """Where more of the address would be printed if some of it was not read: right of its
    last line up to the margin when that line ends short of it, else (the line reaches the
    margin) the next line's place, when there is room for one above the number line.
    None when the block is full."""
    if not block.lines:
        return None
    heights = sorted(line.height for line, _ in block.lines)
    h = max(heights[len(heights) // 2], 1.0)
    last_line, last = block.lines[-1]
    end = last.xs[-1][1]
    if len(block.lines) > 1:
        others = block.lines[:-1]
        reach = max(chars.xs[-1][1] for _, chars in others)
        # as many characters as the longest line before it, by printed width: 一组154 is
        # five characters but prints as three and a half (号 lost after it)
        longest = max(printed_width(c.text) for _, c in others)
        full = end >= reach - FULL_LINE_SLACK * h or printed_width(last.text) >= longest
        gaps = [b.cy - a.cy for (a, _), (b, _) in zip(block.lines, block.lines[1:], strict=False)]
        pitch = sorted(gaps)[len(gaps) // 2]
    else:
        reach = max(end, card.photo_x - ONE_LINE_SLACK * h)
        full = end >= reach
        pitch = LINE_PITCH * h
    if not full:
        return (end + 0.1 * h, last_line.y0 - 0.1 * h, reach + 0.5 * h, last_line.y1 + 0.1 * h)
    below = last_line.cy + pitch
    if below + 0.6 * h > card.number_top:
        return None
    # the lines start one under the other, where a box of their own begins
    start = min((chars.x0 for line, chars in block.lines if _starts_box(chars, line)), default=card.value_x)
    # the place begins below the last line's print (lines of a tight pitch nearly touch)
    top = max(below - 0.65 * h, last_line.y1)
    return (start - 0.2 * h, top, reach + 0.5 * h, below + 0.65 * h)


#: A line of the address before its last that ends this many line heights or more short of
#: the furthest line lost its end: a printer wraps a line only when the next character does
#: not fit, so a wrapped line is less than one character short.
SHORT_LINE = 1.5


def _lost_line_end(block: AddressBlock) -> Region | None:
    """Where a line before the address's last would go on when it ends SHORT_LINE heights
    short of the furthest line and holds fewer characters than another (新疆维吾尔自治区
    read without its 阿勒泰 under glare, the next line going on 地区青河县…); None when no
    line does."""
    if len(block.lines) < 2:
        return None
    heights = sorted(line.height for line, _ in block.lines)
    h = max(heights[len(heights) // 2], 1.0)
    reach = max(chars.xs[-1][1] for _, chars in block.lines)
    most = max(len(chars) for _, chars in block.lines)
    for line, chars in block.lines[:-1]:
        end = chars.xs[-1][1]
        # a line of as many characters as any is full: a printer that wraps by count ends
        # a line of digits short (道红旗大街405号3栋 under 山西省临汾市蒲县沙河街)
        if end < reach - SHORT_LINE * h and len(chars) < most:
            return (end + 0.1 * h, line.y0 - 0.1 * h, reach + 0.5 * h, line.y1 + 0.1 * h)
    return None


#: An address line's box this many times as wide for each character it was read to hold as
#: the other lines' boxes, with a character read in doubt, lost a character it still
#: spans: 14幢1203 in the box of 号14幢1203 (its 号 wrapped from 128号, left unread; its 1
#: at 0.61) was 1.32 times as wide. Lines read whole were 1.15 times at most (two seeds,
#: 454 lines of three characters or more), but a line of wide digits sure of every one
#: (3栋904 in AR PL UKai) 1.29 times...
LOST_CHARACTER_WIDTH = 1.2
LOST_CHARACTER_DOUBT = 0.9
#: ...when the box holds three characters' print or more: a shorter one's margins weigh as
#: much as a character (9号 read whole was 1.32 times as wide).
LOST_CHARACTER_LINE = 3.0


def _lost_character(block: AddressBlock) -> bool:
    """Whether a box wholly of the address, with a character read below
    LOST_CHARACTER_DOUBT, is LOST_CHARACTER_WIDTH times as wide per printed character
    (`printed_width`) as the median of the address's other boxes (not places read again:
    their extent is estimated from their text)."""
    widths = []  # (printed width, pixels per printed character, a character in doubt)
    for line, chars in block.lines:
        for item in line.items:
            text = chars_of(item).text
            if text and not item.placed and chars.src.count(item.index) == len(text):
                printed = printed_width(text)
                doubt = min(item.chars, default=1.0) < LOST_CHARACTER_DOUBT
                widths.append((printed, (item.x1 - item.x0) / printed, doubt))
    for i, (printed, pace, doubt) in enumerate(widths):
        others = sorted(p for j, (_, p, _) in enumerate(widths) if j != i)
        usual = others[len(others) // 2] if others else math.inf
        if doubt and printed >= LOST_CHARACTER_LINE and pace >= LOST_CHARACTER_WIDTH * usual:
            return True
    return False


def _read_address(
    draft: Draft, card: FrontLayout, looked: Collection[str], reading: idnumber.IdReading | None
) -> None:
    """The address when all of its lines were read: none lost between two read ones or
    begun mid-way, and nothing printed after its end, right of its last line (up to the
    margin) or, when that line reaches the margin, on the next line's place. That place
    is asked to be read again (`Draft.look_again`); once it has been (`looked`), what was
    read there is among the lines, and nothing read means nothing printed. A line before
    the last that ends well short of the furthest one (`_lost_line_end`) has its end's
    place asked for the same way, and the address waits for it. Until then (and for a
    caller that cannot read places again, or read something there it could not make
    out), the last character decides: a house, flat or village word closes an address
    (`vocab.ADDRESS_ENDINGS`). Lines that hold nothing but the number's region's place
    names (`_in_the_places`) do not count in its score floor."""
    block = _address_block(card)
    address = block.chars
    if not address.text:
        return
    if block.hole:
        draft.warn("address_incomplete", "a line of the address was read only in part", "address")
        return
    if _lost_character(block):
        draft.warn("address_incomplete", "a line of the address is wider than what was read of it", "address")
        return
    region = _after_address(block, card)
    lost = None if "address_line" in looked else _lost_line_end(block)
    if lost is not None:
        draft.look_again["address_line"] = lost
    last = address.text[-1]
    if region is not None and "address" not in looked:
        draft.look_again["address"] = region
        if last not in ADDRESS_ENDINGS:
            draft.warn(
                "address_incomplete",
                f"the address ends in {last!r} and the place after it was not read: its end may be lost",
                "address",
            )
            return
    if lost is not None:
        draft.warn(
            "address_incomplete",
            "a line of the address ends short of the lines after it and its end was not read",
            "address",
        )
        return
    value = address_text(address.text)
    if not_address_chars(value):
        draft.warn(
            "value_low_confidence", "the address was read with a mark no address is written with", "address"
        )
        return
    draft.put("address", value, address, _in_the_places(block, value, reading))
    _offer_places(draft, block, value, reading)


def _offer_places(draft: Draft, block: AddressBlock, value: str, reading: idnumber.IdReading | None) -> None:
    """When the address begins with no known place, its box's readings with the known
    place names one misread character away (`places.address_candidates`) are offered to
    the engine's second opinion (`Draft.candidates`): the glyphs tell 泸定县 from 康定县
    where 沪定县 was read, which the place table cannot."""
    if reading is None or not reading.checksum_ok or len(value) != len(block.chars):
        return
    code = reading.number[:6]
    if places.check_address(value, code).status != "unknown":
        return
    items = {item.index: item for line, _ in block.lines for item in line.items}
    offered: dict[int, list[str]] = {}
    for other in places.address_candidates(value, code):
        at = [i for i, (a, b) in enumerate(zip(value, other, strict=True)) if a != b]
        if len(at) != 1 or block.chars.src[at[0]] not in items:
            continue
        box = block.chars.src[at[0]]
        first = block.chars.src.index(box)  # the box's letters in the address, from here
        mine = "".join(ch for ch, src in zip(block.chars.text, block.chars.src, strict=True) if src == box)
        start = chars_of(items[box]).text.find(mine)  # after the label the box may begin with
        if start >= 0:
            text = _with_letter(items[box].text, start + at[0] - first, other[at[0]])
            offered.setdefault(box, []).append(text)
    for box, texts in offered.items():
        draft.candidates[box] = tuple(texts)


def _with_letter(text: str, at: int, letter: str) -> str:
    """`text` (a box's, as read) with its `at`-th letter (spaces not counted) replaced."""
    letters = [i for i, ch in enumerate(text) if not ch.isspace()]
    return text[: letters[at]] + letter + text[letters[at] + 1 :]


def _in_the_places(block: AddressBlock, value: str, reading: idnumber.IdReading | None) -> frozenset[int]:
    """The boxes of the address lines that hold nothing but the place names of the
    number's region, read right or repairable to them (`places.check_address`), the next
    line going on with those names: what such a line says is the place table's, however
    doubtfully it was read (新疆维吾尔自治区博尔塔 under glare read 新疆址口小治区博尔塔, the
    next line 拉蒙古自治州温泉县柳树…). A line that ends where the names end is not among
    them: a character lost at its end would be the street's."""
    if reading is None or not reading.checksum_ok or len(value) != len(block.chars):
        return frozenset()
    place = places.check_address(value, reading.number[:6], restore_lost=True)
    if place.status not in ("region", "corrected"):
        return frozenset()
    out: set[int] = set()
    end = 0
    for line, chars in block.lines[:-1]:
        start, end = end, end + len(chars)
        if end > place.span and _sure_beyond(line, chars[place.span - start :]):
            out |= chars.boxes()
        if end >= place.span:
            break
        out |= chars.boxes()
    return frozenset(out)


def _sure_beyond(line: Line, beyond: Chars) -> bool:
    """Whether the characters of a line after the place names (`beyond`) were each read
    at SURE_BEYOND_PLACES or more, by scores the engine gave per character: the line's
    doubt is then all in the names, which the place table settles (南涧彝族自治县白水街道长
    read 南润舞族自治县白水街道长, 润 at 0.26 and 舞 at 0.71, the street at 1.0)."""
    given = all(item.chars for item in line.items if item.index in beyond.boxes())
    return given and min(beyond.scores, default=0.0) >= SURE_BEYOND_PLACES


def _check_address_place(draft: Draft, reading: idnumber.IdReading | None) -> None:
    """The address's province, city and county against the place table: misread names of
    the number's region repaired (with a warning), unknown ones left out (with a warning)."""
    address = draft.values.get("address")
    if address is None:
        return
    code = reading.number[:6] if reading is not None and reading.checksum_ok else None
    # a character left out is restored only from lines read without doubt: one read with
    # doubt may have lost more than one, or misread others beyond the place names
    sure = draft.confidence.get("address", 0.0) >= MIN_SCORE_TO_RESTORE
    place = places.check_address(address, code, restore_lost=sure)
    if place.status == "corrected":
        draft.values["address"] = place.address
        draft.warn(
            "address_corrected",
            f"{place.changed} character(s) of the place names, "
            "misread or left out, were replaced by the names of the number's region",
            "address",
        )
    elif place.status == "unknown":
        draft.drop(
            "address", "place_unknown", "the address does not begin with a known province, city or county"
        )


def _look_for_birth(draft: Draft, card: FrontLayout, printed: Chars, looked: Collection[str]) -> None:
    """A birth line whose date was read in part from its start, or not at all (glare over
    `年1月23日`, which the detector then missed): the place right of what was read is asked
    to be read again. Not when the date's start was lost (`年9月3日`): nothing follows it."""
    if "birth_date" not in card.kinds or "birth_date" in looked or birth_month_day(printed.text):
        return
    line = card.rows[card.kinds.index("birth_date")].line
    region = end_region(line, card.photo_x)
    if region is not None:
        draft.look_again["birth_date"] = region


def _birth_from_number(draft: Draft, printed: Chars, reading: idnumber.IdReading | None) -> None:
    """A birth date read only in part: when its year and month, or its month and day (the
    year lost), agree with a number that passes its checksum, or, for a line that took in
    letters printed behind it, when it holds the number's whole date among them in order
    (1994年4MSF2月22日: microprint between the columns, its Z read 2), the number's date
    (with a warning); else a warning alone."""
    number_birth = idnumber.birth_date(reading.number) if reading and reading.checksum_ok else None
    if number_birth is None:
        agrees = False
    elif has_background_letters(printed.text):  # its digits may be the letters' (Z read 2)
        agrees = holds_in_order(printed.text, number_birth)
    else:
        agrees = birth_year_month(printed.text) == (number_birth.year, number_birth.month) or (
            birth_month_day(printed.text) == (number_birth.month, number_birth.day)
        )
    if not agrees or number_birth is None:
        draft.warn("value_unparsed", "the birth date could not be read as a date", "birth_date")
        return
    draft.warn(
        "birth_date_from_id",
        "the printed birth date was legible only in part (year and month, or month and day, "
        "or the date among letters printed behind it); the rest is the identity number's",
        "birth_date",
    )
    draft.put("birth_date", number_birth.isoformat(), printed)
