"""Text laid over the card (a KYC watermark, a stamp): told apart from the card's print.

Banks and shops stamp the copy of a card they keep with translucent text ("仅供办理银行开户
使用 他用无效"); the recogniser reads its characters into the values it crosses (a name
read 罗心明再次复印无效) or loses the values under it. That text is the card's own script,
so no vocabulary tells it apart; what does is how it lies on the card:

- it is translucent: against the paper around it (`against_paper`), its darkest strokes
  stay far lighter than the card's ink, which is printed black (a value's strokes reach
  0.1-0.5 of the paper's brightness, a watermark's 0.75-0.9);
- it runs at its own angle, mostly across the card's lines.

`laid_over` tells from the boxes the engine found whether such text is there;
`print_only` is the card with everything lighter than its ink turned to paper, for the
pipeline to read again (`pipeline`): it also drops the guilloche and microprint behind
the values, but it thins print that blur or glare has faded, so it is read only when
text was seen laid over the card.
"""

from __future__ import annotations

import math
from typing import Literal

import cv2
import numpy as np

from ocr_job import imaging
from ocr_job.engines.base import TextBox
from ocr_job.idcard.vocab import BACK_LABELS, FRONT_LABELS

#: The paper's brightness around each pixel is the brightest level within this share of the
#: picture's short side (a closing: wider than a character's strokes are apart, so it
#: finds the paper between them), smoothed.
PAPER_SPAN = 1 / 12
#: The closing is made at this scale (a sixteenth of the pixels; the paper varies slowly).
PAPER_SCALE = 0.25
#: `print_only`: levels up to PRINT_KEPT of the paper are kept, what is PRINT_WHITE or
#: lighter becomes paper, the levels between are stretched. A watermark at 20-35% of its
#: colour lies at 0.75-0.9 of the paper; printed values at 0.1-0.5, the thin strokes of a
#: photographed serif digit (a 4's diagonal) at 0.6-0.7: stretched from 0.12 up to 0.72,
#: they were lost (4 read +, 652 read 052).
PRINT_KEPT = 0.6
PRINT_WHITE = 0.8
#: `laid_over`: a line of two letters or more (a box longer along its angle than across,
#: not the emblem's stars read ★★) is laid over the card when it lies this many degrees off
#: the card's lines (`_slanted`; the card's lines lie within 2° of each other on a card
#: seen at a slant, a watermark's 15-45° off), ...
OFF_ANGLE = 8.0
#: ... or when its darkest strokes (the DARKEST_PERCENTILE of it) are this light against the
#: paper. Measured on the boxes of generated cards: the lightest box of a clean or
#: photographed card 0.1-0.7, of a hard one up to 0.77 (blur lightens print: 32 of 100 hard
#: cards had a box over 0.6, 5 over 0.7, 3 over 0.75); watermarked copies that no box off
#: the lines gave away, 0.77-0.8 (90 cards). A card taken for laid over when it was not is
#: read twice, and loses the values its print alone reads otherwise (`pipeline`).
LIGHT_PRINT = 0.72
DARKEST_PERCENTILE = 3


def against_paper(image: np.ndarray) -> np.ndarray:
    """Each pixel's luminance as a share of the paper's around it (float32, 0..~1)."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    h, w = grey.shape
    small = cv2.resize(grey, None, fx=PAPER_SCALE, fy=PAPER_SCALE, interpolation=cv2.INTER_AREA)
    span = max(3, round(min(h, w) * PAPER_SPAN * PAPER_SCALE)) | 1
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (span, span))
    paper = cv2.GaussianBlur(cv2.morphologyEx(small, cv2.MORPH_CLOSE, disc), (span, span), 0)
    paper = cv2.resize(paper, (w, h), interpolation=cv2.INTER_LINEAR)
    share: np.ndarray = grey.astype(np.float32) / np.maximum(paper.astype(np.float32), 1.0)
    return share


def print_only(image: np.ndarray) -> np.ndarray:
    """`image` (BGR) with what lies lighter than the card's ink turned to paper: a grey BGR
    picture of each pixel's share of the paper (`against_paper`), white paper, levels from
    PRINT_KEPT stretched to reach white at PRINT_WHITE."""
    share = against_paper(image)
    lifted = PRINT_KEPT + (share - PRINT_KEPT) * ((1.0 - PRINT_KEPT) / (PRINT_WHITE - PRINT_KEPT))
    level = np.clip(np.where(share <= PRINT_KEPT, share, lifted), 0.0, 1.0) * 255.0
    grey = level.astype(np.uint8)
    out: np.ndarray = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    return out


Laid = Literal["slanted", "translucent"]


def laid_over(image: np.ndarray, found: list[TextBox]) -> Laid | None:
    """Whether any of the boxes `found` in `image` (as the engine gave them) holds text
    laid over the card, a line of two letters or more: "slanted", off the card's lines
    (`_slanted`), else "translucent" (LIGHT_PRINT: so may print that blur has lightened);
    None: neither."""
    lines = _lines(found)
    if not lines:
        return None
    if _slanted(lines):
        return "slanted"
    share = against_paper(image)
    return "translucent" if any(_darkest(share, box) > LIGHT_PRINT for box in lines) else None


def off_the_lines(found: list[TextBox]) -> frozenset[int]:
    """The indices of the boxes `found` that are lines lying off the card's (`_slanted`)."""
    lines = _lines(found)
    off = _slanted(lines) if lines else []
    return frozenset(i for i, box in enumerate(found) if any(box is line for line in off))


def _slanted(lines: list[TextBox]) -> list[TextBox]:
    """The `lines` (`_lines`, at least one) lying OFF_ANGLE or more off the card's (the
    median angle of the lines surely printed on it, `_printed`, else of all): nothing
    printed on it lies so."""
    anchors = [box for box in lines if _printed(box)] or lines
    card = float(np.median([_angle(box) for box in anchors]))
    return [box for box in lines if abs((_angle(box) - card + 90.0) % 180.0 - 90.0) > OFF_ANGLE]


#: A line holding this many digits is the card's number: printed on it, as its labels are.
NUMBER_DIGITS = 15
_LABELS = tuple(s for spellings in (FRONT_LABELS | BACK_LABELS).values() for s in spellings)


def _printed(box: TextBox) -> bool:
    """Whether `box` is surely printed on the card: a label begins it, or it is the number
    (a watermark's lines may outnumber the card's, so they set the card's angle)."""
    text = "".join(box.text.split())
    return text.startswith(_LABELS) or sum(ch.isdigit() for ch in text) >= NUMBER_DIGITS


def _lines(found: list[TextBox]) -> list[TextBox]:
    """The boxes that are lines of two letters or more (not the emblem's stars read ★★)."""
    return [box for box in found if sum(ch.isalnum() for ch in box.text) >= 2 and _along(box)]


def _angle(box: TextBox) -> float:
    (x0, y0), (x1, y1) = box.points[0], box.points[1]
    return math.degrees(math.atan2(y1 - y0, x1 - x0))


def _along(box: TextBox) -> bool:
    """Whether the box is longer along its top edge than down its left one (a line)."""
    (a, b, _, d) = (np.array(p) for p in box.points)
    return bool(np.linalg.norm(b - a) >= np.linalg.norm(d - a))


def _darkest(share: np.ndarray, box: TextBox) -> float:
    """The DARKEST_PERCENTILE of `share` within the box's bounding box (0.0, as dark as ink,
    for a box under 2 px a side: nothing to tell)."""
    region = imaging.darkest_within(share, box.points)  # one channel: the region itself
    return 0.0 if region is None else float(np.percentile(region, DARKEST_PERCENTILE))
