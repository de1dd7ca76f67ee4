"""The small pure pieces: vocabulary, dates, the validity rule, layout."""

from __future__ import annotations

import datetime

import pytest

from ocr_job.engines.base import TextBox
from ocr_job.idcard import period_ok, validity_rule_ok
from ocr_job.idcard.dates import birth_month_day, birth_year_month, parse_birth, parse_validity
from ocr_job.idcard.layout import deskew, group_lines, layout
from ocr_job.idcard.vocab import (
    ETHNICITIES,
    is_known_ethnicity,
    nearest_ethnicity,
    normalise_ethnicity,
    normalise_name,
    normalise_place,
    simplify,
)

from .cards import B, render


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("张三", "张三"),
        ("张 三", "张三"),
        ("欧阳娜娜", "欧阳娜娜"),
        ("司马 相如", "司马相如"),
        ("阿卜杜•买买提", "阿卜杜·买买提"),
        ("阿卜杜・买买提", "阿卜杜·买买提"),
        ("阿卜杜.买买提", "阿卜杜·买买提"),
        ("阿卜杜-买买提", "阿卜杜·买买提"),
        ("阿卜杜 · 买买提", "阿卜杜·买买提"),
        ("米娜·努尔兰", "米娜·努尔兰"),
        ("王䶮", "王䶮"),
        ("李𬌗", "李𬌗"),
    ],
)
def test_names(raw: str, name: str) -> None:
    assert normalise_name(raw) == name


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("汉", "汉"),
        ("汉族", "汉"),
        ("维吾尔族", "维吾尔"),
        ("毛难", "毛南"),
        ("毛难族", "毛南"),
        ("崩龙", "德昂"),
        ("蒙 古", "蒙古"),
        ("穿青人", "穿青人"),
        # traditional forms some fonts are read as: the simplified name the card prints
        ("漢", "汉"),
        ("漢族", "汉"),
        ("維吾爾", "维吾尔"),
        ("朝鮮族", "朝鲜"),
        ("達斡爾", "达斡尔"),
        ("俄羅斯", "俄罗斯"),
        ("獨龍", "独龙"),
        ("烏孜別克", "乌孜别克"),
        ("鄂倫春", "鄂伦春"),
    ],
)
def test_ethnicity(raw: str, value: str) -> None:
    assert normalise_ethnicity(raw) == value


@pytest.mark.parametrize(
    ("raw", "group"),
    [
        ("达翰尔", "达斡尔"),
        ("维吾", "维吾尔"),
        ("土冢", "土家"),
        ("柯尔克孜", None),
        ("仏佬", None),  # 仫佬 or 仡佬: not one group, so not guessed
        ("汊", None),
        ("土", None),
    ],  # one character is one edit from every 1-character group
)
def test_nearest_ethnicity(raw: str, group: str | None) -> None:
    assert nearest_ethnicity(raw) == group


@pytest.mark.parametrize(
    ("raw", "place"),
    [
        ("青海省黃南藏族自治州", "青海省黄南藏族自治州"),
        ("涼山彝族自治州", "凉山彝族自治州"),
        ("香港特別行政區", "香港特别行政区"),
        ("吉林省松原市乾安县", "吉林省松原市乾安县"),
        ("陕西省咸阳市乾县", "陕西省咸阳市乾县"),
        ("武汉市硚口区", "武汉市硚口区"),
        ("於 藉 著 瞭", "於藉著瞭"),
    ],
)
def test_places_are_simplified(raw: str, place: str) -> None:
    assert normalise_place(raw) == place


def test_simplified_place_names_stay_as_they_are() -> None:
    """Every county, prefecture and province name stdnum knows in simplified characters
    is left alone (乾县 is not 干县); only its traditional spellings change."""
    import re

    from stdnum import numdb

    names: set[str] = set()

    def walk(parts: list[tuple]) -> None:  # type: ignore[type-arg]
        for _, _, _, props, children in parts:
            names.update(re.sub(r"\[[^\]]*\]", "", v) for v in props.values())
            walk(children)

    walk(numdb.get("cn/loc").prefixes)
    assert len(names) > 4000
    changed = {n: simplify(n) for n in names if simplify(n) != n}
    traditional = set("區員會嶺達門別稜")
    assert all(set(n) & traditional for n in changed), changed


