"""The back of the resident identity card: issuing authority and validity period."""

from __future__ import annotations

from .checks import check_back
from .dates import looks_like_validity, parse_validity
from .layout import (
    EMPTY,
    Chars,
    Item,
    after_label,
    drop_label_boxes,
    group_lines,
    without_misread_labels,
)
from .reading import Draft
from .vocab import BACK_LABELS, BACK_TITLES, match_label, normalise_place

#: Where values start on a back (share of the card width), when no label says so.
VALUE_X = 0.38

_AUTHORITY_WORDS = ("公安局", "分局", "公安")


def parse_back(items: list[Item], width: int, height: int, draft: Draft) -> None:
    """Fill `draft` with the back fields and the validity check."""
    lines = [
        line for line in without_misread_labels(group_lines(items))
        if not any(t in line.chars().text for t in BACK_TITLES)
    ]
    rows: list[tuple[str | None, Chars]] = []
    starts = []
    for line in lines:
        chars = line.chars()
        labelled = after_label(line, BACK_LABELS)
        if labelled is None:
            label = match_label(chars.text, BACK_LABELS)
            labelled = (label[0], chars[len(label[1]):]) if label else None
        if labelled is not None:
            kind, value = labelled
            rows.append((kind, value))
            if value.text:
                starts.append(value.x0)
        else:
            rows.append((None, chars))
    value_x = sorted(starts)[len(starts) // 2] if starts else VALUE_X * width
    kinds = [k for k, _ in rows]

    # validity: the labelled line, else a line of dates
    valid_at = kinds.index("validity") if "validity" in kinds else None
    if valid_at is None:
        valid_at = next((i for i, (_, c) in enumerate(rows) if looks_like_validity(c.text)), None)
    if valid_at is not None:
        value = rows[valid_at][1]
        if kinds[valid_at] is None:
            value = drop_label_boxes(value, value_x - 0.03 * width, value_x + 0.02 * width)
        period = parse_validity(value.text)
        if period is None:
            draft.warn("value_unparsed", "the validity period could not be read", "valid_from")
        else:
            start, end = period
            if start is None:
                draft.warn("value_unparsed", "the start of the validity period could not be "
                           "read", "valid_from")
            else:
                draft.put("valid_from", start.isoformat(), value)
            if end is None:
                draft.warn("value_unparsed", "the end of the validity period could not be read",
                           "valid_to")
            else:
                draft.put("valid_to", end if isinstance(end, str) else end.isoformat(), value)

    # authority: the labelled line and the aligned lines below it, else a 公安 line
    authority = EMPTY
    stop = valid_at if valid_at is not None else len(rows)
    if "issuing_authority" in kinds:
        at = kinds.index("issuing_authority")
        authority = rows[at][1]
        for kind, chars in rows[at + 1: stop]:
            if kind is None and abs(chars.x0 - value_x) < 0.06 * width:
                authority = authority + chars
    else:
        for kind, chars in rows[:stop]:
            if kind is None and any(w in chars.text for w in _AUTHORITY_WORDS):
                authority = drop_label_boxes(chars, value_x - 0.03 * width,
                                             value_x + 0.02 * width)
    draft.put("issuing_authority", normalise_place(authority.text), authority)
    check_back(draft)
