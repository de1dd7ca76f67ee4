"""临时居民身份证 (the temporary resident identity card) as a registered card type.

《中华人民共和国临时居民身份证管理办法》: one side bears the card's name (中华人民共和国 /
临时居民身份证) and a Great Wall; the other carries all nine items, 姓名 to 有效期限, and a
black-and-white photograph; the period is three months from the day of issue (第七条).

Its data side is read as side "both": the front's labels and the back's on one side (which
no resident card has) are split where the back's first label line begins, each part read
by the resident card's own readers (`parse_front`, `parse_back`), and the period checked
against the temporary card's three months instead of 5/10/20 years. Either side carries the
`temporary_card` warning.
"""

from __future__ import annotations

import calendar
import datetime
from collections.abc import Collection
from dataclasses import dataclass

from ocr_job.records import FIELD_NAMES, Side

from .back import parse_back
from .front import parse_front
from .layout import Item, Line, group_lines
from .reading import CardReading, Draft
from .resident import MIN_SCORE, front_score, item_scores
from .vocab import BACK_LABELS, BACK_TITLES

#: The mark of the temporary card's name: 临时居民身份证.
TEMPORARY_MARK = "临时"
#: Its period (管理办法 第七条).
TEMPORARY_MONTHS = 3


def add_months(date: datetime.date, months: int) -> datetime.date:
    """The same day `months` later (the month's last day when it has no such day)."""
    month = date.month - 1 + months
    year, month = date.year + month // 12, month % 12 + 1
    return date.replace(year=year, month=month, day=min(date.day, calendar.monthrange(year, month)[1]))


_BACK_LABEL_SPELLINGS = tuple(s for forms in BACK_LABELS.values() for s in forms)


def _has_back_label(text: str) -> bool:
    return any(s in text for s in _BACK_LABEL_SPELLINGS)


@dataclass(frozen=True)
class TemporaryCard:
    name: str = "temporary_id"

    def detect(self, lines: list[Line]) -> tuple[Side | None, float]:
        texts = [line.chars().text for line in lines]
        joined = "\n".join(texts)
        marked = TEMPORARY_MARK in joined and any(t in joined for t in BACK_TITLES[1:])
        front = front_score(texts)
        back_labels = sum(map(_has_back_label, texts))
        titled = any(t in joined for t in BACK_TITLES)
        if front >= MIN_SCORE and back_labels and (marked or not titled):
            return "both", front + back_labels + 1  # above a resident front's score
        if marked:
            return "back", 2 * MIN_SCORE + 3  # the title side: above a resident back's score
        return None, 0.0

    def read(
        self, side: Side, items: list[Item], width: int, height: int, looked: Collection[str] = ()
    ) -> CardReading:
        draft = Draft(scores=item_scores(items), untrusted=frozenset(i.index for i in items if i.against))
        draft.warn(
            "temporary_card",
            "a temporary resident identity card (临时居民身份证): its period is three months",
        )
        if side != "both":  # the title side: no item is printed there
            return draft.finish(side, self.name)
        lines = group_lines(items)
        labelled = [line for line in lines if _has_back_label(line.chars().text)]
        split = min(line.y0 for line in labelled) - 0.25 * min(line.height for line in labelled)
        front = [i for i in items if i.cy < split]
        back = [i for i in items if i.cy >= split]
        parse_front(front, width, height, draft, looked)
        parse_back(back, width, height, draft)
        _check_period(draft)
        draft.leave_out_misread()
        draft.require(FIELD_NAMES)
        return draft.finish(side, self.name)


def _check_period(draft: Draft) -> None:
    """The period is the temporary card's three months (not 5/10/20 years)."""
    start, end = draft.values.get("valid_from"), draft.values.get("valid_to")
    if not (start and end):
        return
    draft.warnings = [w for w in draft.warnings if w.code != "validity_period_invalid"]
    draft.checks.pop("validity_period", None)
    try:
        first, last = datetime.date.fromisoformat(start), datetime.date.fromisoformat(end)
        ok = add_months(first, TEMPORARY_MONTHS) == last
    except ValueError:
        ok = False
    draft.check(
        "validity_period",
        ok,
        "validity_period_invalid",
        f"a temporary card's period from {start} to {end} is not three months",
        "valid_to",
    )


TEMPORARY_CARD = TemporaryCard()
