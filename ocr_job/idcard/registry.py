"""Card types the parser knows. A new type (港澳台居民居住证, 外国人永久居留身份证) is a
module beside `resident.py` that provides a `CardType` and is listed in `CARD_TYPES`."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from ocr_job.records import Side

from .layout import Item, Line
from .reading import CardReading


class CardType(Protocol):
    @property
    def name(self) -> str: ...

    def detect(self, lines: list[Line]) -> tuple[Side | None, float]:
        """The side these lines show and how sure that is (0: not this card type)."""
        ...

    def read(
        self, side: Side, items: list[Item], width: int, height: int, looked: Collection[str] = ()
    ) -> CardReading:
        """The fields, checks and warnings of `side` (`looked`: the places of
        `CardReading.look_again` the caller has read again)."""
        ...


def card_types() -> list[CardType]:
    from . import resident, temporary

    return [resident.RESIDENT_CARD, temporary.TEMPORARY_CARD]