def test_the_56() -> None:
    assert len(ETHNICITIES) == 56
    assert is_known_ethnicity("毛南") and not is_known_ethnicity("毛难")
    assert not is_known_ethnicity("汉族")


@pytest.mark.parametrize(
    ("raw", "date"),
    [
        ("1990年1月2日", datetime.date(1990, 1, 2)),
        ("1990 年 1 月 2 日", datetime.date(1990, 1, 2)),
        ("19 90年12月31日", datetime.date(1990, 12, 31)),
        ("l99O年1月2日", datetime.date(1990, 1, 2)),
        ("1990年1月2", datetime.date(1990, 1, 2)),
        ("1990年2月30日", None),
        ("一九九〇年", None),
    ],
)
def test_birth(raw: str, date: datetime.date | None) -> None:
    assert parse_birth(raw) == date


@pytest.mark.parametrize(
    ("raw", "part"),
    [
        ("1962年11万", (1962, 11)),
        ("1962年11", (1962, 11)),
        ("1962年1月", (1962, 1)),
        ("1962年", None),
        ("1962年13月", None),
        ("1962年112", None),
    ],
)
def test_birth_year_month(raw: str, part: tuple[int, int] | None) -> None:
    assert birth_year_month(raw) == part


@pytest.mark.parametrize(
    ("raw", "period"),
    [
        ("2015.01.01-2035.01.01", ("2015-01-01", "2035-01-01")),
        ("2015.01.01至2035.01.01", ("2015-01-01", "2035-01-01")),
        ("2015.01.01 — 2035.01.01", ("2015-01-01", "2035-01-01")),
        ("20150101-20350101", ("2015-01-01", "2035-01-01")),
        ("2010.05.06-长期", ("2010-05-06", "长期")),
        ("2010.05.06-长", ("2010-05-06", "长期")),
        ("2015.01.01-2035.01", ("2015-01-01", "None")),
        ("2015.01.01-2035", ("2015-01-01", "None")),
        ("2015.01", None),
        ("822-2040.08.22", ("None", "2040-08-22")),  # the start cut off: the end alone
        ("08.22-长期", ("None", "长期")),
        ("2015.01-2035.01.01", ("None", "2035-01-01")),
        ("20150101-2035.01", ("2015-01-01", "None")),
        ("2015.01.01-", ("2015-01-01", "None")),
        ("2015.13.01-2035.13.01", None),
    ],
)
def test_validity(raw: str, period: tuple[str, str] | None) -> None:
    got = parse_validity(raw)
    assert (None if got is None else tuple(str(v) for v in got)) == period


@pytest.mark.parametrize(
    ("start", "end", "ok"),
    [
        ("2015-01-01", "2020-01-01", True),
        ("2015-01-01", "2025-01-01", True),
        ("2015-01-01", "2035-01-01", True),
        ("2015-01-01", "长期", True),
        ("2015-01-01", "2030-01-01", False),
        ("2015-01-01", "2035-01-02", False),
        ("2016-02-29", "2026-02-28", True),
        ("2016-02-29", "2026-03-01", True),
    ],
)
def test_period(start: str, end: str, ok: bool) -> None:
    assert period_ok(start, end) is ok


