"""居民身份证 (resident identity card) as a registered card type."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from ocr_job.records import BACK_FIELDS, FRONT_FIELDS, Side

from . import idnumber, places
from .back import parse_back
from .dates import looks_like_birth, looks_like_validity
from .front import parse_front
from .layout import Item, Line
from .reading import CardReading, Draft
from .vocab import BACK_LABELS, BACK_TITLES, FRONT_LABELS

#: Evidence needed before a side is believed.
MIN_SCORE = 2.0


def _has_label(text: str, spellings: tuple[str, ...]) -> bool:
    return any(s in text for s in spellings)


def front_score(texts: list[str]) -> float:
    """One point per front label seen, plus the number, the birth line and an address line
    (`_address_like`: a front whose pale labels and number glare hid still says which side
    it is)."""
    joined = "\n".join(texts)
    score = float(sum(_has_label(joined, s) for s in FRONT_LABELS.values()))
    runs = [m.group() for t in texts for m in idnumber.ID_RUN.finditer(t)]
    runs = [r for r in runs if sum(c.isdigit() for c in r) >= 12]
    if runs:
        score += 1
        if any(idnumber.has_valid_checksum(idnumber.compact(r)) or idnumber.candidates(r) for r in runs):
            score += 1
    if any(looks_like_birth(t) for t in texts):
        score += 0.5
    if any(_address_like(t) for t in texts):
        score += 1
    return score


#: An address line is at least this long (a province and a city, or a city and a county).
ADDRESS_LINE_MIN = 6


def _address_like(text: str) -> bool:
    """Whether `text` begins as an address does: with a place's name (a province, city or
    county) on a line of ADDRESS_LINE_MIN characters or more that names no police office
    (an authority on the back begins with a place too)."""
    return len(text) >= ADDRESS_LINE_MIN and "公安" not in text and places.begins_with_place(text)


def back_score(texts: list[str]) -> float:
    """One point per back label or title seen, plus the validity dates."""
    joined = "\n".join(texts)
    score = float(sum(_has_label(joined, s) for s in BACK_LABELS.values()))
    score += sum(t in joined for t in BACK_TITLES)
    if any(looks_like_validity(t) for t in texts):
        score += 1
    return score


@dataclass(frozen=True)
class ResidentCard:
    name: str = "resident_id"

    def detect(self, lines: list[Line]) -> tuple[Side | None, float]:
        texts = [line.chars().text for line in lines]
        front, back = front_score(texts), back_score(texts)
        if front >= MIN_SCORE and front > back:
            return "front", front
        if back >= MIN_SCORE and back > front:
            return "back", back
        return None, 0.0

    def read(
        self, side: Side, items: list[Item], width: int, height: int, looked: Collection[str] = ()
    ) -> CardReading:
        draft = Draft(scores=item_scores(items), untrusted=frozenset(i.index for i in items if i.against))
        if side == "front":
            parse_front(items, width, height, draft, looked)
        else:
            parse_back(items, width, height, draft, looked)
        draft.leave_out_misread()
        draft.require(FRONT_FIELDS if side == "front" else BACK_FIELDS)
        return draft.finish(side, self.name)


def item_scores(items: list[Item]) -> list[float]:
    """Each item's recognition score by its index (1.0 where no item has that index)."""
    size = max((i.index for i in items), default=-1) + 1
    scores = [1.0] * size
    for item in items:
        scores[item.index] = item.score
    return scores


RESIDENT_CARD = ResidentCard()
