"""`parse` end to end on hand-built boxes: one test per user complaint, and the API."""

from __future__ import annotations

import logging

import pytest

from ocr_job.idcard import CardReading, parse

from .cards import ADDR3, LI_X, ZHANG, B, back, front, id_number, render

W, H = 1000, 631


def read(specs: list[B], skew: float = 0.0, seed: int | None = None) -> CardReading:
    return parse(render(specs, skew_deg=skew, seed=seed), W, H)


def codes(reading: CardReading) -> list[str]:
    return sorted(w.code for w in reading.warnings)


# -- complaint: "the address is cut short / its lines come out of order"


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("skew", [-5.0, 0.0, 5.0])
def test_multi_line_address_is_whole_and_in_order(seed: int, skew: float) -> None:
    specs = front("欧阳娜娜", "男", "汉", ("1985", "12", "31"), ADDR3, LI_X)
    reading = read(specs, skew, seed)
    assert reading.fields.address == "".join(ADDR3)
    assert reading.warnings == []


def test_address_stops_before_the_number_line_even_without_its_label() -> None:
    specs = [
        b
        for b in front("欧阳娜娜", "男", "汉", ("1985", "12", "31"), ADDR3, LI_X)
        if b.text != "公民身份号码"
    ]
    reading = read(specs)
    assert reading.fields.address == "".join(ADDR3)
    assert reading.fields.id_number == LI_X


# -- complaint: "the ID number is glued onto the address"


def test_number_glued_to_the_address_box_is_split_off() -> None:
    specs = front("张三", "男", "汉", ("1990", "1", "2"), ["北京市东城区景山前街"], ZHANG)
    specs = [b for b in specs if b.text not in ("北京市东城区景山前街", ZHANG, "公民身份号码")]
    specs.append(B("北京市东城区景山前街4号 " + ZHANG, 170, 300, w=700))
    reading = read(specs)
    assert reading.fields.address == "北京市东城区景山前街4号"
    assert reading.fields.id_number == ZHANG
    assert ZHANG not in (reading.fields.address or "")


def test_address_never_contains_the_number_label() -> None:
    specs = front("张三", "男", "汉", ("1990", "1", "2"), ["北京市东城区景山前街", "4号"], ZHANG)
    specs = [b for b in specs if b.text != "4号"] + [B("4号公民身份号码", 170, 345)]
    reading = read(specs)
    assert reading.fields.address == "北京市东城区景山前街4号"


# -- complaint: "names with · and rare characters are mangled"


@pytest.mark.parametrize(
    ("printed", "name"),
    [
        ("阿卜杜热合曼•买买提", "阿卜杜热合曼·买买提"),
        ("米娜・努尔兰", "米娜·努尔兰"),
        ("古丽.阿不都", "古丽·阿不都"),
        ("司马相如", "司马相如"),
        ("王䶮", "王䶮"),
        ("李𬌗", "李𬌗"),
    ],
)
def test_names_keep_their_dot_and_rare_characters(printed: str, name: str) -> None:
    for merged in (False, True):
        specs = front(printed, "男", "汉", ("1990", "1", "2"), ["北京市东城区景山前街"], ZHANG, merged=merged)
        assert read(specs).fields.name == name


# -- complaint: "the trailing X is dropped"


def test_dropped_trailing_x_is_restored_and_reported() -> None:
    specs = front("欧阳娜娜", "男", "汉", ("1985", "12", "31"), ADDR3, LI_X[:17])
    reading = read(specs)
    assert reading.fields.id_number == LI_X
    assert reading.checks["id_checksum"] is True
    (warning,) = reading.warnings
    assert warning.code == "id_number_corrected" and warning.field == "id_number"
    assert LI_X[:17] not in warning.message


def test_dropped_x_is_not_restored_without_a_birth_date() -> None:
    specs = [
        b
        for b in front("欧阳娜娜", "男", "汉", ("1985", "12", "31"), ADDR3, LI_X[:17])
        if not b.text.startswith(("出生", "1985"))
    ]
    reading = read(specs)
    assert reading.fields.id_number is None  # 17 characters: no number
    assert reading.checks["id_checksum"] is False
    assert codes(reading) == ["field_missing", "field_missing", "id_checksum_failed"]


# -- complaint: "a confidently wrong value went through silently"


def test_confident_wrong_values_are_left_empty_with_warnings_not_corrected() -> None:
    """A sex and a birth date read surely but contradicted by the number (which passed its
    checksum) are left empty, each with its check's warning: not reported, not replaced
    by the number's (a printed date the number contradicts is the reviewer's to see)."""
    specs = front("张三", "女", "汉", ("1991", "1", "2"), ["北京市东城区景山前街"], ZHANG)
    reading = read(specs)
    assert reading.fields.sex is None and reading.fields.birth_date is None
    assert reading.fields.id_number == ZHANG and reading.fields.name == "张三"
    assert reading.checks["sex_matches_id"] is False
    assert reading.checks["birth_date_matches_id"] is False
    assert "sex" not in reading.confidence and "birth_date" not in reading.confidence
    assert codes(reading) == ["birth_date_mismatch", "field_missing", "field_missing", "sex_mismatch"]


def test_unknown_region_is_named_in_a_warning() -> None:
    number = "990101199001020037"
    first17 = number[:17]
    from stdnum.cn import ric

    number = first17 + ric.calc_check_digit(number)
    specs = front("张三", "男", "汉", ("1990", "1", "2"), ["北京市东城区景山前街"], number)
    reading = read(specs)
    assert reading.checks["region_known"] is False
    (warning,) = reading.warnings
    assert warning.code == "region_unknown" and "990101" in warning.message


def test_region_mismatch_names_both_places() -> None:
    specs = front("张三", "男", "汉", ("1990", "1", "2"), ["广东省广州市越秀区"], ZHANG)
    (warning,) = read(specs).warnings
    assert warning.code == "address_region_mismatch"
    assert "广东省" in warning.message and "北京市" in warning.message


# -- the API


