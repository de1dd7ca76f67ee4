"""The back of the resident identity card: issuing authority and validity period."""

from __future__ import annotations

import datetime
import math
from collections.abc import Collection

from . import places
from .checks import check_back
from .dates import looks_like_validity, parse_validity
from .layout import (
    EMPTY,
    Chars,
    Item,
    Line,
    after_label,
    drop_label_boxes,
    group_lines,
    holding,
    level_with,
    on_card,
    room_beside,
    without_misread_labels,
)
from .reading import Draft
from .vocab import BACK_LABELS, BACK_TITLES, match_label, normalise_place, squeeze

#: Where values start on a back (share of the card width), when no label says so.
VALUE_X = 0.38

_AUTHORITY_WORDS = ("公安局", "分局", "公安")


def _pieces(chars: Chars, gap: float) -> list[Chars]:
    """`chars` split where characters were lost between two boxes (a gap wider than `gap`)."""
    out: list[Chars] = []
    start = 0
    for i in range(1, len(chars)):
        if chars.xs[i][0] - chars.xs[i - 1][1] > gap:
            out.append(chars[start:i])
            start = i
    if start < len(chars):
        out.append(chars[start:])
    return out


def _end_of(piece: Chars) -> datetime.date | str | None:
    """The last date (or 长期) of a piece of the period."""
    period = parse_validity(piece.text)
    if period is None:
        return None
    start, end = period
    return end if end is not None else start


def _read_period(
    value: Chars, column: float, unit: float
) -> tuple[datetime.date | None, datetime.date | str | None] | None:
    """Start and end of the printed period. Characters lost inside the line (a gap between
    boxes) or at its beginning (the value begins right of the value column) leave the
    pieces that were read on their own: a date is the start only where the start is
    printed, and the end only after it, never one made of parts of both."""
    pieces = _pieces(value, 1.2 * unit)
    at_column = value.x0 - column <= unit
    period = parse_validity(value.text)
    if not pieces:
        return period
    if len(pieces) == 1 and (at_column or (period is not None and None not in period)):
        return period
    start = None
    if at_column:
        head = parse_validity(pieces[0].text)
        start = head[0] if head is not None else None
    tail = pieces[-1] if len(pieces) > 1 or not at_column else None
    end = _end_of(tail) if tail is not None else None
    return None if start is None and end is None else (start, end)


def _without_label(value: Chars, value_x: float, width: int) -> Chars:
    """A validity line whose label was not read, without what is left of the label: the
    characters in the label column, but never a digit (no label holds one). Where the box
    begins at a remnant of the label (`有2017.08.25-…`: 效期限 lost under glare), the
    characters' places are shares of the box, and the date's first digits may seem to lie
    in the label column: the period then begins at its first digit."""
    kept = drop_label_boxes(value, value_x - 0.03 * width, value_x + 0.02 * width)
    dropped = value.text[: len(value) - len(kept)]
    if not any(ch.isdigit() for ch in dropped):
        return kept
    first = next(i for i, ch in enumerate(value.text) if ch.isdigit())
    return value[first:]


#: The start of a period without end (长期), which no period length checks, is left empty
#: when a digit of it scored below this, after the second opinion that such a digit asks
#: for (`pipeline._doubtful_lines`): 2014 read 2011, its last 1 at 0.52, then 0.63. A
#: start with an end is checked by the period's length.
LONG_TERM_DIGIT_SCORE = 0.7


def _put_period(draft: Draft, value: Chars, column: float, unit: float) -> None:
    period = _read_period(value, column, unit)
    if period is None:
        draft.warn("value_unparsed", "the validity period could not be read", "valid_from")
        return
    start, end = period
    digits = [c for c, ch in zip(value.scores, value.text, strict=True) if ch.isdigit()]
    if start is None:
        draft.warn("value_unparsed", "the start of the validity period could not be read", "valid_from")
    elif isinstance(end, str) and min(digits, default=1.0) < LONG_TERM_DIGIT_SCORE:
        draft.warn("value_low_confidence", "a digit of the period's start was read with doubt", "valid_from")
    else:
        draft.put("valid_from", start.isoformat(), value)
    if end is None:
        draft.warn("value_unparsed", "the end of the validity period could not be read", "valid_to")
    else:
        draft.put("valid_to", end if isinstance(end, str) else end.isoformat(), value)


