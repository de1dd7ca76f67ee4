"""The public contracts: the result record and the shard-status shape.

Defined once here and imported everywhere else (the worker, the merge step,
the operator). Changing a field name here is a breaking change for users.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

#: The card fields, in the order they appear as CSV columns.
FIELD_NAMES: tuple[str, ...] = (
    "name",
    "sex",
    "ethnicity",
    "birth_date",
    "address",
    "id_number",
    "issuing_authority",
    "valid_from",
    "valid_to",
)

FRONT_FIELDS: tuple[str, ...] = FIELD_NAMES[:6]
BACK_FIELDS: tuple[str, ...] = FIELD_NAMES[6:]

#: "both": one picture of the card's two sides (a two-sided copy), or a card whose one
#: side carries all nine fields (the temporary card); every field may then be set.
Side = Literal["front", "back", "both"]
Status = Literal["ok", "error"]


class ErrorCode(StrEnum):
    """Stable, snake_case error codes of a record. Never rename one."""

    EMPTY_FILE = "empty_file"
    UNREADABLE_IMAGE = "unreadable_image"
    UNSUPPORTED_FORMAT = "unsupported_format"
    IMAGE_TOO_SMALL = "image_too_small"
    IMAGE_TOO_LARGE = "image_too_large"
    IMAGE_TOO_ELONGATED = "image_too_elongated"
    OBJECT_TOO_LARGE = "object_too_large"
    NO_CARD_FOUND = "no_card_found"
    FETCH_FAILED = "fetch_failed"
    TIMEOUT = "timeout"
    INTERNAL_ERROR = "internal_error"
    OUTSIDE_SOURCE = "outside_source"
    NOT_A_FILE = "not_a_file"
    WRITE_FAILED = "write_failed"
    PDF_ENCRYPTED = "pdf_encrypted"
    PDF_UNREADABLE = "pdf_unreadable"
    PDF_TOO_MANY_PAGES = "pdf_too_many_pages"
    PDF_PAGE_TOO_LARGE = "pdf_page_too_large"


def display_key(key: str) -> str:
    """`key` as text a record can hold: a file name's bytes that are not UTF-8 (carried by
    Python as lone surrogates) are written as backslash escapes (`\\xff`)."""
    try:
        raw = key.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate outside surrogateescape's range
        raw = key.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "backslashreplace")


class Fields(BaseModel):
    """The fields of both sides; those of the other side are null."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    sex: str | None = None
    ethnicity: str | None = None
    birth_date: str | None = None  # YYYY-MM-DD
    address: str | None = None
    id_number: str | None = None
    issuing_authority: str | None = None
    valid_from: str | None = None  # YYYY-MM-DD
    valid_to: str | None = None  # YYYY-MM-DD or 长期


class RecordWarning(BaseModel):
    """A finding a person should look at; `code` is stable snake_case."""

    model_config = ConfigDict(extra="forbid")

    code: str
    message: str
    field: str | None = None


#: The picture's quality and authenticity warnings (`ocr_job.quality`), stable snake_case
#: codes like the parser's (`ocr_job.idcard.reading.WARNING_CODES`); README's table lists them.
IMAGE_WARNING_CODES: dict[str, str] = {
    "image_blurry": "the card's sharpness is below 0.35 (its sharpest edges spread over more "
    "than about 5.7 px of a card 1,000 px wide): fields may be misread",
    "glare": "a saturated highlight covers part of the card's text area",
    "card_incomplete": "part of the card's border lies outside the picture",
    "occlusion": "something covers part of the card's text area (a finger, a sticker)",
    "photocopy": "a greyscale or toner copy of the card, not a photo or scan of the card itself",
    "screen_recapture": "a photo of a screen showing the card (moiré, a pixel grid)",
    "multiple_cards": "more than one card is in the picture: the largest was read",
}


class Quality(BaseModel):
    """How good the picture of the card is (`ocr_job.quality`; README's record section)."""

    model_config = ConfigDict(extra="forbid")

    score: float  # 0..1, higher better: the lower of sharpness and 1 - 10 * glare
    sharpness: float  # 0..1: 1 at crisp edges, below 0.35 blurred (`image_blurry`)
    glare: float  # the share of the card's text area under a saturated highlight (0: none)


class Crops(BaseModel):
    """Where the card's crops are stored, relative to the output (`ocr_job.crops`)."""

    model_config = ConfigDict(extra="forbid")

    card: str | None = None
    portrait: str | None = None


class RecordError(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: ErrorCode
    message: str


class ResultRecord(BaseModel):
    """One record per input, whether it was read or not."""

    model_config = ConfigDict(extra="forbid")

    source: str
    status: Status
    side: Side | None = None
    fields: Fields = Field(default_factory=Fields)
    confidence: dict[str, float] = Field(default_factory=dict)
    checks: dict[str, bool] = Field(default_factory=dict)
    warnings: list[RecordWarning] = Field(default_factory=list)
    error: RecordError | None = None
    timings_ms: dict[str, float] = Field(default_factory=dict)
    #: The picture's quality, on every record with a side (`ocr_job.quality`).
    quality: Quality | None = None
    #: The card and portrait crops written with `--crops`; null without.
    crops: Crops | None = None
    #: The ETag (or, locally, size and mtime) of the input this record was made from;
    #: a rerun skips inputs whose record carries the same value.
    source_etag: str | None = None

    @field_validator("source")
    @classmethod
    def _printable_source(cls, value: str) -> str:
        """The input's real name, with bytes that are not UTF-8 escaped (`display_key`)."""
        return display_key(value)

    @classmethod
    def failure(
        cls,
        source: str,
        code: ErrorCode,
        message: str,
        *,
        source_etag: str | None = None,
        timings_ms: dict[str, float] | None = None,
    ) -> ResultRecord:
        return cls(
            source=source,
            status="error",
            error=RecordError(code=code, message=message),
            source_etag=source_etag,
            timings_ms=timings_ms or {},
        )

    def csv_row(self) -> dict[str, str]:
        """The flat form written to results.csv (see CSV_COLUMNS)."""
        row: dict[str, str] = {
            "source": self.source,
            "status": self.status,
            "side": self.side or "",
        }
        fields = self.fields.model_dump()
        for name in FIELD_NAMES:
            row[name] = fields[name] or ""
        row["min_confidence"] = f"{min(self.confidence.values()):.3f}" if self.confidence else ""
        row["failed_checks"] = ";".join(k for k, ok in sorted(self.checks.items()) if not ok)
        row["warnings"] = ";".join(w.code for w in self.warnings)
        row["error_code"] = self.error.code.value if self.error else ""
        row["error_message"] = self.error.message if self.error else ""
        return row


CSV_COLUMNS: tuple[str, ...] = (
    "source",
    "status",
    "side",
    *FIELD_NAMES,
    "min_confidence",
    "failed_checks",
    "warnings",
    "error_code",
    "error_message",
)


def utcnow() -> datetime:
    return datetime.now(UTC)


class ShardPhase(StrEnum):
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class ShardStatus(BaseModel):
    """What a worker reports to `status.shards.<index>` of its OcrBatch.

    Serialised with camelCase keys (`model_dump(by_alias=True)`), as Kubernetes
    status fields are.
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    index: int
    phase: ShardPhase = ShardPhase.RUNNING
    total: int = 0
    processed: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    peak_rss_bytes: int | None = None
    memory_limit_bytes: int | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None
    message: str | None = None

    def to_patch(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