def test_confidence_is_the_lowest_score_of_the_field_boxes() -> None:
    specs = [
        B("姓名", 60, 78, w=60, score=0.5),
        B("欧阳", 170, 78, score=0.95),
        B("娜娜", 240, 78, score=0.92),
        *front("x", "男", "汉", ("1985", "12", "31"), ADDR3, LI_X)[2:],
    ]
    specs[-1].score = 0.7
    reading = read(specs)
    assert reading.fields.name == "欧阳娜娜"
    assert reading.confidence["name"] == 0.92
    assert reading.confidence["id_number"] == 0.7
    assert set(reading.confidence) == set(reading.fields.model_dump(exclude_none=True))


def test_missing_fields_are_warned_never_invented() -> None:
    specs = [
        B("姓名", 60, 78, w=60),
        B("张三", 170, 78),
        B("公民身份号码", 60, 540, w=230),
        B(ZHANG, 340, 540, w=520),
    ]
    reading = read(specs)
    assert reading.side == "front"
    assert reading.fields.birth_date is None and reading.fields.sex is None
    missing = sorted(w.field or "" for w in reading.warnings if w.code == "field_missing")
    assert missing == ["address", "birth_date", "ethnicity", "sex"]


def test_back_fields_missing() -> None:
    reading = read([B("中华人民共和国", 380, 95, w=520), B("居民身份证", 330, 190, w=560)])
    assert reading.side == "back"
    assert sorted(w.field or "" for w in reading.warnings) == ["issuing_authority", "valid_from", "valid_to"]


def test_an_authority_without_its_label_begins_at_the_dates_column() -> None:
    """Pale labels not read: the authority's box starts at the column of the dates below
    it, left of the card's usual value column, and keeps its first character."""
    specs = [B("中华人民共和国", 380, 95, w=520), B("居民身份证", 330, 190, w=560)]
    specs += [B("贵南县公安局", 300, 470), B("2022.04.30-2042.04.30", 300, 545, w=360)]
    reading = read(specs)
    assert reading.fields.issuing_authority == "贵南县公安局"
    assert reading.fields.valid_from == "2022-04-30"


def test_an_authority_after_room_left_by_its_label_is_read_again_with_that_room() -> None:
    """`签发机关` then, 1.5 heights on, `南县公安局`: the box and the room left of it are
    asked to be read again (a first character the detector left out); not when the box
    follows the label closely, nor once read."""
    specs = back("南县公安局", "2022.04.30-2042.04.30")
    far = [B("南县公安局", 400, 470) if b.text == "南县公安局" else b for b in specs]
    (x0, y0), (x1, _), (_, y1), _ = read(far).look_again["issuing_authority"]
    assert 350 < x0 < 400 - 0.8 * 30 and x1 == pytest.approx(400 + 5 * 34, abs=1) and y0 < 470 < y1
    near = [B("南县公安局", 355, 470) if b.text == "南县公安局" else b for b in specs]
    assert "issuing_authority" not in read(near).look_again
    assert "issuing_authority" not in parse(render(far), W, H, looked=("issuing_authority",)).look_again


@pytest.mark.parametrize(
    "specs",
    [
        [],
        [B("欢迎光临", 100, 100)],
        [B("姓名", 60, 78)],
        [B("Lorem ipsum dolor", 60, 78)],
        [B("20150101", 100, 100)],
    ],
)
def test_no_card(specs: list[B]) -> None:
    reading = read(specs)
    assert reading.side is None
    assert reading.fields.model_dump(exclude_none=True) == {}
    assert codes(reading) == ["no_card_text"]


def test_nothing_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    read(front("张三", "男", "汉", ("1990", "1", "2"), ["北京市东城区景山前街"], ZHANG[:-1]))
    assert caplog.records == []


def test_messages_never_show_the_name_or_number() -> None:
    bad = ZHANG[:10] + "8" + ZHANG[11:]
    reading = read(front("张三", "女", "汉", ("1991", "1", "2"), ["广东省广州市"], bad))
    assert reading.warnings
    for warning in reading.warnings:
        assert "张三" not in warning.message and bad not in warning.message


def test_address_label_half_read_keeps_the_first_line() -> None:
    specs = front("欧阳娜娜", "男", "汉", ("1985", "12", "31"), ADDR3, LI_X)
    specs = [B("址", 60, 300, w=110) if b.text == "住址" else b for b in specs]
    assert read(specs, skew=-3.5).fields.address == "".join(ADDR3)


def test_validity_cut_short_keeps_the_start_and_warns() -> None:
    specs = [
        B("中华人民共和国", 380, 95, w=520),
        B("居民身份证", 330, 190, w=560),
        B("签发机关", 220, 470, w=130),
        B("南澳县公安局", 400, 470),
        B("有效期限", 220, 545, w=130),
        B("2025.01.24-2045", 400, 545, w=290),
    ]
    reading = read(specs)
    assert reading.fields.valid_from == "2025-01-24" and reading.fields.valid_to is None
    assert codes(reading) == ["field_missing", "value_unparsed"]
    assert "validity_period" not in reading.checks
    # its box is read again with the room around it (after the label's box, and right of
    # it); read whole there (the box replaced, as the pipeline does), the period is whole
    (x0, y0), (x1, _), (_, y1), _ = reading.look_again["validity"]
    assert x0 == pytest.approx(350 + 0.15 * 30, abs=1) and x1 > 690 + 3 * 30 and y0 < 545 < y1
    whole = [B("2025.01.24-2045.01.24", 400, 545, w=380) if b.text.startswith("2025") else b for b in specs]
    found = parse(render(whole), W, H, looked=("validity",))
    assert (found.fields.valid_from, found.fields.valid_to) == ("2025-01-24", "2045-01-24")
    assert found.checks["validity_period"] is True and "validity" not in found.look_again


def test_a_validity_read_whole_asks_for_no_place() -> None:
    reading = read(back("南澳县公安局", "2025.01.24-2045.01.24"))
    assert reading.fields.valid_to == "2045-01-24" and "validity" not in reading.look_again