def _join_dangling_labels(
    rows: list[tuple[str | None, Chars]], lines: list[Line], heights: list[float]
) -> tuple[list[tuple[str | None, Chars]], list[float]]:
    """A label line with no value, and right below it (less than a line apart, a photo's
    perspective having put them on two lines) an unlabelled line that starts right of
    the label: that line is the label's value."""
    out: list[tuple[str | None, Chars]] = []
    out_heights: list[float] = []
    skip = False
    for i, (kind, value) in enumerate(rows):
        if skip:
            skip = False
            continue
        if (
            kind is not None
            and not value.text
            and i + 1 < len(rows)
            and rows[i + 1][0] is None
            and lines[i + 1].cy - lines[i].cy < lines[i].height
            and rows[i + 1][1].x0 >= lines[i].items[0].x1
        ):
            value, skip = rows[i + 1][1], True
        out.append((kind, value))
        out_heights.append(heights[i])
    return out, out_heights


def _check_authority(draft: Draft, chars: Chars, items: list[Item]) -> None:
    """The authority names a known city or county, else it is left out (with a warning).
    When known names are one misread character away and the authority was read in one
    box, the box's readings with those names are offered to the engine's second opinion
    (`Draft.candidates`)."""
    value = draft.values.get("issuing_authority")
    if value is None or places.authority_known(value):
        return
    draft.drop(
        "issuing_authority",
        "place_unknown",
        "the issuing authority is not a public security bureau of a known city or county",
    )
    boxes = chars.boxes()
    near = places.authority_candidates(value)
    if len(boxes) != 1 or not near:
        return
    (box,) = boxes
    text = next(squeeze(i.text) for i in items if i.index == box)
    if text.endswith(chars.text):  # the box may begin with the label: so do its readings
        label = text[: len(text) - len(chars.text)]
        draft.candidates[box] = tuple(label + name for name in near)


def _in_authority(ch: str) -> bool:
    """Whether `ch` may be printed in an authority's name (XX县公安局, XX市公安局XX分局):
    never a Latin letter or a digit, which come from text printed behind it (microprint
    read after the label: 签发机关MSFE)."""
    return not (squeeze(ch).isascii() and ch.isalnum())


