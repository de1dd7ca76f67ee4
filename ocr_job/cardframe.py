"""The card's extent from its own print: where the ID-1 card lies, predicted from the
layout of the text read on it.

The resident ID card (GA 450) is an ID-1 card, 85.6 × 54 mm, printed to one layout: on the
front the labels 姓名 性别 出生 住址 in a column and the 公民身份号码 line near the bottom;
on the back the title block (中华人民共和国 / 居民身份证) centred right of the emblem, and
the 签发机关 and 有效期限 lines near the bottom. Three anchors fix the card's place and size
in the read text's coordinates: the highest and the lowest of those lines found (their
distance gives the scale, px a mm) and one across (the front's label column's left end,
the back's titles' centre).

Each anchor's place on the card is a range, not a number: the GA 450 place widened to hold
every layout style the generator draws (label spacing, line pitch and fonts differ as they
do between card printers: `ocr_job.synth.layouts`), plus MEASURE_MM for where a detector's
box puts a line on a photographed card. Every combination of the anchors within their
ranges is a card the print allows: `Frame.outer` is the largest of them (the card lies
inside it), `Frame.inner` the smallest (the card covers it), `Frame.nominal` the middle one.
The lines are measured along the card's own text (a card may lie askew on a page whose
lines set the picture's skew).

`predict` works in the parser's upright geometry; the caller maps the frames into the view
read and the picture (`Frame.mapped`).
"""

from __future__ import annotations

import difflib
import functools
import itertools
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ocr_job.engines.base import TextBox
from ocr_job.idcard.reading import CardReading
from ocr_job.idcard.vocab import BACK_LABELS, BACK_TITLES, FRONT_LABELS, match_label, squeeze

#: The card (ID-1), mm.
CARD_MM = (85.6, 54.0)
#: Where a detector's box puts a line's middle or a column's end on a photographed card,
#: beyond the styles' own spread: ±1 mm (a third of a 小5号 line).
MEASURE_MM = 0.5
#: Front, mm from the card's top: the middle of each label's line, and the label column's
#: left end. GA 450 (as the `realdesign` style draws it) widened to every style the generator
#: draws: the engine's boxes on eight clean cards of each of the four styles (per-card jitter
#: included) lie within each range.
FRONT_ROWS: dict[str, tuple[float, float]] = {
    "name": (8.0, 11.0), "sex": (15.2, 17.4), "ethnicity": (15.2, 17.4), "birth_date": (21.2, 24.7),
    "address": (26.8, 31.7), "id_number": (45.8, 49.2),
}  # fmt: skip
LABEL_X = (3.2, 7.5)
#: Back: the middle of the titles' lines (中华人民共和国, 居民身份证), of the authority's and
#: of the validity's; and the titles' centre across the card (measured as the front's).
BACK_ROWS: dict[str, tuple[float, float]] = {
    "title": (9.4, 12.4), "subtitle": (19.3, 21.2), "issuing_authority": (39.3, 42.2),
    "validity": (44.8, 48.5),
}  # fmt: skip
TITLE_X = (52.2, 53.7)
#: The top and bottom lines used are this far apart at least (mm, as printed): across a
#: shorter distance the styles' spread of each line (2–5 mm) makes the scale too uncertain
#: (the front's name or sex line and its number line, the back's title and its authority or
#: validity line are 27–38 mm apart; the address and the number line only 14).
MIN_LEVER_MM = 25.0
#: A line of the card is 2–6.5 mm high (6号 labels to 2号 titles, with the box's margins):
#: a scale that makes the anchor lines' boxes another height is not this card's.
LINE_MM = (2.0, 9.0)


@dataclass(frozen=True)
class Frame:
    """The card the print allows, as corners (top-left, top-right, bottom-right,
    bottom-left of the upright card, float64 4×2): the middle one, the smallest (the card
    covers it) and the largest (the card lies inside it)."""

    nominal: np.ndarray
    inner: np.ndarray
    outer: np.ndarray

    def mapped(self, to: Callable[[np.ndarray], np.ndarray]) -> Frame:
        """The frame with every corner mapped by `to` (N×2 → N×2)."""
        return Frame(to(self.nominal), to(self.inner), to(self.outer))


@dataclass(frozen=True)
class _Row:
    """A line of the card found among the boxes: where it lies (px) and where it is printed (mm)."""

    middle: float
    printed: tuple[float, float]
    height: float


def predict(boxes: Sequence[TextBox], reading: CardReading) -> Frame | None:
    """The card's frame in the coordinates of `boxes` (the upright boxes `reading` was
    parsed from), or None when its side's anchors were not read: a line near the top and
    one near the bottom (or they disagree with the lines' heights), and one across.

    The card's lines may lie at an angle to the picture's (a card askew on a printed page,
    whose lines set the skew the boxes were turned by): the frame is measured along the
    card's own lines (the top edges of the anchors' boxes) and turned back."""
    if reading.card_type != "resident_id" or reading.side not in ("front", "back"):
        return None
    if reading.side == "front":
        found = _labels(boxes, FRONT_LABELS)
        across = [b for name, bs in found.items() if name != "ethnicity" for b in bs]  # the label column
        _add_sources(found, boxes, reading, ("id_number",))
        printed, printed_across = FRONT_ROWS, LABEL_X
    else:
        found = _labels(boxes, BACK_LABELS)
        _add_sources(found, boxes, reading, ("issuing_authority", "valid_from"), {"valid_from": "validity"})
        for name, title in zip(("title", "subtitle"), BACK_TITLES, strict=True):
            found[name] = [b for b in boxes if _close(squeeze(b.text), title)]
        across = found["title"] + found["subtitle"]  # centred on the card
        printed, printed_across = BACK_ROWS, TITLE_X
    angle = _angle([b for row in found.values() for b in row])
    rows = _rows({name: [_Along(b, angle) for b in row] for name, row in found.items()}, printed)
    if not across or len(rows) < 2:
        return None
    along = [_Along(b, angle) for b in across]
    at = statistics.median(b.x0 if reading.side == "front" else b.cx for b in along)
    frame = _frame(rows[0], rows[-1], at, printed_across, [r.height for r in rows])
    return None if frame is None else frame.mapped(functools.partial(_turned, angle=angle))