@pytest.mark.parametrize(("score", "kept"), [(0.79, False), (0.95, True)])
def test_a_lone_end_of_the_period_read_with_a_low_score_is_left_empty(score: float, kept: bool) -> None:
    specs = [
        B("中华人民共和国", 380, 95, w=520),
        B("居民身份证", 330, 190, w=560),
        B("签发机关", 220, 470, w=130),
        B("南澳县公安局", 400, 470),
        B("有效期限", 220, 545, w=130),
        B("2014.03.10-", 400, 545, w=200, score=score),
    ]
    reading = read(specs)
    assert reading.fields.valid_from == ("2014-03-10" if kept else None)
    assert reading.fields.valid_to is None
    dropped = [] if kept else ["field_missing", "value_low_confidence"]
    expected = ["field_missing", "value_unparsed", *dropped]
    assert codes(reading) == sorted(expected)


# -- complaint: "a confident wrong value instead of a warning" (names)


@pytest.mark.parametrize(
    ("printed", "reason"),
    [
        ("住址贵州省黔东南苗族侗族自工", "a label"),
        ("张三1990", "digits"),
        ("杰", "too short"),
        ("徐址", "a character"),
        ("付号若", "a character"),
        ("Li Wei", "digits, letters"),
    ],
)
def test_a_name_that_cannot_be_one_is_left_empty(printed: str, reason: str) -> None:
    specs = front(printed, "男", "汉", ("1990", "1", "2"), ["北京市东城区景山前街4号"], ZHANG)
    reading = read(specs)
    assert reading.fields.name is None
    assert reading.fields.address == "北京市东城区景山前街4号"
    (warning,) = [w for w in reading.warnings if w.code == "name_implausible"]
    assert warning.field == "name" and reason in warning.message
    assert codes(reading) == ["field_missing", "name_implausible"]


def test_address_line_merged_into_the_name_line_is_not_the_name() -> None:
    """The detector merged the name's line with the address's first line: that text holds
    the label 住址 and must not come out as the name."""
    specs = [
        b
        for b in front("任若彬", "男", "汉", ("1990", "1", "2"), ["北京市东城区景山前街4号"], ZHANG)
        if b.text not in ("姓名", "任若彬")
    ]
    specs += [B("名", 100, 78, w=30), B("住址贵州省黔东南苗族侗族自工", 170, 78, w=480)]
    reading = read(specs)
    assert reading.fields.name is None
    assert reading.fields.address == "北京市东城区景山前街4号"
    assert codes(reading) == ["field_missing", "name_implausible"]


@pytest.mark.parametrize(("score", "kept"), [(0.95, True), (0.92, True), (0.91, False), (0.75, False)])
def test_a_name_read_with_a_low_score_is_left_empty(score: float, kept: bool) -> None:
    specs = front("孔骉", "男", "汉", ("1990", "1", "2"), ["北京市东城区景山前街4号"], ZHANG)
    next(b for b in specs if b.text == "孔骉").score = score
    reading = read(specs)
    assert reading.fields.name == ("孔骉" if kept else None)
    assert ("value_low_confidence" in codes(reading)) is not kept


def test_traditional_forms_of_a_name_become_simplified_and_variants_stay() -> None:
    specs = front("黃強昇", "男", "汉", ("1990", "1", "2"), ["北京市东城区景山前街4号"], ZHANG)
    assert read(specs).fields.name == "黄强昇"


# -- the address's place names against the number's region


def test_misread_place_names_of_the_region_are_repaired_with_a_warning() -> None:
    specs = front("张三", "男", "汉", ("1990", "1", "2"), ["北京市东域区景山前街4号"], ZHANG)
    reading = read(specs)
    assert reading.fields.address == "北京市东城区景山前街4号"
    (warning,) = reading.warnings
    assert warning.code == "address_corrected" and warning.field == "address"
    assert reading.checks["address_matches_region"] is True


@pytest.mark.parametrize(
    ("chars", "kept"),
    [
        ((0.3, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0), True),
        ((0.3, 1.0, 1.0, 1.0, 0.6, 1.0, 1.0, 1.0), False),
        ((), False),
    ],
)
def test_a_line_doubtful_only_in_the_place_names_is_settled_by_them(
    chars: tuple[float, ...], kept: bool
) -> None:
    """`东城区` split over two lines, its 城 read 域 with doubt on a line that goes on with the
    street: when every character after the names was read surely (scores per character),
    the line's low score is the names', which the table repairs; a doubtful street
    character, or no per-character scores, leaves the address empty."""
    specs = front("张三", "男", "汉", ("1990", "1", "2"), ["北京市东", "域区景山前街4号", "院2号楼"], ZHANG)
    at = next(i for i, b in enumerate(specs) if b.text == "域区景山前街4号")
    specs[at] = B("域区景山前街4号", specs[at].x, specs[at].y, score=0.8, chars=chars)
    # the place after the short first line was read again and held nothing
    reading = parse(render(specs), W, H, looked=("address_line",))
    assert reading.fields.address == ("北京市东城区景山前街4号院2号楼" if kept else None)
    assert ("address_corrected" if kept else "value_low_confidence") in codes(reading)


def test_another_known_place_is_not_repaired_to_the_region() -> None:
    """西城区 is one character from the number's 东城区, but a real place: kept as read."""
    specs = front("张三", "男", "汉", ("1990", "1", "2"), ["北京市西城区景山前街4号"], ZHANG)
    reading = read(specs)
    assert reading.fields.address == "北京市西城区景山前街4号"
    assert reading.warnings == []


def test_an_address_that_names_no_known_place_is_left_empty() -> None:
    specs = front("张三", "男", "汉", ("1990", "1", "2"), ["广东省深川市南山区粤海街道", "4号"], ZHANG)
    reading = read(specs)
    assert reading.fields.address is None
    assert codes(reading) == ["field_missing", "place_unknown"]
    assert "address_matches_region" not in reading.checks