def parse_back(
    items: list[Item], width: int, height: int, draft: Draft, looked: Collection[str] = ()
) -> None:
    """Fill `draft` with the back fields and the validity check. `looked`: the places the
    caller has read again (see `Draft.look_again`)."""
    lines = [
        line
        for line in without_misread_labels(group_lines(on_card(items)))
        if not any(t in line.chars().text for t in BACK_TITLES)
    ]
    rows: list[tuple[str | None, Chars]] = []
    heights: list[float] = []
    starts = []
    for line in lines:
        chars = line.chars()
        heights.append(line.height)
        labelled = after_label(line, BACK_LABELS)
        if labelled is None:
            label = match_label(chars.text, BACK_LABELS)
            labelled = (label[0], chars[len(label[1]) :]) if label else None
        if labelled is not None:
            kind, value = labelled
            rows.append((kind, value))
            if value.text:
                starts.append(value.x0)
        else:
            rows.append((None, chars))
    value_x = sorted(starts)[len(starts) // 2] if starts else VALUE_X * width
    rows, heights = _join_dangling_labels(rows, lines, heights)
    kinds = [k for k, _ in rows]

    # validity: the labelled line, else a line of dates (or of the end alone: its label and
    # start lost under glare, `~~08.28-2040.08.28`, it is no more of the authority)
    valid_at = kinds.index("validity") if "validity" in kinds else None
    if valid_at is None:
        valid_at = next(
            (
                i
                for i, (_, c) in enumerate(rows)
                if looks_like_validity(c.text) or parse_validity(c.text) is not None
            ),
            None,
        )
    if valid_at is not None:
        value = rows[valid_at][1]
        if kinds[valid_at] is None:
            value = _without_label(value, value_x, width)
        column = min(starts) if starts else VALUE_X * width
        _put_period(draft, value, column, heights[valid_at])
        if "validity" not in looked:
            _look_around_validity(draft, lines, value, width)
        if not starts and value.text:
            # no label read: the dates begin the value column, which the authority shares
            # (贵南县公安局 at the dates' column lost its 贵 to the card's usual column)
            value_x = min(value_x, value.x0)

    # authority: the labelled line and the aligned lines below it, else a 公安 line
    authority = EMPTY
    stop = valid_at if valid_at is not None else len(rows)
    if "issuing_authority" in kinds:
        at = kinds.index("issuing_authority")
        authority = rows[at][1]
        for row_kind, chars in rows[at + 1 : stop]:
            if row_kind is None and abs(chars.x0 - value_x) < 0.06 * width:
                authority = authority + chars
    else:
        for row_kind, chars in rows[:stop]:
            if row_kind is None and any(w in chars.text for w in _AUTHORITY_WORDS):
                authority = drop_label_boxes(chars, value_x - 0.03 * width, value_x + 0.02 * width)
    authority = authority.only(_in_authority)
    draft.put("issuing_authority", normalise_place(authority.text), authority)
    _check_authority(draft, authority, items)
    if "issuing_authority" not in looked:
        _look_before_authority(draft, lines, authority)
    check_back(draft)


#: The rest of a validity period cut short (`2020.1` of 2020.11.17-长期, glare over the
#: rest) lies within this many line heights of its box: a whole period is about eleven.
VALIDITY_END_WIDTH = 11.0


def _look_around_validity(draft: Draft, lines: list[Line], value: Chars, width: int) -> None:
    """A validity period read in part (a date of it not parsed) in one box asks for that box
    to be read again with the room around it: left of it after the label's box and right
    of it up to the card's edge (`1.14-2035.11.14` begun late, `2020.1` ended early, the
    rest faded or outside the detector's box). The pipeline takes the reading when it
    holds the box's text and parses as a period, whose length is then checked."""
    if not value.src or ("valid_from" in draft.values and "valid_to" in draft.values):
        return
    if len(value.boxes()) != 1:
        return
    found = holding(lines, value.src[-1])
    if found is None or found[1] + 1 != len(found[0].items):
        return
    line, k = found
    box = line.items[k]
    left, right = room_beside(line, k, math.inf, VALIDITY_END_WIDTH, 0.98 * width)
    if left + right >= max(box.height, 1.0):
        draft.look_again["validity"] = level_with(box, box.x0 - left, box.x1 + right)


#: An authority's first character that the detector left out of its box lies within this
#: many line heights left of the box, after the label's box; less room holds none.
START_WIDTH = 1.6
START_ROOM = 0.8


def _look_before_authority(draft: Draft, lines: list[Line], authority: Chars) -> None:
    """An authority read whole, whose first box follows the label's box with room between
    them, asks for that box to be read again with the room: the detector's box of
    贵南县公安局 began after its 贵, and 南县公安局 (a county's too) was reported."""
    if "issuing_authority" not in draft.values or not authority.src:
        return
    found = holding(lines, authority.src[0])
    if found is None:
        return
    line, k = found
    box = line.items[k]
    left, _ = room_beside(line, k, START_WIDTH, 0.0, box.x1)
    if left >= START_ROOM * max(box.height, 1.0):
        draft.look_again["issuing_authority"] = level_with(box, box.x0 - left, box.x1)