@pytest.mark.parametrize(
    ("birth", "start", "end", "ok"),
    [
        ("2010-06-01", "2020-01-01", "2025-01-01", True),  # 9 → 5 years
        ("2010-06-01", "2020-01-01", "2030-01-01", False),
        ("2000-06-01", "2020-01-01", "2030-01-01", True),  # 19 → 10 years
        ("1990-06-01", "2020-01-01", "2040-01-01", True),  # 29 → 20 years
        ("1990-06-01", "2020-01-01", "2030-01-01", False),
        ("1960-06-01", "2020-01-01", "长期", True),  # 59 → 长期
        ("1960-06-01", "2020-01-01", "2040-01-01", False),
        ("1974-03-01", "2020-01-01", "2040-01-01", True),  # 45 → 20 years
        ("1974-01-01", "2020-01-01", "长期", True),  # 46 on the day of issue
        ("1974-01-01", "2020-01-01", "2040-01-01", True),  # applied at 45
        ("2004-01-01", "2020-01-01", "2030-01-01", True),  # 16 on the day of issue
    ],
)
def test_validity_rule(birth: str, start: str, end: str, ok: bool) -> None:
    assert validity_rule_ok(birth, start, end) is ok


def test_validity_rule_accepts_dates() -> None:
    assert validity_rule_ok(datetime.date(1990, 6, 1), datetime.date(2020, 1, 1), "2040-01-01")


@pytest.mark.parametrize("skew", [-6.0, -3.0, 0.0, 3.0, 6.0])
def test_lines_survive_skew(skew: float) -> None:
    specs = [
        B("住址", 60, 300, w=60),
        B("广东省深圳市南山区粤海", 170, 300),
        B("街道科技园社区", 170, 345),
        B("10000号", 170, 390),
        B("3栋", 420, 390),
    ]
    lines = layout(render(specs, skew_deg=skew, seed=4), 1000, 631)
    assert [line.chars().text for line in lines] == [
        "住址广东省深圳市南山区粤海",
        "街道科技园社区",
        "10000号3栋",
    ]


def test_deskew_drops_empty_boxes() -> None:
    boxes = [
        TextBox(" ", 0.9, ((0, 0), (10, 0), (10, 10), (0, 10))),
        TextBox("a", 0.9, ((0, 0), (10, 0), (10, 10), (0, 10))),
    ]
    assert [i.index for i in deskew(boxes, 100, 63)] == [1]


def test_overlapping_boxes_repeat_nothing() -> None:
    # a detector box for the label swallowed the first value character as well
    boxes = render([B("住址新", 56, 330, w=132), B("新疆维吾尔自治区喀什地", 166, 330, w=409)])
    (line,) = group_lines(deskew(boxes, 1000, 631))
    assert line.chars().text == "住址新疆维吾尔自治区喀什地"
    misread = render([B("住址亲", 56, 330, w=132), B("新疆维吾尔自治区喀什地", 166, 330, w=409)])
    (line,) = group_lines(deskew(misread, 1000, 631))
    assert line.chars().text == "住址新疆维吾尔自治区喀什地"


def test_a_box_under_another_of_a_tight_pitch_is_a_line_of_its_own() -> None:
    """A small card's address lines 20 px high and 16 apart overlap by more than half a
    line: a box under another (sharing its width, a quarter line lower) is the next line,
    not more of the same one, which then lost 道403号翡翠里 behind 江苏省…前进大."""
    boxes = render(
        [
            B("住址", 208, 575.5, w=31, h=17),
            B("江苏省宿迁市宿城区前进大", 251, 567.5, w=156, h=23),
            B("道403号翡翠里", 251, 585.5, w=87, h=19),
        ]
    )
    lines = group_lines(deskew(boxes, 1000, 631))
    assert [line.chars().text for line in lines] == ["住址江苏省宿迁市宿城区前进大", "道403号翡翠里"]
    side = render([B("出生1971", 60, 225, w=150), B("年6月18日", 200, 227, w=150)])  # ends overlap
    (line,) = group_lines(deskew(side, 1000, 631))
    assert line.chars().text == "出生1971年6月18日"


@pytest.mark.parametrize(
    ("raw", "part"),
    [
        ("年9月3日", (9, 3)),
        ("9月3日", (9, 3)),
        ("年12月31", (12, 31)),
        ("年2月30日", None),
        ("1962年9月3日", None),
        ("人民路9月3日", None),
    ],
)
def test_birth_month_day(raw: str, part: tuple[int, int] | None) -> None:
    assert birth_month_day(raw) == part