@pytest.mark.parametrize("last", ["永安村2", "大营乡水", "复兴西路258号19栋29"])
def test_an_address_cut_short_is_left_empty(last: str) -> None:
    specs = front("张三", "男", "汉", ("1990", "1", "2"), ["北京市东城区景山前街", last], ZHANG)
    reading = read(specs)
    assert reading.fields.address is None
    assert codes(reading) == ["address_incomplete", "field_missing"]


# -- the back


def test_an_authority_of_no_known_place_is_left_empty() -> None:
    reading = read(back("土书旦公安局", "2005.05.28-长期"))
    assert reading.fields.issuing_authority is None
    assert reading.fields.valid_to == "长期"
    assert codes(reading) == ["field_missing", "place_unknown"]
    assert read(back("攀枝花市公安局东区分局", "2005.05.28-长期")).warnings == []


def test_dates_on_both_sides_of_a_hole_are_not_joined() -> None:
    specs = [b for b in back("凤县公安局", "x") if b.text != "x"]
    specs += [B("2000", 400, 545, w=64), B("11.05", 620, 545, w=80)]
    reading = read(specs)
    assert reading.fields.valid_from is None and reading.fields.valid_to is None
    assert "value_unparsed" in codes(reading)


def test_a_lone_date_where_the_end_is_printed_is_the_end() -> None:
    specs = [b for b in back("安图县公安局", "x") if b.text != "x"]
    specs.append(B("2031.09.18", 580, 545, w=160))
    reading = read(specs)
    assert reading.fields.valid_from is None
    assert reading.fields.valid_to == "2031-09-18"
    assert codes(reading) == ["field_missing", "value_unparsed"]


def test_a_label_and_its_value_pushed_onto_two_lines_are_joined() -> None:
    specs = [b for b in back("林西县公安局", "x") if b.text != "x"]
    specs.append(B("2015.11.16-2020.11.16", 400, 570, w=290))
    reading = read(specs)
    assert (reading.fields.valid_from, reading.fields.valid_to) == ("2015-11-16", "2020-11-16")
    assert reading.warnings == []


# -- a view in which the card lies on its side


def test_a_card_lying_on_its_side_gives_no_reading() -> None:
    specs = front("张三", "男", "汉", ("1990", "1", "2"), ["北京市东城区景山前街4号"], ZHANG)
    turned = [
        B(b.text, 500 - (b.y - 300), 100 + b.x + b.width() / 2, b.score, w=30, h=b.width()) for b in specs
    ]
    reading = read(turned)
    assert reading.side is None
    assert codes(reading) == ["no_card_text"]


def test_a_front_whose_labels_and_number_were_not_read_is_still_a_front() -> None:
    """Pale labels not detected and glare across the number (`652924` … `1209190X`): one
    label glued to the ethnicity, a birth line and an address line that begins with a
    place's name still say it is a front, and its values are read. Without the address
    line, too little is left to tell."""
    card = front(
        "许晶莉",
        "女",
        "怒",
        ("1955", "12", "9"),
        ["新疆维吾尔自治区阿克苏", "地区沙雅县龙泉乡白水村1组"],
        ZHANG,
    )
    labels = {"姓名", "性别", "出生", "住址", "公民身份号码", "民族", "怒"}
    specs = [b for b in card if b.text not in labels and b.x >= 170 and b.y < 500]
    specs += [B("民族怒", 330, 150), B("652924", 340, 540, w=160), B("1209190X", 620, 540, w=220)]
    reading = read(specs)
    assert reading.side == "front"
    assert (reading.fields.name, reading.fields.sex, reading.fields.ethnicity) == ("许晶莉", "女", "怒")
    assert reading.fields.birth_date == "1955-12-09" and reading.fields.id_number is None
    no_address = [b for b in specs if not b.text.startswith(("新疆", "地区"))]
    assert read(no_address).side is None


def test_an_address_line_lost_between_two_read_ones_leaves_the_address_empty() -> None:
    lines = ["广东省深圳市南山区粤海", "街道科技园社区深南大道", "10000号3栋1单元502室"]
    specs = front("欧阳娜娜", "男", "汉", ("1985", "12", "31"), lines, LI_X)
    for b in specs:
        if b.text in lines:
            b.h = 40  # lines 45 apart, 40 high: a lost line leaves 2.25 heights between two
    assert read(specs).fields.address == "".join(lines)
    reading = read([b for b in specs if b.text != lines[1]])
    assert reading.fields.address is None
    assert codes(reading) == ["address_incomplete", "field_missing"]


# -- issue 14: completeness from the card's geometry, places to look at again


@pytest.mark.parametrize("last", ["5栋1806", "3-2-501", "华润城润府"])
def test_an_address_is_whole_once_the_place_after_it_holds_nothing(last: str) -> None:
    specs = front("张三", "男", "汉", ("1990", "1", "2"), ["北京市东城区景山前街", last], ZHANG)
    first = read(specs)
    # until the place right of its last line has been read again, its end decides
    assert first.fields.address is None and "address" in first.look_again
    (x0, y0), (x1, _), (_, y1), _ = first.look_again["address"]
    last_box = next(b for b in specs if b.text == last)
    assert x0 >= last_box.x + last_box.width() - 5 and y0 < last_box.y < y1 and x1 > x0
    again = parse(render(specs), W, H, looked=("address",))
    assert again.fields.address == "北京市东城区景山前街" + last
    assert again.warnings == [] and "address" not in again.look_again


@pytest.mark.parametrize(
    ("last", "address"),
    [
        ("5#楼A座1806", "5#楼A座1806"),
        ("3—2—501", "3-2-501"),  # the hyphen as recognisers return it
        ("3一2一501", "3-2-501"),  # the CJK one between digits
        ("+号楼3单元202", None),  # a blurred 4 read +: no address holds it
        ("4号楼3单元20%", None),
    ],
)
def test_an_address_holds_the_marks_addresses_are_written_with(last: str, address: str | None) -> None:
    specs = front("张三", "男", "汉", ("1990", "1", "2"), ["北京市东城区景山前街", last], ZHANG)
    reading = parse(render(specs), W, H, looked=("address",))
    assert reading.fields.address == (None if address is None else "北京市东城区景山前街" + address)
    if address is None:
        assert ("value_low_confidence", "address") in {(w.code, w.field) for w in reading.warnings}