class _Along:
    """A box measured along lines at `angle` (radians) to the x axis: its extent in the
    coordinates turned by −angle, its height across its own top edge."""

    def __init__(self, box: TextBox, angle: float) -> None:
        points = _turned(np.array(box.points, dtype=np.float64), -angle)
        self.x0, self.cx = float(points[:, 0].min()), float(points[:, 0].mean())
        self.cy = float(points[:, 1].mean())
        self.height = float(np.linalg.norm((points[3] + points[2] - points[0] - points[1]) / 2))


def _turned(points: np.ndarray, angle: float) -> np.ndarray:
    """`points` (N×2) turned by `angle` (radians) about the origin."""
    c, s = math.cos(angle), math.sin(angle)
    out: np.ndarray = np.asarray(points, dtype=np.float64) @ np.array([[c, s], [-s, c]])
    return out


def _angle(boxes: Sequence[TextBox]) -> float:
    """The angle (radians) of the card's lines: the length-weighted median direction of the
    boxes' top edges, of those that are lines (longer than 1.5 times their side)."""
    edges = []
    for box in boxes:
        (x0, y0), (x1, y1), _, (x3, y3) = box.points
        length = math.hypot(x1 - x0, y1 - y0)
        if x1 > x0 and length > 1.5 * math.hypot(x3 - x0, y3 - y0):
            edges.append((math.atan2(y1 - y0, x1 - x0), length))
    if not edges:
        return 0.0
    edges.sort()
    half, total = sum(w for _, w in edges) / 2, 0.0
    for angle, weight in edges:
        total += weight
        if total >= half:
            return angle
    return edges[-1][0]


def _labels(boxes: Sequence[TextBox], labels: dict[str, tuple[str, ...]]) -> dict[str, list[TextBox]]:
    """The boxes that start with a label, by the label's field."""
    out: dict[str, list[TextBox]] = {}
    for box in boxes:
        label = match_label(squeeze(box.text), labels)
        if label is not None:
            out.setdefault(label[0], []).append(box)
    return out


def _add_sources(found: dict[str, list[TextBox]], boxes: Sequence[TextBox], reading: CardReading,
                 fields: tuple[str, ...], rows: dict[str, str] | None = None) -> None:  # fmt: skip
    """Add to `found` the boxes each of `fields` was read from (under its row's name)."""
    for name in fields:
        which = reading.sources.get(name) or frozenset()
        row = found.setdefault((rows or {}).get(name, name), [])
        row.extend(boxes[i] for i in sorted(which) if i < len(boxes) and boxes[i] not in row)


def _rows(found: dict[str, list[_Along]], printed: dict[str, tuple[float, float]]) -> list[_Row]:
    """The card's lines found, top to bottom as printed."""
    rows = [
        _Row(statistics.median(b.cy for b in row), printed[name], statistics.median(b.height for b in row))
        for name, row in found.items()
        if row and name in printed
    ]
    return sorted(rows, key=lambda r: r.printed)


def _frame(top: _Row, bottom: _Row, across: float, printed_across: tuple[float, float],
           heights: list[float]) -> Frame | None:  # fmt: skip
    """The frames of every card whose top row, bottom row and column (mm ranges, widened by
    MEASURE_MM) lie at `top`, `bottom` (px, down) and `across` (px)."""
    span = bottom.middle - top.middle
    if span <= 0 or bottom.printed[0] - top.printed[1] < MIN_LEVER_MM:
        return None
    ranges = (top.printed, bottom.printed, printed_across)
    cards = []
    for t, b, a in itertools.product(*((lo - MEASURE_MM, hi + MEASURE_MM) for lo, hi in ranges)):
        scale = span / (b - t)  # px a mm
        x0, y0 = across - a * scale, top.middle - t * scale
        cards.append((x0, y0, x0 + CARD_MM[0] * scale, y0 + CARD_MM[1] * scale, scale))
    lo, hi = min(c[4] for c in cards), max(c[4] for c in cards)
    if not all(LINE_MM[0] * lo <= h <= LINE_MM[1] * hi for h in heights):
        return None
    edges = np.array(cards)[:, :4]
    outer = (*edges[:, :2].min(axis=0), *edges[:, 2:].max(axis=0))
    inner = (*edges[:, :2].max(axis=0), *edges[:, 2:].min(axis=0))
    nominal = tuple((o + i) / 2 for o, i in zip(outer, inner, strict=True))
    return Frame(_corners(nominal), _corners(inner), _corners(outer))


def _corners(box: tuple[float, ...]) -> np.ndarray:
    x0, y0, x1, y1 = (float(v) for v in box)
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def _close(text: str, title: str) -> bool:
    """`text` is `title` with at most one character misread, missing or added."""
    if abs(len(text) - len(title)) > 1:
        return False
    blocks = difflib.SequenceMatcher(None, text, title, autojunk=False).get_matching_blocks()
    same = sum(m.size for m in blocks)
    return same >= len(title) - 1
