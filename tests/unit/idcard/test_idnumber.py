"""The identity number: normalisation, OCR repair, and the rule for accepting a repair."""

from __future__ import annotations

import datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from ocr_job.idcard import idnumber

#: Region codes stdnum knows for any birth year after 2001.
REGIONS = ("110101", "310104", "440305", "330106", "653101", "510107", "450102", "230102")

#: The reverse of the OCR confusions: what a digit may be misread as.
MISREADS: dict[str, tuple[str, ...]] = {}
for wrong, right in idnumber.CONFUSIONS.items():
    MISREADS.setdefault(right, ())
    MISREADS[right] += (wrong,)


@st.composite
def numbers(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(REGIONS))
    birth = draw(st.dates(datetime.date(2002, 1, 1), datetime.date(2024, 12, 31)))
    order = draw(st.integers(0, 999))
    first17 = f"{region}{birth:%Y%m%d}{order:03d}"
    return first17 + ric.calc_check_digit(first17 + "0")


@given(numbers())
def test_valid_numbers_are_valid(number: str) -> None:
    assert ric.is_valid(number)
    assert idnumber.has_valid_checksum(number)


@given(numbers(), st.sampled_from(["", " ", "  "]))
def test_any_valid_number_survives_normalisation(number: str, gap: str) -> None:
    spaced = f"{number[:6]}{gap}{number[6:14]}{gap}{number[14:]}".lower()
    reading = idnumber.read(spaced, idnumber.birth_date(number))
    assert reading == idnumber.IdReading(number, True)
    assert idnumber.read(spaced, None).number == number


@settings(max_examples=200)
@given(numbers(), st.integers(0, 17), st.data())
def test_one_confusion_is_repaired_to_the_original_or_flagged(
    number: str, position: int, data: st.DataObject
) -> None:
    misreads = MISREADS.get(number[position], ())
    if not misreads:
        return
    wrong = data.draw(st.sampled_from(misreads))
    read = number[:position] + wrong + number[position + 1 :]
    birth = idnumber.birth_date(number)
    reading = idnumber.read(read, birth)
    if reading.checksum_ok:
        assert reading.number == number
        assert idnumber.birth_date(reading.number) == birth
    else:
        assert reading.number == idnumber.compact(read)
        assert reading.note


@settings(max_examples=200)
@given(numbers(), st.integers(0, 17), st.dates())
def test_a_repair_never_contradicts_the_printed_birth_date(
    number: str, position: int, printed: datetime.date
) -> None:
    read = number[:position] + "O" + number[position + 1 :]
    reading = idnumber.read(read, printed)
    if reading.corrected:
        assert idnumber.birth_date(reading.number) == printed
        assert idnumber.has_valid_checksum(reading.number)


@given(numbers())
def test_a_dropped_trailing_x_is_restored_only_with_the_birth_date(number: str) -> None:
    read = number[:17]
    birth = idnumber.birth_date(number)
    with_birth, without_birth = idnumber.read(read, birth), idnumber.read(read, None)
    assert not without_birth.checksum_ok
    if number.endswith("X"):
        assert with_birth == idnumber.IdReading(number, True, True, with_birth.note)
    else:
        assert not with_birth.checksum_ok
        assert with_birth.number == read


def test_wrong_digit_is_not_repaired() -> None:
    number = "110101199001020037"
    read = number[:10] + "8" + number[11:]
    reading = idnumber.read(read, datetime.date(1990, 1, 2))
    assert reading == idnumber.IdReading(read, False, note=reading.note)


def test_repair_needs_a_printed_birth_date() -> None:
    reading = idnumber.read("11O101199001020037", None)
    assert not reading.checksum_ok and reading.number == "11O101199001020037"


def test_note_never_shows_the_number() -> None:
    number = "44030519851231107X"
    reading = idnumber.read(number[:17], datetime.date(1985, 12, 31))
    assert reading.corrected and number not in reading.note and number[:17] not in reading.note


def test_look_ups_come_from_stdnum() -> None:
    assert idnumber.sex("110101199001020037") == "男"
    assert idnumber.sex("110101199001020029") == "女"
    assert idnumber.region("110101199001020037") == {"province": "北京市", "county": "东城区"}
    assert idnumber.region("990101199001020037") is None
    assert idnumber.province_of_address("广西南宁市青秀区") == "广西壮族自治区"
    assert idnumber.province_of_address("新疆维吾尔自治区喀什市") == "新疆维吾尔自治区"
    assert idnumber.province_of_address("长安街1号") is None
    assert "香港特別行政區" in idnumber.provinces()


@settings(max_examples=100)
@given(numbers(), st.integers(0, 18), st.sampled_from("0123456789"))
def test_one_extra_character_is_removed_only_when_unique_and_birth_checked(
    number: str, position: int, extra: str
) -> None:
    read = number[:position] + extra + number[position:]
    birth = idnumber.birth_date(number)
    reading = idnumber.read(read, birth)
    if reading.corrected:
        # the repair is a number the card can hold: checksum, birth date, known region
        assert idnumber.has_valid_checksum(reading.number)
        assert idnumber.birth_date(reading.number) == birth
        assert reading.number == number or idnumber.region(reading.number) is not None
        assert "removed an extra character" in reading.note
    else:
        assert reading.number == read and not reading.checksum_ok
    assert not idnumber.read(read, None).checksum_ok


def test_a_speck_before_the_number_is_removed() -> None:
    # real engine reading: a blurred label read as `2` and joined to the number
    reading = idnumber.read("2653127195601037557", datetime.date(1956, 1, 3))
    assert reading == idnumber.IdReading("653127195601037557", True, True, reading.note)
    assert reading.note == "removed an extra character at position 1"
    assert "653127195601037557" not in reading.note