def test_a_last_line_of_digits_is_full_by_its_printed_width_not_its_length() -> None:
    """`4号院1234567` has as many characters as the line above it but prints half as wide:
    the place right of it is asked for, not the next line's."""
    reading = read(
        front("张三", "男", "汉", ("1990", "1", "2"), ["北京市东城区景山前街", "4号院1234567"], ZHANG)
    )
    (_, y0), _, (_, y1), _ = reading.look_again["address"]
    assert y0 < 345 < y1  # on the last line


def test_the_next_lines_place_is_asked_for_when_the_last_line_reaches_the_margin() -> None:
    lines = ["广东省深圳市南山区粤海", "街道科技园社区深南大厦"]
    reading = read(front("欧阳娜娜", "男", "汉", ("1985", "12", "31"), lines, LI_X))
    (x0, y0), _, (x1, y1), _ = reading.look_again["address"]
    assert 345 + 20 < y0 < 390 < y1 < 540 - 15  # below the last line, above the number
    assert x0 < 175 and x1 > 170 + 34 * 11
    assert reading.fields.address is None  # 厦 does not close an address: not yet whole
    line3 = B("10000号", 170, 390)
    whole = parse(
        render([*front("欧阳娜娜", "男", "汉", ("1985", "12", "31"), lines, LI_X), line3]),
        W,
        H,
        looked=("address",),
    )
    assert whole.fields.address == "".join(lines) + "10000号"


def test_the_next_lines_place_begins_below_the_last_line_of_a_tight_pitch() -> None:
    """Lines 0.9 of their height apart nearly touch: the place of the next line, read
    again, must not reach into the last one (it would read that line's lower half)."""
    lines = ["广东省深圳市南山区粤海", "街道科技园社区深南大厦"]
    specs = front("欧阳娜娜", "男", "汉", ("1985", "12", "31"), lines, LI_X)
    for b in specs:
        if b.text == lines[1]:
            b.y = 300 + 27  # the address's lines 27 apart, 30 high
    reading = read(specs)
    (_, y0), _, (_, y1), _ = reading.look_again["address"]
    assert 327 + 15 <= y0 < y1 and y1 > 327 + 15 + 20


def test_a_missing_one_character_value_is_looked_for_right_of_its_label() -> None:
    specs = [
        b
        for b in front("张三", "男", "汉", ("1990", "1", "2"), ["北京市东城区景山前街4号"], ZHANG)
        if b.text != "男"
    ]
    reading = read(specs)
    assert reading.fields.sex is None
    (x0, y0), (x1, _), (_, y1), _ = reading.look_again["sex"]
    assert 120 <= x0 < 170 and 170 + 34 <= x1 <= 330 and y0 < 150 < y1
    found = parse(render([*specs, B("男", 175, 150)]), W, H, looked=("sex",))
    assert found.fields.sex == "男" and "sex" not in found.look_again


def test_the_rest_of_the_sex_line_is_looked_at_when_neither_label_nor_group_was_read() -> None:
    """Glare over 民族 and 汉 both: the group follows the sex on its line, so the room right
    of 男 is read again; what is read there is the group. Without the sex read, that room
    may hold the sex: it is not asked for."""
    specs = front("张三", "男", "汉", ("1990", "1", "2"), ["北京市东城区景山前街4号"], ZHANG)
    lost = [b for b in specs if b.text not in ("民族", "汉")]
    reading = read(lost)
    assert reading.fields.sex == "男" and reading.fields.ethnicity is None
    (x0, y0), (x1, _), (_, y1), _ = reading.look_again["ethnicity"]
    assert 170 + 34 <= x0 < 330 and x1 > 430 + 34 and y0 < 150 < y1
    for seen in (B("民族汉", 330, 150, w=100), B("汉", 430, 150), B("族汉", 360, 150)):  # 民 faded
        found = parse(render([*lost, seen]), W, H, looked=("ethnicity",))
        assert (found.fields.sex, found.fields.ethnicity) == ("男", "汉")
    no_sex = read([b for b in lost if b.text != "男"])
    assert "ethnicity" not in no_sex.look_again and "sex" in no_sex.look_again


@pytest.mark.parametrize("turn", [83.0, 90.0, -90.0, 96.0])
def test_a_card_on_its_side_read_along_its_lines_is_no_card_until_turned(turn: float) -> None:
    """Each line was read along its length (the text is right) but the lines run down the
    picture: the labels are not left of the values, so the parser names no side (the
    caller then reads the picture turned) rather than a side with every field missing."""
    specs = back("木垒哈萨克自治县公安局", "2021.05.22-2026.05.22")
    upright = parse(render(specs, skew_deg=4.0, seed=1), 1000, 631)
    assert upright.fields.issuing_authority == "木垒哈萨克自治县公安局"
    reading = parse(render(specs, skew_deg=turn, seed=1), 1000, 631)
    assert reading.side is None
    assert codes(reading) == ["no_card_text"]
    assert "side" in reading.warnings[0].message


# -- issue 14: labels misread, read as values


@pytest.mark.parametrize(
    ("line", "authority"), [("警发机关称多县公安局", "称多县公安局"), ("签发机石屏县公安局", "石屏县公安局")]
)
def test_a_back_label_read_with_one_character_wrong_is_still_the_label(line: str, authority: str) -> None:
    """`警发机关称多县公安局` (a photographed back): the authority after the misread label.
    A last character lost is no misreading: the value's first is not the label's."""
    specs = [b for b in back(authority, "2013.08.14-2033.08.14", merged=True)]
    specs[2] = B(line, 220, 470)
    reading = read(specs)
    assert reading.fields.issuing_authority == authority
    assert reading.warnings == []


