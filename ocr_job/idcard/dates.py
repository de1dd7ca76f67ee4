"""Dates as printed on the card, to ISO `YYYY-MM-DD`."""

from __future__ import annotations

import datetime
import re

from .vocab import squeeze, to_halfwidth

LONG_TERM = "长期"

#: Letters OCR reads in place of digits inside printed dates.
_DIGIT_LOOKALIKES = str.maketrans(
    {"O": "0", "o": "0", "D": "0", "I": "1", "l": "1", "|": "1", "Z": "2", "S": "5", "B": "8", "G": "6"}
)
_BIRTH = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日?")
_BIRTH_LOOSE = re.compile(r"(\d{4})\D+(\d{1,2})\D+(\d{1,2})")
#: Latin letters no misread digit gives: a run of two or more, or a letter that looks like
#: no digit. A date line holding them took in text printed behind the date (microprint,
#: a watermark): its digits may be that text's too (JMSFZ's Z read 2).
_NOT_DIGITS = re.compile(r"[A-Za-z]{2,}|[ACEFHJ-NP-RT-Ya-km-np-z]")


def has_background_letters(text: str) -> bool:
    """Whether a line read for a date holds Latin letters no misread digit gives."""
    return bool(_NOT_DIGITS.search(squeeze(text)))


def holds_in_order(text: str, date: datetime.date) -> bool:
    """Whether `text` holds the birth date `date` as printed (1994年4月22日, or with its month
    and day in two digits), its characters in order with others between them."""
    forms = {f"{date.year}年{date.month}月{date.day}日", f"{date.year}年{date.month:02d}月{date.day:02d}日"}
    for form in forms:
        rest = iter(squeeze(text))
        if all(ch in rest for ch in form):
            return True
    return False


def make_date(year: int, month: int, day: int) -> datetime.date | None:
    try:
        date = datetime.date(year, month, day)
    except ValueError:
        return None
    return date if 1900 <= year <= 2100 else None


def parse_birth(text: str) -> datetime.date | None:
    """`1990年1月2日`, also with spaces or digits split across boxes. None for a line that
    took in text printed behind it (`has_background_letters`): its digits may be that
    text's (1990年1MSF2月2日 without its letters is 1990-12-02); the number may settle it
    (`holds_in_order`)."""
    if has_background_letters(text):
        return None
    value = squeeze(text).translate(_DIGIT_LOOKALIKES)
    match = _BIRTH.search(value) or _BIRTH_LOOSE.search(value)
    if not match:
        digits = re.sub(r"\D", "", value)
        if len(digits) != 8:
            return None
        return make_date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    return make_date(*(int(g) for g in match.groups()))


def birth_year_month(text: str) -> tuple[int, int] | None:
    """Year and month of a birth date read only in part (`1962年11万`, the day lost)."""
    value = squeeze(text).translate(_DIGIT_LOOKALIKES)
    match = re.search(r"(\d{4})\D+(\d{1,2})(?!\d)", value)
    if not match:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    return (year, month) if 1900 <= year <= 2100 and 1 <= month <= 12 else None


#: A birth line whose year was not read: the month and day alone (`年9月3日`).
_MONTH_DAY = re.compile(r"年?(\d{1,2})月(\d{1,2})日?")


def birth_month_day(text: str) -> tuple[int, int] | None:
    """Month and day of a birth line that holds nothing else (`年9月3日`: the label and the
    year lost under glare)."""
    match = _MONTH_DAY.fullmatch(squeeze(text).translate(_DIGIT_LOOKALIKES))
    if not match:
        return None
    month, day = int(match.group(1)), int(match.group(2))
    return (month, day) if make_date(2000, month, day) is not None else None


def looks_like_birth(text: str) -> bool:
    return bool(re.search(r"\d{4}年", squeeze(text).translate(_DIGIT_LOOKALIKES)))


def _from_digits(digits: str) -> datetime.date | None:
    return make_date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))


_PERIOD_SEPARATOR = re.compile("[-—~至]")


def parse_validity(
    text: str,
) -> tuple[datetime.date | None, datetime.date | str | None] | None:
    """`2015.01.01-2035.01.01`, `2015.01.01至2035.01.01`, `2015.01.01-长期`.

    The separators are often misread or dropped, so the digits are what count:
    8 digits and 长期, or 16 digits. When only the start can be read (the end was cut
    off), the end is None; when the start was cut off but a whole date or 长期 follows
    a separator, the start is None. None when neither can be read.
    """
    value = squeeze(text).translate(_DIGIT_LOOKALIKES)
    digits = re.sub(r"\D", "", value)
    parts = _PERIOD_SEPARATOR.split(value)
    cut = len(parts) > 1 and len(re.sub(r"\D", "", "".join(parts[:-1]))) < 8
    start = _from_digits(digits[:8]) if len(digits) >= 8 and not cut else None
    if start is None:
        return _end_only(value)
    long_term = LONG_TERM in value or (len(digits) == 8 and ("长" in value or "期" in value))
    if len(digits) == 8 and long_term:
        return start, LONG_TERM
    end = _from_digits(digits[8:]) if len(digits) == 16 else None
    return start, end


def _end_only(value: str) -> tuple[None, datetime.date | str] | None:
    """The end of a period whose start is unreadable: the whole date (or 长期) after the
    last separator, when what comes before it is too short to be a date."""
    parts = _PERIOD_SEPARATOR.split(value)
    if len(parts) < 2:
        return None
    before, after = "".join(parts[:-1]), parts[-1]
    if len(re.sub(r"\D", "", before)) >= 8:
        return None
    after_digits = re.sub(r"\D", "", after)
    if not after_digits and after.startswith(LONG_TERM):
        return None, LONG_TERM
    end = _from_digits(after_digits) if len(after_digits) == 8 else None
    return (None, end) if end is not None else None


_PRINTED_PERIOD = re.compile(r"\d{4}\.\d{2}\.\d{2}[-—~至](?:\d{4}\.\d{2}\.\d{2}|长期)")


def is_printed_period(text: str) -> bool:
    """Whether `text` is a whole period as the card prints it (`2020.11.17-长期`,
    `2015.01.01-2035.01.01`) with real dates: stricter than `parse_validity`, which takes
    what is left of a misread one (`2020.1117期`)."""
    value = to_halfwidth(squeeze(text))
    if _PRINTED_PERIOD.fullmatch(value) is None:
        return False
    period = parse_validity(value)
    return period is not None and None not in period


def looks_like_validity(text: str) -> bool:
    value = squeeze(text).translate(_DIGIT_LOOKALIKES)
    return bool(re.search(r"\d{4}\D?\d{2}\D?\d{2}", value)) and (
        len(re.sub(r"\D", "", value)) >= 16 or "长" in value or "期" in value
    )


def add_years(date: datetime.date, years: int) -> datetime.date:
    """The same month and day `years` later (29 February → 28 February)."""
    try:
        return date.replace(year=date.year + years)
    except ValueError:
        return date.replace(year=date.year + years, day=28)


def age_on(birth: datetime.date, day: datetime.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
