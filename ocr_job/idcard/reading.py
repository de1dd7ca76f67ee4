"""The result of reading one card, and the mutable draft it is built from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ocr_job.records import Fields, RecordWarning, Side

from .layout import Chars


@dataclass
class CardReading:
    side: Side | None  # None: no identity card recognised in these boxes
    fields: Fields
    confidence: dict[str, float]  # per field present: lowest score of the boxes that make it
    checks: dict[str, bool]  # only the checks that could be evaluated
    warnings: list[RecordWarning]
    card_type: str | None = None  # which registered card type read it

    @classmethod
    def nothing(cls, message: str) -> CardReading:
        return cls(
            side=None,
            fields=Fields(),
            confidence={},
            checks={},
            warnings=[RecordWarning(code="no_card_text", message=message)],
        )


@dataclass
class Draft:
    """Fields, confidence, checks and warnings as they are being found."""

    scores: Sequence[float]
    values: dict[str, str] = field(default_factory=dict)
    confidence: dict[str, float] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)
    warnings: list[RecordWarning] = field(default_factory=list)

    def put(self, name: str, value: str | None, source: Chars | set[int]) -> None:
        """Set a field from the boxes it was read from (an empty value is not set)."""
        if not value:
            return
        boxes = source.boxes() if isinstance(source, Chars) else source
        self.values[name] = value
        if boxes:
            self.confidence[name] = round(min(self.scores[i] for i in boxes), 5)

    def warn(self, code: str, message: str, field_name: str | None = None) -> None:
        self.warnings.append(RecordWarning(code=code, message=message, field=field_name))

    def check(self, name: str, ok: bool, code: str, message: str, field_name: str | None) -> None:
        """Record a check; a failed one is also a warning."""
        self.checks[name] = ok
        if not ok:
            self.warn(code, message, field_name)

    def require(self, names: Sequence[str]) -> None:
        for name in names:
            if name not in self.values:
                self.warn("field_missing", f"{name} could not be read", name)

    def finish(self, side: Side, card_type: str) -> CardReading:
        return CardReading(
            side=side,
            fields=Fields(**self.values),
            confidence=dict(self.confidence),
            checks=dict(self.checks),
            warnings=list(self.warnings),
            card_type=card_type,
        )