@pytest.mark.parametrize("label", ["民方", "民"])
def test_the_ethnicity_label_misread_alone_is_no_ethnicity(label: str) -> None:
    """`性别女` then `民方` (族 misread; its value under glare, not detected): the box is the
    label, not the ethnicity 民方; the place right of it is asked to be read again."""
    card = front("张三", "男", "汉", ("1990", "1", "2"), ADDR3, ZHANG)
    specs = [b for b in card if b.text not in ("民族", "汉")]
    specs.append(B(label, 330, 150, w=30 * len(label)))
    reading = read(specs)
    assert reading.fields.ethnicity is None
    assert "ethnicity" in reading.look_again
    (x0, _), (x1, _), _, _ = reading.look_again["ethnicity"]
    assert x0 >= 330 + 30 * len(label) - 1 and x1 > x0
    seen = "汉" if label == "民方" else "族汉"  # what the place holds: the value, 族 too when lost
    looked = render([*specs, B(seen, 330 + 30 * len(label) + 2, 150)])
    assert parse(looked, W, H, looked=("ethnicity",)).fields.ethnicity == "汉"


def test_the_ethnicity_after_a_label_that_ends_a_box_is_looked_for() -> None:
    """`性别男民族` read as one box and the 汉 after it missed: the place right of the box is
    asked to be read again, as for a label read alone."""
    card = front("张三", "男", "汉", ("1990", "1", "2"), ADDR3, ZHANG)
    specs = [b for b in card if b.text not in ("性别", "男", "民族", "汉")] + [
        B("性别男民族", 60, 150, w=330)
    ]
    reading = read(specs)
    assert reading.fields.sex == "男" and reading.fields.ethnicity is None
    (x0, _), (x1, _), _, _ = reading.look_again["ethnicity"]
    assert x0 >= 390 - 1 and x1 - x0 >= 60
    looked = render([*specs, B("汉", x0 + 20, 150)])
    assert parse(looked, W, H, looked=("ethnicity",)).fields.ethnicity == "汉"


@pytest.mark.parametrize(
    ("ethnicity", "x", "kept"), [("土家", 430, True), ("汉", 430, True), ("汉", 172, False)]
)
def test_a_group_read_where_no_sex_is_printed_is_the_ethnicity(ethnicity: str, x: int, kept: bool) -> None:
    """Glare over `女 民族` leaves `性别` and `土家` on the sex line: a group printed well
    right of the value column is no sex, so it is the ethnicity. One read where the sex is
    printed (`汉` at the column) may be a misread sex: nothing is taken."""
    card = front("张三", "女", ethnicity, ("1990", "1", "2"), ADDR3, ZHANG)
    specs = [b for b in card if b.text not in ("女", "民族", ethnicity)] + [B(ethnicity, x, 150)]
    reading = read(specs)
    assert reading.fields.ethnicity == (ethnicity if kept else None)
    assert reading.fields.sex is None


@pytest.mark.parametrize(("seen", "rest"), [("1990", "年1月2日"), ("1990年1", "月2日"), ("", "1990年1月2日")])
def test_a_birth_date_read_in_part_has_its_rest_read_again(seen: str, rest: str) -> None:
    """Glare over `年1月2日` (the detector found `1990` alone): the place right of what was
    read is asked to be read again, and what is read there completes the date. Until then
    a year and month that agree with the number give the number's date, with a warning."""
    card = front("张三", "男", "汉", ("1990", "1", "2"), ADDR3, ZHANG)
    specs = [b for b in card if b.text != "1990年1月2日"] + ([B(seen, 170, 225)] if seen else [])
    reading = read(specs)
    from_number = "birth_date_from_id" in codes(reading)
    assert reading.fields.birth_date == ("1990-01-02" if from_number else None)
    assert from_number == (seen == "1990年1")
    x0, _, x1, _ = _corners_x(reading.look_again["birth_date"])
    assert x0 >= (170 + B(seen, 0, 0).width() if seen else 120) - 1 and x1 - x0 > 34 * 4
    looked = render([*specs, B(rest, x0 + 2, 225)])
    assert parse(looked, W, H, looked=("birth_date",)).fields.birth_date == "1990-01-02"


def test_a_birth_date_whose_start_was_lost_is_not_looked_for_on_its_right() -> None:
    card = front("张三", "男", "汉", ("1990", "1", "2"), ADDR3, ZHANG)
    specs = [b for b in card if b.text != "1990年1月2日"] + [B("年1月2日", 250, 225)]
    assert "birth_date" not in read(specs).look_again


def _corners_x(quad: tuple[tuple[float, float], ...]) -> tuple[float, float, float, float]:
    (x0, y0), (x1, _), (_, y1), _ = quad
    return x0, y0, x1, y1


@pytest.mark.parametrize(
    ("pattern", "score", "kept"), [("8888", 0.7, True), ("88", 0.79, True), ("8888", 0.85, False)]
)
def test_digits_read_with_doubt_beside_the_ethnicity_are_the_pattern(
    pattern: str, score: float, kept: bool
) -> None:
    """The lattice between 民族 and 汉 read `8888` at 0.70: no group has digits, so a box of
    them read with doubt is left out; read surely, it stays, and the value is no group."""
    card = front("张三", "男", "汉", ("1990", "1", "2"), ADDR3, ZHANG)
    specs = [*card, B(pattern, 392, 150, score=score, w=50)]
    reading = read(specs)
    assert reading.fields.ethnicity == ("汉" if kept else None)
    assert ("value_low_confidence" in codes(reading)) != kept


