"""Consistency checks between the fields of a card. None of them corrects anything."""

from __future__ import annotations

import datetime

from . import idnumber
from .dates import LONG_TERM, add_years, age_on
from .reading import Draft
from .vocab import is_known_ethnicity

#: 《居民身份证法》第五条: years of validity by age at issue (None: 长期).
VALIDITY_BY_AGE: tuple[tuple[int, int | None], ...] = ((16, 5), (26, 10), (46, 20), (200, None))
VALIDITY_YEARS: frozenset[int] = frozenset(y for _, y in VALIDITY_BY_AGE if y)

#: How long before the issue date an application may have been made.
_APPLICATION_SLACK = datetime.timedelta(days=183)


def _as_date(value: datetime.date | str) -> datetime.date | None:
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        return None


def period_ok(valid_from: datetime.date | str, valid_to: datetime.date | str) -> bool:
    """The period is 5, 10 or 20 years to the same month and day, or 长期."""
    start = _as_date(valid_from)
    if start is None:
        return False
    if valid_to == LONG_TERM:
        return True
    end = _as_date(valid_to)
    if end is None:
        return False
    if any(add_years(start, y) == end for y in VALIDITY_YEARS):
        return True
    # a period from 29 February may end on 1 March
    leap = (start.month, start.day) == (2, 29)
    return leap and any(end == datetime.date(start.year + y, 3, 1) for y in VALIDITY_YEARS)


def expected_years(age: int) -> int | None:
    """Years of validity for an applicant of `age` (None: 长期)."""
    for limit, years in VALIDITY_BY_AGE:
        if age < limit:
            return years
    return None


def validity_rule_ok(
    birth_date: datetime.date | str, valid_from: datetime.date | str, valid_to: datetime.date | str
) -> bool:
    """The period matches the holder's age at issue (《居民身份证法》第五条).

    Under 16 → 5 years, 16–25 → 10, 26–45 → 20, 46 and over → 长期. The age is taken at
    the issue date or up to half a year before it (the day of application).
    """
    birth, start = _as_date(birth_date), _as_date(valid_from)
    if birth is None or start is None or not period_ok(start, valid_to):
        return False
    if valid_to == LONG_TERM:
        actual: int | None = None
    else:
        end = _as_date(valid_to)
        assert end is not None
        actual = end.year - start.year
    ages = {age_on(birth, start), age_on(birth, start - _APPLICATION_SLACK)}
    return any(expected_years(age) == actual for age in ages if age >= 0)


def check_front(draft: Draft, reading: idnumber.IdReading | None) -> None:
    """Checksum, birth date, sex, region and ethnicity checks of the front."""
    values = draft.values
    if "ethnicity" in values:
        draft.check(
            "ethnicity_known",
            is_known_ethnicity(values["ethnicity"]),
            "ethnicity_unknown",
            f"{values['ethnicity']} is not one of the 56 ethnic groups",
            "ethnicity",
        )
    if reading is None:
        return
    if reading.corrected:
        draft.warn("id_number_corrected", f"OCR repair: {reading.note}", "id_number")
    draft.check(
        "id_checksum",
        reading.checksum_ok,
        "id_checksum_failed",
        f"the identity number fails its checksum ({reading.note})",
        "id_number",
    )
    number = reading.number
    if not reading.checksum_ok:
        return
    if "birth_date" in values:
        draft.check(
            "birth_date_matches_id",
            str(idnumber.birth_date(number)) == values["birth_date"],
            "birth_date_mismatch",
            "the printed birth date differs from the one in the identity number",
            "birth_date",
        )
    if "sex" in values:
        draft.check(
            "sex_matches_id",
            idnumber.sex(number) == values["sex"],
            "sex_mismatch",
            "the printed sex differs from the one the identity number encodes",
            "sex",
        )
    place = idnumber.region(number)
    draft.check(
        "region_known",
        place is not None,
        "region_unknown",
        f"region code {number[:6]} is not a known county for the birth year",
        "id_number",
    )
    if place is not None and "address" in values:
        province = idnumber.province_of_address(values["address"])
        if province is not None:
            draft.check(
                "address_matches_region",
                province == place["province"],
                "address_region_mismatch",
                f"the address is in {province}, the identity number was issued in "
                f"{place['province']} {place['county']}",
                "address",
            )


#: A date of the validity period read without the other end has no check to guard it;
#: below this score it is left empty. (Generated hard cards: a start read as 2014-03-10
#: for 2014-03-16 scored 0.79, its end lost.)
MIN_LONE_DATE_SCORE = 0.9


def check_back(draft: Draft) -> None:
    """The validity period is one the law allows; a lone doubtful end of it is dropped."""
    start, end = draft.values.get("valid_from"), draft.values.get("valid_to")
    if bool(start) != bool(end):
        name = "valid_from" if start else "valid_to"
        if draft.confidence.get(name, 1.0) < MIN_LONE_DATE_SCORE:
            draft.drop(
                name,
                "value_low_confidence",
                f"the {name} was recognised with a low "
                "score and the other end of the period, which would check it, is missing",
            )
    if start and end:
        draft.check(
            "validity_period",
            period_ok(start, end),
            "validity_period_invalid",
            f"a validity period from {start} to {end} is not 5, 10 or 20 years or 长期",
            "valid_to",
        )
