"""The 18-character citizen identity number: normalisation, OCR repair and look-ups.

Check digits, birth dates and region names all come from `stdnum.cn.ric`; this module
only adds what OCR needs: a list of character confusions and a strict rule for when a
repaired number may be used.
"""

from __future__ import annotations

import datetime
import itertools
import re
from dataclasses import dataclass
from functools import cache

from stdnum import numdb
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from .vocab import to_halfwidth

#: Characters OCR reads in place of a digit (or of the trailing X).
CONFUSIONS: dict[str, str] = {
    "O": "0", "o": "0", "D": "0", "Q": "0",
    "I": "1", "l": "1", "i": "1", "|": "1", "L": "1", "!": "1",
    "Z": "2", "z": "2",
    "S": "5", "s": "5",
    "B": "8",
    "G": "6", "b": "6",
    "x": "X", "×": "X", "K": "X", "Y": "X",
}  # fmt: skip

#: A run of characters that may be an identity number as read by OCR.
ID_RUN = re.compile("[0-9X" + re.escape("".join(CONFUSIONS)) + "]{15,20}")

_MAX_CANDIDATES = 512


def compact(text: str) -> str:
    """Strip spaces and separators and uppercase a trailing x (`stdnum` style)."""
    number = ric.compact(to_halfwidth(text).replace(" ", ""))
    return number


def has_valid_checksum(number: str) -> bool:
    """18 characters, 17 digits and the right check digit (the region is not looked at)."""
    return (
        len(number) == 18
        and number[:17].isdigit()
        and number[17] in "0123456789X"
        and ric.calc_check_digit(number) == number[17]
    )


def birth_date(number: str) -> datetime.date | None:
    try:
        return ric.get_birth_date(number)
    except (ValidationError, ValueError):
        return None


def sex(number: str) -> str | None:
    """男 for an odd order code, 女 for an even one."""
    if len(number) < 17 or not number[16].isdigit():
        return None
    return "男" if int(number[16]) % 2 else "女"


def region(number: str) -> dict[str, str] | None:
    """`{"province": ..., "county": ...}` as stdnum knows it for the number's birth year."""
    try:
        return ric.get_birth_place(number)
    except (ValidationError, ValueError, KeyError):
        return None


@cache
def provinces() -> tuple[str, ...]:
    """The province-level names stdnum knows, e.g. 北京市, 广西壮族自治区."""
    return tuple(str(p[3]["province"]) for p in numdb.get("cn/loc").prefixes if p[3])


_PROVINCE_SUFFIXES = (
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "自治区",
    "特別行政區",
    "省",
    "市",
)


def province_stem(province: str) -> str:
    """北京市 → 北京, 广西壮族自治区 → 广西."""
    for suffix in _PROVINCE_SUFFIXES:
        if province.endswith(suffix):
            return province[: -len(suffix)]
    return province


def province_of_address(address: str) -> str | None:
    """The province an address starts with (full or short form), if any."""
    for province in provinces():
        if address.startswith(province_stem(province)):
            return province
    return None


def _options(ch: str, last: bool) -> str:
    if ch.isdigit():
        return ch
    mapped = CONFUSIONS.get(ch, ch)
    if last and mapped == "X":
        return "X"
    return mapped if mapped.isdigit() else ""


def _repairs_of_18(number: str) -> list[str]:
    options = [_options(ch, i == 17) for i, ch in enumerate(number)]
    if not all(options):
        return []
    found = []
    for combo in itertools.islice(itertools.product(*options), _MAX_CANDIDATES):
        guess = "".join(combo)
        if guess != number and has_valid_checksum(guess):
            found.append(guess)
    return found


def candidates(text: str) -> list[str]:
    """Repairs of an OCR reading that pass the checksum, best guesses first.

    Each confusable character is replaced by the digit it is usually mistaken for;
    a 17-digit reading may have lost its trailing X; a 19-character one may have one
    character too many (a speck or a piece of the label read as a digit).
    """
    number = compact(text)
    found: list[str] = []
    if len(number) == 18:
        found = _repairs_of_18(number)
    elif len(number) == 17:
        options = [_options(ch, False) for ch in number]
        if all(options):
            for combo in itertools.islice(itertools.product(*options), _MAX_CANDIDATES):
                guess = "".join(combo) + "X"
                if has_valid_checksum(guess):
                    found.append(guess)
    elif len(number) == 19:
        for i in range(19):
            shorter = number[:i] + number[i + 1 :]
            for guess in [shorter] if has_valid_checksum(shorter) else _repairs_of_18(shorter):
                if guess not in found:
                    found.append(guess)
    return found


@dataclass(frozen=True, slots=True)
class IdReading:
    """What was made of the characters read as the identity number."""

    number: str  # the value to report: the repaired number, or the compacted reading
    checksum_ok: bool
    corrected: bool = False
    note: str = ""  # why a repair was (not) made; never contains the number


def describe_changes(before: str, after: str) -> str:
    """`position 7: O→0` style summary that does not reveal the number."""
    if len(before) + 1 == len(after) and after.startswith(before):
        return f"added the missing check character {after[-1]}"
    if len(before) == len(after) + 1:
        at = next((i for i in range(len(after)) if before[i] != after[i]), len(after))
        # the first differing position is where a character was dropped (or a later
        # confusion); describe the drop and any confusions after it
        dropped = before[:at] + before[at + 1 :]
        rest = describe_changes(dropped, after) if dropped != after else ""
        return ", ".join(p for p in (f"removed an extra character at position {at + 1}", rest) if p)
    changes = [
        f"position {i + 1}: {a}→{b}" for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b
    ]
    return ", ".join(changes)


def read(text: str, printed_birth: datetime.date | None) -> IdReading:
    """Normalise `text`; repair it only if exactly one repair passes the checksum and
    agrees with the birth date printed on the card (and, among several that do, exactly
    one has a known region code)."""
    number = compact(text)
    if has_valid_checksum(number):
        return IdReading(number, True)
    found = candidates(number)
    if not found:
        return IdReading(number, False, note="no OCR repair passes the checksum")
    if printed_birth is None:
        return IdReading(number, False, note="no printed birth date confirms a repair")
    agreeing = [c for c in found if birth_date(c) == printed_birth]
    if len(agreeing) > 1:
        # e.g. an extra character dropped from the region part keeps the birth date
        agreeing = [c for c in agreeing if region(c) is not None] or agreeing
    if len(agreeing) == 1:
        fixed = agreeing[0]
        return IdReading(fixed, True, corrected=True, note=describe_changes(number, fixed))
    if agreeing:
        return IdReading(number, False, note=f"{len(agreeing)} different repairs are possible")
    return IdReading(number, False, note="no repair agrees with the printed birth date")
