"""Reading a Chinese identity card from the OCR engine's text boxes.

Pure: no images, no I/O, no engine. `parse` takes the boxes of one upright, cropped card
(in the card's own pixel coordinates) and returns the side, the fields, per-field
confidence, the checks that could be evaluated and warnings for a person to look at.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence

from ocr_job.engines.base import TextBox

from .back import LONG_TERM_DIGIT_SCORE
from .checks import period_ok, validity_rule_ok
from .dates import LONG_TERM, is_printed_period
from .layout import deskew, group_lines, runs_down, runs_sideways, undo_deskew, without_picture_regions
from .reading import CHECK_CODES, WARNING_CODES, CardReading
from .registry import card_types
from .vocab import name_meaning, period_meaning, place_meaning

__all__ = [
    "CHECK_CODES",
    "LONG_TERM",
    "LONG_TERM_DIGIT_SCORE",
    "WARNING_CODES",
    "CardReading",
    "is_printed_period",
    "name_meaning",
    "parse",
    "period_meaning",
    "period_ok",
    "place_meaning",
    "validity_rule_ok",
]


def parse(boxes: Sequence[TextBox], width: int, height: int, looked: Collection[str] = ()) -> CardReading:
    """Side, fields, confidence, checks and warnings of one card's text boxes.

    `reading.look_again` names the places where the layout says a value must be printed
    and none was read; a caller that reads them again adds what it found to `boxes` and
    parses once more with `looked` naming them (a place looked at and found empty is
    then taken as empty)."""
    items = deskew(boxes, width, height)
    if not items:
        return CardReading.nothing("no text was recognised")
    if runs_sideways(items) or runs_down(boxes):
        return CardReading.nothing("the text runs down the picture: the card lies on its side")
    items = without_picture_regions(items)
    lines = group_lines(items)
    best = None
    for card in card_types():
        side, score = card.detect(lines)
        if side is not None and (best is None or score > best[2]):
            best = (card, side, score)
    if best is None:
        return CardReading.nothing("no identity card text was recognised")
    card, side, _ = best
    reading = card.read(side, items, width, height, looked)
    if not reading.look_again:
        return reading
    regions = {name: undo_deskew(region, boxes, width, height) for name, region in reading.look_again.items()}
    return dataclasses.replace(reading, look_again=regions)