def test_a_name_read_whole_has_its_last_box_read_again_with_the_place_after_it() -> None:
    """Asked for once: the last box of the name and the room right of it, up to the next
    box or the photo, and left of it after the label's box when it is the name's one box;
    not for a name left empty, nor once read."""
    specs = front("张三", "男", "汉", ("1990", "1", "2"), ADDR3, ZHANG)
    reading = read(specs)
    (x0, y0), (x1, _), (_, y1), _ = reading.look_again["name"]
    assert 120 < x0 < 170 - 0.8 * 30 and 170 + 68 < x1 <= 170 + 68 + 1.6 * 30 + 1 and y0 < 78 < y1
    glued = [B("姓名张三", 60, 78, w=200) if b.text == "张三" else b for b in specs if b.text != "姓名"]
    (x0, _), _, _, _ = read(glued).look_again["name"]
    assert x0 == pytest.approx(60, abs=1)  # no room left of a box that holds the label
    assert "name" not in parse(render(specs), W, H, looked=("name",)).look_again
    doubtful = [B("张三", 170, 78, score=0.5) if b.text == "张三" else b for b in specs]
    assert "name" not in read(doubtful).look_again


def test_a_name_read_as_one_character_has_its_box_read_again_with_the_place_after_it() -> None:
    """邓晶 read 邓 in a box that holds the label (its 晶 under glare, outside the box): no
    name has one character, so it is empty, and the box is read again with the room right
    of it; read there 姓名邓晶, the name is whole."""
    specs = front("张三", "男", "汉", ("1990", "1", "2"), ADDR3, ZHANG)
    one = [B("姓名邓", 60, 78, w=160) if b.text == "张三" else b for b in specs if b.text != "姓名"]
    reading = read(one)
    assert reading.fields.name is None and "name_implausible" in codes(reading)
    (x0, _), (x1, _), _, _ = reading.look_again["name"]
    assert x0 == pytest.approx(60, abs=1) and x1 > 60 + 160 + 0.8 * 30
    whole = [B("姓名邓晶", 60, 78, w=200) if b.text == "姓名邓" else b for b in one]
    assert parse(render(whole), W, H, looked=("name",)).fields.name == "邓晶"


def test_a_name_read_with_a_sign_names_its_boxes_for_a_second_opinion() -> None:
    """肖一 read 肖！ (the 一 at a margin of 0.06): no name, but its box is named among the
    sources, so that the pipeline has it read again (the joint reading: 肖一)."""
    specs = front("肖！", "女", "汉", ("1990", "1", "2"), ADDR3, ZHANG)
    boxes = render(specs)
    reading = parse(boxes, W, H)
    assert reading.fields.name is None and "name_implausible" in codes(reading)
    assert [boxes[i].text for i in reading.sources["name"]] == ["肖！"]


@pytest.mark.parametrize(
    ("lines", "address", "warnings"),
    [
        (["北京市东", "城区景山前街4号"], "北京市东城区景山前街4号", []),
        (["北就市东", "城区景山前街4号"], "北京市东城区景山前街4号", ["address_corrected"]),
        (["北京市东城区景", "山前街4号"], None, ["field_missing", "value_low_confidence"]),
        (["北京市东城区", "景山前街4号"], None, ["field_missing", "value_low_confidence"]),
    ],
)
def test_a_doubtful_address_line_of_the_regions_place_names_alone_does_not_count(
    lines: list[str], address: str | None, warnings: list[str]
) -> None:
    """A first line under glare (score 0.5) that holds nothing but the number's region's
    place names, the next line going on with them, says what the place table says; a
    line that holds the street too, or ends where the names end (a character lost at its
    end would be the street's), keeps the address's score floor."""
    specs = front("张三", "男", "汉", ("1990", "1", "2"), lines, ZHANG)
    next(b for b in specs if b.text == lines[0]).score = 0.5
    # the place after the short first line was read again and held nothing
    reading = parse(render(specs), W, H, looked=("address_line",))
    assert reading.fields.address == address
    assert codes(reading) == warnings
    if address is not None:
        assert reading.confidence["address"] == 0.99


def test_a_validity_box_begun_at_a_remnant_of_its_label_keeps_its_first_digits() -> None:
    """`有2017.08.25-2037.08.25` in one box from the label column (效期限 lost under glare):
    the characters' places are shares of the box, and the start's first digits seem to lie
    in the label column; no label holds a digit, so they are the period's."""
    specs = [b for b in back("牡丹江市公安局爱民分局", "x") if b.text not in ("有效期限", "x")]
    specs.append(B("有2017.08.25-2037.08.25", 220, 545, w=540))
    reading = read(specs)
    assert (reading.fields.valid_from, reading.fields.valid_to) == ("2017-08-25", "2037-08-25")
    assert reading.warnings == []


@pytest.mark.parametrize(("printed", "kept"), [("年1月2日", True), ("年1月3日", False)])
def test_a_birth_line_whose_year_was_lost_is_the_numbers_date_when_month_and_day_agree(
    printed: str, kept: bool
) -> None:
    """`年9月3日` (the label and the year under glare): a line of the month and day alone is
    the birth line; they agree with the number's, whose date is reported with a warning."""
    specs = [b for b in front("张三", "男", "汉", ("1990", "1", "2"), ADDR3, ZHANG) if b.text != "出生"]
    next(b for b in specs if "年" in b.text).text = printed
    reading = read(specs)
    assert reading.fields.birth_date == ("1990-01-02" if kept else None)
    assert ("birth_date_from_id" if kept else "value_unparsed") in codes(reading)


@pytest.mark.parametrize("merged", [False, True])
def test_an_address_of_no_known_county_offers_the_counties_one_character_away(merged: bool) -> None:
    """沪定县 is no county; 泸定县 (the number's) and 康定县 are one character from it, so the
    place table cannot repair it alone: the address's box is offered to the second opinion
    with both readings, its spacing and label kept (`CardReading.candidates`)."""
    number = id_number("51332219400821476")
    lines = ["四川省甘孜藏族自治州沪定县", "杨庄镇西关村二组"]
    specs = front("毛心英", "女", "汉", ("1940", "8", "21"), lines, number, merged=merged)
    boxes = render(specs)
    reading = parse(boxes, W, H)
    assert reading.fields.address is None and "place_unknown" in codes(reading)
    (box,) = reading.candidates
    assert boxes[box].text.endswith(lines[0])
    read_as = boxes[box].text[: -len(lines[0])]  # the label, when the box holds it
    assert set(reading.candidates[box]) == {read_as + lines[0].replace("沪", c) for c in "泸康"}
    right = [lines[0].replace("沪", "泸"), lines[1]]
    fixed = read(front("毛心英", "女", "汉", ("1940", "8", "21"), right, number, merged=merged))
    assert fixed.fields.address == "".join(right) and not fixed.candidates


