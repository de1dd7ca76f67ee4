"""bench.accuracy's scoring at toy size: misses classified, numbers never printed whole.

No OCR runs here; `python -m bench.accuracy` itself is the real run.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench import accuracy

NUMBER = "11010119900102003X"
FRONT = {
    "name": "张三",
    "sex": "男",
    "ethnicity": "汉",
    "birth_date": "1990-01-02",
    "address": "北京市东城区1号",
    "id_number": NUMBER,
    "issuing_authority": None,
    "valid_from": None,
    "valid_to": None,
}
BACK = {
    "name": None,
    "sex": None,
    "ethnicity": None,
    "birth_date": None,
    "address": None,
    "id_number": None,
    "issuing_authority": "某某县公安局",
    "valid_from": "2010-01-01",
    "valid_to": "2020-01-01",
}


def label(level: str, side: str) -> dict[str, Any]:
    return {"level": level, "side": side, "fields": FRONT if side == "front" else BACK}


def record(source: str, side: str, warned: tuple[str, ...] = (), **fields: str | None) -> dict[str, Any]:
    values = {**(FRONT if side == "front" else BACK), **fields}
    return {
        "source": source,
        "status": "ok",
        "side": side,
        "fields": values,
        "confidence": {"name": 0.8},
        "checks": {},
        "warnings": [{"code": "x", "message": "", "field": f} for f in warned],
    }


def test_misses_are_wrong_empty_side_or_error() -> None:
    labels = {
        "a.jpg": label("clean", "front"),
        "b.jpg": label("hard", "front"),
        "c.jpg": label("hard", "back"),
        "d.jpg": label("photo", "back"),
        "e.jpg": label("photo", "front"),
    }
    records = [
        record("a.jpg", "front", name="张山"),  # wrong, silent
        record("b.jpg", "front", ("name", "address"), name="张山", address=None),  # wrong, warned; empty
        record("c.jpg", "front"),  # side
        {"source": "d.jpg", "status": "error", "error": {"code": "timeout"}},
    ]  # e.jpg: no record at all
    misses = accuracy.all_misses(records, labels)
    kinds = [(m.source, m.field, m.kind, m.flagged) for m in misses]
    assert kinds == [
        ("a.jpg", "name", "wrong", False),
        ("b.jpg", "name", "wrong", True),
        ("b.jpg", "address", "empty", True),
        ("c.jpg", "side", "side", False),
        ("d.jpg", "status", "error", True),
        ("e.jpg", "status", "error", True),
    ]
    assert misses[0].confidence == 0.8
    counts = accuracy.count_kinds(misses)
    assert counts == {"wrong": 2, "wrong_flagged": 1, "wrong_silent": 1, "empty": 1, "side": 1, "error": 2}


def test_a_number_is_shown_only_where_it_differs() -> None:
    wrong = accuracy.Miss(
        "a.jpg", "clean", "id_number", "wrong", NUMBER, NUMBER[:7] + "7" + NUMBER[8:], False
    )
    assert accuracy.shown(wrong) == ("*******9" + "*" * 10, "*******7" + "*" * 10)
    # three digits lost at the front: only they show, not the fifteen that moved left
    short = accuracy.Miss("a.jpg", "hard", "id_number", "wrong", NUMBER, NUMBER[3:], True)
    assert accuracy.shown(short) == (NUMBER[:3] + "*" * 15, "*" * 15)
    empty = accuracy.Miss("a.jpg", "clean", "id_number", "empty", NUMBER, None, True)
    assert NUMBER not in "".join(accuracy.shown(empty))


def test_report_per_level_and_field() -> None:
    labels = {
        "a.jpg": label("clean", "front"),
        "b.jpg": label("hard", "front"),
        "c.jpg": label("hard", "back"),
    }
    records = [record("a.jpg", "front"), record("b.jpg", "front", name=None), record("c.jpg", "back")]
    text, payload = accuracy.report(records, labels)
    assert payload["per_level"]["clean"]["all_right"] == 1
    assert payload["per_level"]["hard"]["per_field"]["name"] == {"right": 0, "total": 1, "rate": 0.0}
    assert payload["all"]["all_right"] == 2 and payload["all"]["cards"] == 3
    assert payload["kinds"]["all"]["empty"] == 1 and payload["kinds"]["all"]["wrong"] == 0
    assert "every field right" in text and "misses (1):" in text
    assert NUMBER not in text


def test_levels_argument_is_checked() -> None:
    args = accuracy.parse_args(["--levels", "clean,hard", "--count", "30"])
    assert args.levels == ("clean", "hard") and args.count == 30


def styled(level: str, side: str, style: str, address: str = "digits", lines: int = 3) -> dict[str, Any]:
    traits = {"name": "plain", "address": address, "address_lines": lines, "face": "hei"}
    return {**label(level, side), "style": style, "traits": traits}


def test_report_per_style_and_level_with_wrong_and_empty_apart() -> None:
    labels = {
        "a.jpg": styled("clean", "front", "classic"),
        "b.jpg": styled("hard", "front", "realdesign", "estate", 4),
        "c.jpg": styled("hard", "back", "realdesign"),
        "d.jpg": styled("clean", "front", "realdesign", "estate", 4),
    }
    records = [
        record("a.jpg", "front"),
        record("b.jpg", "front", ("address",), address=None),  # empty
        record("c.jpg", "back", issuing_authority="某县公安局"),  # wrong, silent
        record("d.jpg", "front", address="北京市东城区"),
    ]  # wrong, silent
    text, payload = accuracy.report(records, labels)
    assert payload["per_style"]["classic"]["all_right"] == 1
    assert payload["per_style"]["realdesign"]["all_right"] == 0
    assert payload["per_style"]["realdesign"]["cards"] == 3
    assert payload["kinds_per_style"]["realdesign"]["wrong"] == 2
    assert payload["kinds_per_style"]["realdesign"]["empty"] == 1
    assert payload["kinds_per_style"]["classic"] == accuracy.count_kinds([])
    hard = payload["per_style_level"]["realdesign"]["hard"]
    assert hard["cards"] == 2 and hard["kinds"]["wrong"] == 1 and hard["kinds"]["empty"] == 1
    assert hard["fields"] == 6 + 3 and hard["fields_right"] == 7
    assert payload["per_style_level"]["classic"]["clean"]["all_right"] == 1
    estate = payload["per_trait"]["address"]["estate"]
    assert estate == {"cards": 2, "right": 0, "wrong": 1, "empty": 1}
    assert payload["per_trait"]["address"]["digits"] == {"cards": 1, "right": 1, "wrong": 0, "empty": 0}
    assert payload["per_trait"]["address_lines"]["4"]["cards"] == 2
    # every wrong value is printed, with its style; the number never whole
    assert "per layout style:" in text and "style × level" in text
    wrong_lines = [ln for ln in text.splitlines() if ln.startswith("  wrong ")]
    assert len(wrong_lines) == 2
    assert any("realdesign" in ln and "北京市东城区" in ln for ln in wrong_lines)
    assert NUMBER not in text
    assert [m["style"] for m in payload["misses"]] == ["realdesign"] * 3


def test_a_set_without_styles_still_reports_per_level() -> None:
    labels = {"a.jpg": label("clean", "front")}
    text, payload = accuracy.report([record("a.jpg", "front")], labels)
    assert payload["per_style"] == {} and "per layout style:" not in text
    assert payload["per_level"]["clean"]["all_right"] == 1


def test_styles_and_cards_arguments() -> None:
    from ocr_job.synth import STYLES

    assert accuracy.parse_args([]).styles == STYLES
    args = accuracy.parse_args(["--styles", "wide,realdesign", "--cards", "x"])
    assert args.styles == ("wide", "realdesign") and str(args.cards) == "x"
    with pytest.raises(SystemExit):
        accuracy.parse_args(["--styles", "gothic"])
