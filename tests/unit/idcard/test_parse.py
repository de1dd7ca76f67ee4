"""`parse` end to end on hand-built boxes: one test per user complaint, and the API."""

from __future__ import annotations

import logging

import pytest

from ocr_job.idcard import CardReading, parse

from .cards import ADDR3, LI_X, ZHANG, B, front, render

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
    specs = [b for b in front("欧阳娜娜", "男", "汉", ("1985", "12", "31"), ADDR3, LI_X)
             if b.text != "公民身份号码"]
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
    [("阿卜杜热合曼•买买提", "阿卜杜热合曼·买买提"), ("米娜・努尔兰", "米娜·努尔兰"),
     ("古丽.阿不都", "古丽·阿不都"), ("司马相如", "司马相如"), ("王䶮", "王䶮"), ("李𬌗", "李𬌗")],
)
def test_names_keep_their_dot_and_rare_characters(printed: str, name: str) -> None:
    for merged in (False, True):
        specs = front(printed, "男", "汉", ("1990", "1", "2"), ["北京市东城区景山前街"], ZHANG,
                      merged=merged)
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
    specs = [b for b in front("欧阳娜娜", "男", "汉", ("1985", "12", "31"), ADDR3, LI_X[:17])
             if not b.text.startswith(("出生", "1985"))]
    reading = read(specs)
    assert reading.fields.id_number == LI_X[:17]
    assert reading.checks["id_checksum"] is False
    assert codes(reading) == ["field_missing", "id_checksum_failed"]


# -- complaint: "a confidently wrong value went through silently"


def test_confident_wrong_values_raise_warnings_not_corrections() -> None:
    specs = front("张三", "女", "汉", ("1991", "1", "2"), ["北京市东城区景山前街"], ZHANG)
    reading = read(specs)
    assert reading.fields.sex == "女" and reading.fields.birth_date == "1991-01-02"
    assert reading.checks["sex_matches_id"] is False
    assert reading.checks["birth_date_matches_id"] is False
    assert codes(reading) == ["birth_date_mismatch", "sex_mismatch"]


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
    specs = [B("姓名", 60, 78, w=60, score=0.5), B("欧阳", 170, 78, score=0.9),
             B("娜娜", 240, 78, score=0.8),
             *front("x", "男", "汉", ("1985", "12", "31"), ADDR3, LI_X)[2:]]
    specs[-1].score = 0.7
    reading = read(specs)
    assert reading.fields.name == "欧阳娜娜"
    assert reading.confidence["name"] == 0.8
    assert reading.confidence["id_number"] == 0.7
    assert set(reading.confidence) == set(reading.fields.model_dump(exclude_none=True))


def test_missing_fields_are_warned_never_invented() -> None:
    specs = [B("姓名", 60, 78, w=60), B("张三", 170, 78), B("公民身份号码", 60, 540, w=230),
             B(ZHANG, 340, 540, w=520)]
    reading = read(specs)
    assert reading.side == "front"
    assert reading.fields.birth_date is None and reading.fields.sex is None
    missing = sorted(w.field or "" for w in reading.warnings if w.code == "field_missing")
    assert missing == ["address", "birth_date", "ethnicity", "sex"]


def test_back_fields_missing() -> None:
    reading = read([B("中华人民共和国", 380, 95, w=520), B("居民身份证", 330, 190, w=560)])
    assert reading.side == "back"
    assert sorted(w.field or "" for w in reading.warnings) == [
        "issuing_authority", "valid_from", "valid_to"]


@pytest.mark.parametrize(
    "specs",
    [[], [B("欢迎光临", 100, 100)], [B("姓名", 60, 78)], [B("Lorem ipsum dolor", 60, 78)],
     [B("20150101", 100, 100)]],
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
    specs = [B("中华人民共和国", 380, 95, w=520), B("居民身份证", 330, 190, w=560),
             B("签发机关", 220, 470, w=130), B("南澳县公安局", 400, 470),
             B("有效期限", 220, 545, w=130), B("2025.01.24-2045", 400, 545, w=290)]
    reading = read(specs)
    assert reading.fields.valid_from == "2025-01-24" and reading.fields.valid_to is None
    assert codes(reading) == ["field_missing", "value_unparsed"]
    assert "validity_period" not in reading.checks