def test_a_line_that_ends_well_short_of_a_later_one_has_its_end_read_again() -> None:
    """新疆维吾尔自治区 read without its 阿勒泰 (glare), the next line going on 地区青河县…:
    a wrapped line is less than a character short of the furthest, so the place after it
    is asked for and the address waits; read there, the address is whole. A line of as
    many characters as any (a printer wrapping by count, its digits narrower) is full."""
    lines = ["新疆维吾尔自治区阿勒泰", "地区青河县建设路454号"]
    number = id_number("65432519861124401")
    specs = front("张三", "男", "汉", ("1986", "11", "24"), lines, number)
    assert read(specs).fields.address == "".join(lines)
    cut = [B("新疆维吾尔自治区", 170, 300) if b.text == lines[0] else b for b in specs]
    first = read(cut)
    assert first.fields.address is None and "address_incomplete" in codes(first)
    (x0, y0), (x1, _), (_, y1), _ = first.look_again["address_line"]
    assert 170 + 34 * 8 <= x0 < 170 + 34 * 9 and y0 < 300 < y1 and x1 >= x0 + 34 * 2
    found = parse(render([*cut, B("阿勒泰", 170 + 34 * 8, 300)]), W, H, looked=("address_line",))
    assert found.fields.address == "".join(lines)
    by_count = ["山西省临汾市蒲县沙河街", "道红旗大街405号3栋", "2601室"]  # 11, 11, 5
    reading = read(front("张三", "男", "汉", ("2015", "3", "28"), by_count, id_number("14103320150328814")))
    assert reading.fields.address == "".join(by_count) and "address_line" not in reading.look_again


LOST = "北京市东城区景山前街道安定门外大街12814幢1203"


@pytest.mark.parametrize(
    ("last", "width", "first", "address"),
    [
        ("14幢1203", 210, 0.61, None),  # 号 lost from the start of 号14幢1203: its box spans it
        ("号14幢1203", 210, 0.61, "北京市东城区景山前街道安定门外大街128号14幢1203"),
        ("14幢1203", 160, 0.61, LOST),  # as wide as its text: nothing seen lost
        ("14幢1203", 210, 1.0, LOST),  # every character sure: wide digits (3栋904 in AR PL UKai)
    ],
)
def test_an_address_line_wider_than_what_was_read_of_it_lost_a_character(
    last: str, width: float, first: float, address: str | None
) -> None:
    """An address line's box far wider per character read than the other lines', with a
    character read in doubt, lost a character it still spans (as the engine read 号14幢1203
    on a hard card: 1.32 times as wide, its 1 at 0.61), even when the place after the
    address was read and held nothing."""
    lines = ["北京市东城区景山前街道", "安定门外大街128", last]
    specs = front("张三", "男", "汉", ("1990", "1", "2"), lines, ZHANG)
    for spec, w in zip(specs[9:12], (396, 283, width), strict=True):
        spec.w = w
    specs[11].chars = (first,) + (1.0,) * (len(last) - 1)
    reading = parse(render(specs), W, H, looked=("address", "address_line"))
    assert reading.fields.address == address
    assert ("address_incomplete" in codes(reading)) == (address is None)


# -- text printed behind the values (microprint, a watermark) read into them


@pytest.mark.parametrize(
    ("printed", "birth", "warned"),
    [
        ("1990年1MSF2月2日", "1990-01-02", True),  # JMSFZ between the columns, its Z read 2
        ("1990年21M5F月F12日", "1990-01-02", True),  # S read 5, Z read 2 twice
        ("1990年1月2日", "1990-01-02", False),
        ("1990年1MSF2月3日", None, False),  # the number's date is not among the letters
    ],
)
def test_a_birth_line_that_took_in_background_letters_is_read_from_the_number_when_it_holds_it(
    printed: str, birth: str | None, warned: bool
) -> None:
    """Microprint between the birth date's columns is read into its box: its letters are
    no digits, and its Z or S read as a digit makes another date (1994-04-05 for
    1994-04-22, then a mismatch). Such a line is read only as printed whole, letters aside;
    when it holds the number's date in order among them, the number's date is taken, with
    a warning; else nothing."""
    specs = [b for b in front("张三", "男", "汉", ("1990", "1", "2"), ADDR3, ZHANG) if "年" not in b.text]
    reading = read([*specs, B(printed, 170, 225, w=330)])
    assert reading.fields.birth_date == birth
    assert ("birth_date_from_id" in codes(reading)) == warned
    assert "birth_date_mismatch" not in codes(reading)


def test_an_authority_takes_no_latin_letters_read_after_its_label() -> None:
    """签发机关MSFE: microprint right of the label, read into its box, is no part of the
    authority (no authority holds a Latin letter or a digit)."""
    specs = [b for b in back("丘北县公安局", "2015.01.26-2025.01.26") if b.text != "签发机关"]
    reading = read([*specs, B("签发机关MSFE", 220, 470, w=180, score=0.84)])
    assert reading.fields.issuing_authority == "丘北县公安局"
    assert "place_unknown" not in codes(reading)


@pytest.mark.parametrize(
    ("text", "background"),
    [("199O年1月2日", False), ("1990年I月Z日", False), ("1990年1MSF2月2日", True), ("1990年1M月2日", True)],
)
def test_letters_a_misread_digit_gives_are_no_background(text: str, background: bool) -> None:
    """A lone O, I, Z, S... in a date is a digit read as a letter; a run of letters, or one
    that looks like no digit, is text printed behind the date."""
    from ocr_job.idcard.dates import has_background_letters

    assert has_background_letters(text) == background
