"""Pictures of several cards: the A4 copy of a card's two sides (身份证正反面复印件), a photo
of the front and the back side by side, a scanned page holding one card.

`cards_apart` finds the card outlines on the picture (`imaging.CardSearch`, down to a
card on an A4 page seen from afar) that do not overlap, and straightens each; the pipeline
reads each as a card, and `combine` makes one reading of them: a front and a back become
one reading of side "both", with the fields of both sides, the checks of both, and the
checks that need both (`validity_matches_age`: the validity period fits the holder's age
at issue, 《居民身份证法》第五条).
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from ocr_job import idcard, imaging
from ocr_job.idcard.reading import CHECK_CODES, WARNING_CODES, CardReading
from ocr_job.records import BACK_FIELDS, FRONT_FIELDS, Fields, RecordWarning

#: The smallest card looked for, as a share of the picture: a card on an A4 page is 7.4%
#: of it, on a photo of the page with a margin of desk around it 4-6%.
MIN_CARD_SHARE = 0.025
#: Outlines overlapping by more than this share of the smaller one are one card (or a
#: detail of it, as the portrait's frame).
SAME_CARD_OVERLAP = 0.2
#: A second outline smaller than this share of the largest is no card of the same kind.
MIN_SIZE_RATIO = 0.5
#: At most this many cards are read apart (a front and a back).
MAX_CARDS = 2
#: A single outline below this share of the picture is a card the plain path (which
#: takes outlines of 12% and more) would not locate: it is read apart too.
PLAIN_MIN_SHARE = 0.12


def card_quads(image: np.ndarray, search: imaging.CardSearch | None = None) -> list[np.ndarray]:
    """The corners of the cards on `image`: disjoint outlines, largest first, none much
    smaller than the largest; at most MAX_CARDS. `search`: the picture's outline search,
    when the caller has made it already."""
    kept: list[np.ndarray] = []
    search = imaging.CardSearch.of(image, search)
    outlines = search.quads(MIN_CARD_SHARE, per_map=12, nested=True)
    outlines = [q for q in outlines if not _holds_two(q, outlines)]
    for quad in sorted(outlines, key=cv2.contourArea, reverse=True):
        if all(_overlap(quad, other) <= SAME_CARD_OVERLAP for other in kept):
            kept.append(quad)
    if not kept:
        return []
    largest = cv2.contourArea(kept[0])
    return [q for q in kept if cv2.contourArea(q) >= MIN_SIZE_RATIO * largest][:MAX_CARDS]


def _holds_two(outer: np.ndarray, outlines: list[np.ndarray]) -> bool:
    """Whether `outer` holds two disjoint outlines of like size (a photographed page
    holding the cards is card-shaped too): it is then no card."""
    size = cv2.contourArea(outer)
    inside = [q for q in outlines if cv2.contourArea(q) < 0.6 * size and _overlap(q, outer) > 0.9]
    return any(
        _overlap(a, b) <= SAME_CARD_OVERLAP and _alike(a, b)
        for i, a in enumerate(inside)
        for b in inside[i + 1 :]
    )


def _alike(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether `a` and `b` are of like size (the smaller at least MIN_SIZE_RATIO of the other)."""
    small, large = sorted((cv2.contourArea(a), cv2.contourArea(b)))
    return small >= MIN_SIZE_RATIO * large


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """The area `a` and `b` share, as a share of the smaller one."""
    shared, _ = cv2.intersectConvexConvex(a.astype(np.float32), b.astype(np.float32))
    smaller = min(cv2.contourArea(a), cv2.contourArea(b))
    return float(shared) / smaller if smaller > 0 else 1.0


def cards_apart(
    image: np.ndarray, long_side: int, search: imaging.CardSearch | None = None
) -> list[np.ndarray]:
    """The cards of a picture of several (or of one card small on a page), each
    straightened to `long_side` px; [] for a picture the plain path reads (one card
    taking a good part of it, or none found). `search`: the picture's outline search."""
    h, w = image.shape[:2]
    if abs(max(w, h) / min(w, h) / imaging.CARD_ASPECT - 1) < imaging.CROPPED_CARD_ASPECT:
        return []  # a picture cropped to one card: what is inside it are details of it
    quads = card_quads(image, search)
    if len(quads) < 2 and not (quads and cv2.contourArea(quads[0]) < PLAIN_MIN_SHARE * h * w):
        return []
    return [imaging.warp_card(image, quad, long_side) for quad in quads]


def combine(readings: list[CardReading]) -> CardReading | None:
    """One reading of the cards read apart: a front and a back → side "both"; else the
    best reading of one side (None when none was recognised)."""
    fronts = [r for r in readings if r.side == "front"]
    backs = [r for r in readings if r.side == "back"]
    if fronts and backs:
        return both(max(fronts, key=_present), max(backs, key=_present))
    sided = [r for r in readings if r.side is not None]
    return max(sided, key=_present) if sided else None


def _present(reading: CardReading) -> int:
    return sum(v is not None for v in reading.fields.model_dump().values())


#: The check that needs both sides, and the warning its failure raises.
VALIDITY_MATCHES_AGE = "validity_matches_age"


def both(front: CardReading, back: CardReading) -> CardReading:
    """The front's fields and the back's as one reading, with every check of each and
    `validity_matches_age` when the birth date and the period were read."""
    values = {name: getattr(front.fields, name) for name in FRONT_FIELDS}
    values.update({name: getattr(back.fields, name) for name in BACK_FIELDS})
    checks = {**front.checks, **back.checks}
    warnings = [*_own(front.warnings, FRONT_FIELDS), *_own(back.warnings, BACK_FIELDS)]
    birth, start, end = values["birth_date"], values["valid_from"], values["valid_to"]
    if birth and start and end:
        ok = idcard.validity_rule_ok(birth, start, end)
        checks[VALIDITY_MATCHES_AGE] = ok
        if not ok:
            code = CHECK_CODES[VALIDITY_MATCHES_AGE]
            warnings.append(RecordWarning(code=code, message=WARNING_CODES[code], field="valid_to"))
    return dataclasses.replace(
        front,
        side="both",
        fields=Fields(**values),
        confidence={**front.confidence, **back.confidence},
        checks=checks,
        warnings=warnings,
        sources={},
        look_again={},
        candidates={},
    )


def _own(warnings: list[RecordWarning], fields: tuple[str, ...]) -> list[RecordWarning]:
    """The warnings of one side that are about it: not those about the other side's
    fields (a front's reading knows nothing of the back)."""
    return [w for w in warnings if w.field is None or w.field in fields]
