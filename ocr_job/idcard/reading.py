"""The result of reading one card, and the mutable draft it is built from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ocr_job.records import Fields, RecordWarning, Side

from .layout import Chars

#: A place on the card (x0, y0, x1, y1), in the parser's deskewed card coordinates.
Region = tuple[float, float, float, float]
#: The four corners of a place on the card (top-left, top-right, bottom-right, bottom-left),
#: in the coordinates of the boxes `parse` was given.
Quad = tuple[tuple[float, float], ...]

#: Every warning code `parse` emits (stable snake_case; never rename one).
WARNING_CODES: dict[str, str] = {
    "no_card_text": "no identity card was recognised in the boxes (side is None)",
    "field_missing": "a field of the side could not be read; `field` names it",
    "value_unparsed": "a date or period was found but could not be read as one",
    "value_untrusted": "part of the value was read the other way up than the rest of the "
    "card (a misreading): the field is left empty",
    "address_incomplete": "part of the address was not read (a line lost between two read "
    "ones, a line begun mid-way, or text after its last line that could "
    "not be read again and no closing 号/室/组...): it is left empty "
    "rather than reported short",
    "value_low_confidence": "a name, address or authority was recognised with a score below "
    "its MIN_FREE_TEXT_SCORE (name 0.92, address 0.9, authority 0.7), "
    "an ethnicity outside the 56 groups below 0.9, or one end of the "
    "validity period without the other below 0.9: it is left empty",
    "name_implausible": "what was read as the name cannot be one (a label, digits, Latin "
    "letters, an address word, or a single character): it is left empty",
    "address_corrected": "misread characters of the address's province, city or county were "
    "replaced by the names of the number's region (the one nearest "
    "repair, few characters, not itself another place); one character "
    "left out is restored when the address was read without doubt",
    "place_unknown": "the address does not begin with, or the issuing authority does not "
    "name, a known province, city or county (a misreading): it is left empty",
    "id_number_corrected": "OCR confusions in the number were repaired (unique, birth-checked)",
    "id_checksum_failed": "the number fails its check digit and no safe repair exists: it is left empty",
    "birth_date_mismatch": "the printed birth date differs from the number's (which passed "
    "its checksum): it is left empty",
    "birth_date_from_id": "the printed birth date was legible only in part (or among letters "
    "printed behind it); the part read agrees with the number, whose date is reported",
    "sex_mismatch": "the printed sex differs from the number's order-code parity: it is left empty",
    "region_unknown": "the number's region code is not a known county for its birth year",
    "address_region_mismatch": "the address's province differs from the number's region",
    "ethnicity_unknown": "the ethnicity is not one of the 56 groups",
    "ethnicity_corrected": "a misread ethnicity was replaced by the one group it is one character away from",
    "validity_period_invalid": "the validity period is not 5/10/20 years or 长期: both ends "
    "are left empty (which one was misread, the period cannot tell)",
    "temporary_card": "the card is a temporary resident identity card (临时居民身份证): its data "
    "side carries all nine fields (side both), its period is three months",
    "validity_age_mismatch": "the validity period (back) does not fit the holder's age at "
    "issue from the birth date (front): a two-sided reading",
    "watermark": "text laid over the card (a watermark, a stamp) changed what was read: the "
    "card's print was read alone too, and a value the two readings read "
    "otherwise is left empty (`pipeline._through_overlay`)",
}

#: Free-text fields (no vocabulary, date or checksum check guards them all) recognised
#: with a lower score than this are left empty. Names have no check at all: on generated
#: cards (seeds 5-19, every view) misread names (a rare character read as a common one:
#: 骉 → 弱, 婳 → 娅, 䶮 → 龚) scored 0.62-0.91; right names mostly 0.92 and more, but
#: those with a rare character as low as 0.75, which this bar leaves empty too.
#: Authorities are checked against the place table, so their bar is lower. Addresses are
#: checked only down to the county: below it a lost or added character (`…9-5-270` for
#: `…9-5-2701`, `88` appended; 0.75 and 0.90 once read again by the second opinion, see
#: `pipeline.ADDRESS_SECOND_OPINION_BELOW`) is caught by the line's score alone.
MIN_FREE_TEXT_SCORE: dict[str, float] = {"name": 0.92, "address": 0.9, "issuing_authority": 0.7}
#: A name one of whose characters scored lower than this on its own (its lead over the
#: likeliest other character, `TextBox.chars`; after a second opinion, the surest lead of
#: the recognisers that read it so, `engines.ctc.agreed_chars`) is left empty too: a line's
#: score is a mean, and one doubtful character among sure ones hides in it. Addresses have
#: none: right ones had characters at 0.09-0.7 (the place table checks and mends those).
MIN_CHAR_SCORE: dict[str, float] = {"name": 0.82}
#: Fields no vocabulary, date or checksum check guards.
FREE_TEXT = frozenset(MIN_FREE_TEXT_SCORE)

#: Each check and the warning code a failure of it raises.
CHECK_CODES: dict[str, str] = {
    "id_checksum": "id_checksum_failed",
    "birth_date_matches_id": "birth_date_mismatch",
    "sex_matches_id": "sex_mismatch",
    "region_known": "region_unknown",
    "address_matches_region": "address_region_mismatch",
    "ethnicity_known": "ethnicity_unknown",
    "validity_period": "validity_period_invalid",
    "validity_matches_age": "validity_age_mismatch",
}

#: The checks whose failure says what their fields hold was misread: those fields are left
#: empty (`Draft.leave_out_misread`), the check's warning saying why. A number that fails
#: its check digit; a printed birth date or sex that the number, which passed it,
#: contradicts (1967-03-08 read for 1961-03-08); a validity period of a length the law
#: does not give (2038-02-05 read for 2038-03-05: which end was misread, the period cannot
#: tell). The other checks tell of the card, not of its reading, and leave the values as
#: read: an address outside the number's region (people move), an ethnicity outside the
#: 56 (穿青人 is printed), a period that does not fit the holder's age.
MISREAD_WHEN_FAILED: dict[str, tuple[str, ...]] = {
    "id_checksum": ("id_number",),
    "birth_date_matches_id": ("birth_date",),
    "sex_matches_id": ("sex",),
    "validity_period": ("valid_from", "valid_to"),
}


@dataclass
class CardReading:
    side: Side | None  # None: no identity card recognised in these boxes
    fields: Fields
    confidence: dict[str, float]  # per field present: lowest score of the boxes that make it
    checks: dict[str, bool]  # only the checks that could be evaluated
    warnings: list[RecordWarning]
    card_type: str | None = None  # which registered card type read it
    #: per field read (kept or not): the positions of the boxes it was read from
    sources: dict[str, frozenset[int]] = field(default_factory=dict)
    #: Places where the layout says text must be and none was read (a one-character value
    #: the detector missed; the line after an address line that reaches the margin), by
    #: field: the caller may read them again and parse once more, saying which it read.
    look_again: dict[str, Quad] = field(default_factory=dict)
    #: Boxes read as a value no vocabulary knows, by position, with the values one misread
    #: character away that are known: a second opinion may tell which one is printed.
    candidates: dict[int, tuple[str, ...]] = field(default_factory=dict)

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
    #: Boxes whose text is a misreading (see `layout.Item.against`).
    untrusted: frozenset[int] = frozenset()
    values: dict[str, str] = field(default_factory=dict)
    confidence: dict[str, float] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)
    warnings: list[RecordWarning] = field(default_factory=list)
    sources: dict[str, frozenset[int]] = field(default_factory=dict)
    look_again: dict[str, Region] = field(default_factory=dict)
    candidates: dict[int, tuple[str, ...]] = field(default_factory=dict)

    def put(
        self, name: str, value: str | None, source: Chars | set[int], settled: frozenset[int] = frozenset()
    ) -> None:
        """Set a field from the boxes it was read from (an empty value is not set; nor is
        one read partly from an untrusted box, except the number, which its checksum
        guards). `settled`: boxes whose text the value takes from elsewhere (the place
        table), left out of its score floor and confidence."""
        if not value:
            return
        boxes = source.boxes() if isinstance(source, Chars) else source
        self.sources[name] = frozenset(boxes)
        if name != "id_number" and boxes & self.untrusted:
            self.warn(
                "value_untrusted",
                f"part of the {name} was read the other way up than the rest of the card",
                name,
            )
            return
        boxes = (boxes - settled) or boxes
        if name in FREE_TEXT and self.lowest_score(boxes) < MIN_FREE_TEXT_SCORE[name]:
            self.warn("value_low_confidence", f"the {name} was recognised with a low score", name)
            return
        if isinstance(source, Chars) and _lowest_letter(source) < MIN_CHAR_SCORE.get(name, 0.0):
            self.warn("value_low_confidence", f"a character of the {name} was recognised with doubt", name)
            return
        self.values[name] = value
        if boxes:
            self.confidence[name] = round(min(self.scores[i] for i in boxes), 5)

    def lowest_score(self, source: Chars | set[int]) -> float:
        """The lowest recognition score of the boxes `source` was read from (1.0: none)."""
        boxes = source.boxes() if isinstance(source, Chars) else source
        return min((self.scores[i] for i in boxes), default=1.0)

    def drop(self, name: str, code: str, message: str) -> None:
        """Take a value back out (a later check found it misread), with a warning."""
        self.values.pop(name, None)
        self.confidence.pop(name, None)
        self.warn(code, message, name)

    def warn(self, code: str, message: str, field_name: str | None = None) -> None:
        assert code in WARNING_CODES, code
        self.warnings.append(RecordWarning(code=code, message=message, field=field_name))

    def check(self, name: str, ok: bool, code: str, message: str, field_name: str | None) -> None:
        """Record a check; a failed one is also a warning."""
        assert CHECK_CODES[name] == code, name
        self.checks[name] = ok
        if not ok:
            self.warn(code, message, field_name)

    def leave_out_misread(self) -> None:
        """Take out the values a failed check says were misread (`MISREAD_WHEN_FAILED`);
        its warning stays. Called once every check is made, before `require`."""
        for check, names in MISREAD_WHEN_FAILED.items():
            if self.checks.get(check) is False:
                for name in names:
                    self.values.pop(name, None)
                    self.confidence.pop(name, None)

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
            sources=dict(self.sources),
            look_again={
                name: ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
                for name, (x0, y0, x1, y1) in self.look_again.items()
            },
            candidates=dict(self.candidates),
        )


def _lowest_letter(chars: Chars) -> float:
    """The lowest score of a letter or digit of `chars` (a dot read with doubt changes no
    name; 1.0: none)."""
    return min((c for c, ch in zip(chars.scores, chars.text, strict=True) if ch.isalnum()), default=1.0)
