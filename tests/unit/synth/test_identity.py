"""The generated people are internally consistent and look like a real population."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import date

import pytest
from stdnum.cn import ric

from ocr_job.synth.fonts import covered
from ocr_job.synth.identity import (
    ADDRESS_KINDS,
    ADDRESS_MAX_CHARS,
    COMPOUND_SURNAMES,
    ETHNICITIES,
    LONG_TERM,
    NAME_KINDS,
    RARE_CHARS,
    Identity,
    make_identity,
    region_for,
    validity_years,
)

N = 1500


@pytest.fixture(scope="module")
def people() -> list[Identity]:
    return [make_identity(random.Random(f"test:{i}"), covered) for i in range(N)]


def test_same_seed_same_person_and_different_seeds_differ() -> None:
    assert make_identity(random.Random(7)) == make_identity(random.Random(7))
    numbers = {make_identity(random.Random(s)).id_number for s in range(50)}
    assert len(numbers) == 50


def test_ethnicities_are_the_56_official_names() -> None:
    assert len(ETHNICITIES) == 56
    assert len(set(ETHNICITIES)) == 56
    assert ETHNICITIES[0] == "汉"
    assert not any(e.endswith("族") for e in ETHNICITIES)


def test_id_numbers_pass_stdnum_and_agree_with_the_person(people: list[Identity]) -> None:
    for p in people:
        n = p.id_number
        assert ric.is_valid(n), n
        assert ric.get_birth_date(n) == p.birth_date
        assert (int(n[16]) % 2 == 1) == (p.sex == "男"), n
        assert n[:6] == p.region.code
    share_x = sum(p.id_number.endswith("X") for p in people) / N
    assert 0.05 < share_x < 0.14


def test_address_and_authority_name_the_id_numbers_region(people: list[Identity]) -> None:
    for p in people:
        place = ric.get_birth_place(p.id_number)
        region = region_for(p.id_number)
        assert place["county"] == region.county
        assert p.address.startswith(region.prefix)
        assert place["county"] in p.address
        assert place["province"] in p.address or p.address.startswith(place["county"])
        assert p.issuing_authority.endswith(("公安局", "分局"))
        if region.county.endswith(("县", "旗")):
            assert p.issuing_authority == f"{region.county}公安局"


def test_addresses_fit_and_often_take_three_or_four_lines(people: list[Identity]) -> None:
    lengths = [len(p.address) for p in people]
    assert max(lengths) <= ADDRESS_MAX_CHARS
    # at eleven characters a line (the printed card's): three lines, and four
    assert sum(n > 22 for n in lengths) / N > 0.4
    assert sum(n > 33 for n in lengths) / N > 0.03
    assert sum(any(c.isdigit() for c in p.address) for p in people) / N > 0.5


ENDINGS = {
    "rural": r"[组号]$",
    "road": r"\d+号$",
    "room": r"\d+室$",
    "digits": r"(\d+栋\d{3,4}|\d+-\d+-\d{3,4}|\d+号楼\d+单元\d{3,4}|\d+幢\d{3,4})$",
    "estate": r"[^\d号室组]$",
    "estate_digits": r"[^\d号](\d+栋\d+|\d+-\d+-\d+|\d+号楼\d+单元\d+|\d+幢\d+)$",
}


def test_every_kind_of_address_ending_occurs_and_ends_as_its_kind(
    people: list[Identity],
) -> None:
    kinds = Counter(p.address_kind for p in people)
    assert set(kinds) == set(ADDRESS_KINDS) == set(ENDINGS)
    assert min(kinds.values()) > N * 0.05
    for p in people:
        assert re.search(ENDINGS[p.address_kind], p.address), (p.address_kind, p.address)
    forms = {
        re.sub(r"\d+", "9", re.search(ENDINGS["digits"], p.address).group(1))
        for p in people
        if p.address_kind == "digits"
    }
    assert forms == {"9栋9", "9-9-9", "9号楼9单元9", "9幢9"}


def test_long_autonomous_region_addresses_and_county_authorities(people: list[Identity]) -> None:
    xinjiang = [p for p in people if p.address.startswith("新疆维吾尔自治区")]
    assert len(xinjiang) / N > 0.06  # dotted names live there, and 6% of the others
    assert any(p.address.startswith("广西壮族自治区") for p in people)
    assert sum("自治州" in p.address or "自治县" in p.address for p in people) / N > 0.05
    assert max(len(p.region.prefix) for p in xinjiang) >= 20
    assert any(re.fullmatch(r"..县公安局", p.issuing_authority) for p in people)


def test_names_cover_the_hard_cases(people: list[Identity]) -> None:
    names = [p.name for p in people]
    assert all(2 <= len(n) <= 12 for n in names)
    dotted = [n for n in names if "·" in n]
    assert 0.02 < len(dotted) / N < 0.09
    kinds = Counter(p.name_kind for p in people)
    assert set(kinds) == set(NAME_KINDS)
    assert kinds["compound"] / N > 0.04 and kinds["rare"] / N > 0.05
    for p in people:
        compound, rare = p.name.startswith(COMPOUND_SURNAMES), any(c in RARE_CHARS for c in p.name)
        assert (p.name_kind == "rare") == rare
        assert (p.name_kind == "dotted") == ("·" in p.name)
        assert p.name_kind != "compound" or compound
        assert p.name_kind != "plain" or not compound
    for wanted in "骉婳琤燚垚淏":
        assert wanted in RARE_CHARS
    assert any(len(n) == 4 and "·" not in n for n in names)
    han = sum(p.ethnicity == "汉" for p in people) / N
    assert 0.68 < han < 0.82
    assert {p.ethnicity for p in people} <= set(ETHNICITIES)
    assert {p.sex for p in people} == {"男", "女"}


def test_birth_dates_in_range(people: list[Identity]) -> None:
    years = Counter(p.birth_date.year for p in people)
    assert min(years) >= 1940
    assert max(years) <= 2015


@pytest.mark.parametrize(
    ("birth", "issued", "years"),
    [
        (date(2010, 5, 1), date(2026, 4, 30), 5),  # 15 the day before the 16th birthday
        (date(2010, 5, 1), date(2026, 5, 1), 10),
        (date(1990, 1, 1), date(2015, 12, 31), 10),  # 25
        (date(1990, 1, 1), date(2016, 1, 1), 20),  # 26
        (date(1970, 6, 1), date(2016, 5, 31), 20),  # 45
        (date(1970, 6, 1), date(2016, 6, 1), None),  # 46
    ],
)
def test_validity_rule_by_age_at_issue(birth: date, issued: date, years: int | None) -> None:
    assert validity_years(birth, issued) == years


def test_every_card_follows_the_validity_rule(people: list[Identity]) -> None:
    seen = set()
    for p in people:
        assert p.birth_date < p.valid_from <= date(2025, 12, 31)
        years = validity_years(p.birth_date, p.valid_from)
        seen.add(years)
        fields = p.fields()
        if years is None:
            assert p.valid_to is None
            assert fields.valid_to == LONG_TERM
            assert p.validity_text.endswith("-长期")
        else:
            assert p.valid_to == p.valid_from.replace(year=p.valid_from.year + years)
            assert fields.valid_to == p.valid_to.isoformat()
    assert seen == {5, 10, 20, None}


def test_side_fields_null_the_other_side(people: list[Identity]) -> None:
    front = people[0].side_fields("front").model_dump()
    back = people[0].side_fields("back").model_dump()
    assert front["name"] and front["id_number"] and front["issuing_authority"] is None
    assert back["valid_from"] and back["name"] is None and back["address"] is None
