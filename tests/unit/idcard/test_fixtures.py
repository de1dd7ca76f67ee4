"""Every JSON fixture: boxes in, the expected side, fields, checks and warning codes out.

A fixture captured through the pipeline's reading step (`scripts/capture_classes.py`) also holds what
the engine read where the parser asked it to look again (`looked_again`: per place, the box
added, or null for nothing read) and its second opinions (`read_again`: per box index, the
text and score): they are replayed as the pipeline does, parsing again after each."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from ocr_job.engines.base import TextBox
from ocr_job.idcard import CHECK_CODES, WARNING_CODES, CardReading, parse
from ocr_job.records import FIELD_NAMES

FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def replay(case: dict[str, Any]) -> CardReading:
    """Parse the fixture's boxes; add what the engine read where the parser asked it to
    look again and parse again; take its second opinions and parse again."""
    boxes = [TextBox.from_json(b) for b in case["boxes"]]
    width, height = case["width"], case["height"]
    reading = parse(boxes, width, height)
    looked = case.get("looked_again")
    if looked is not None:
        assert set(looked) <= set(reading.look_again)
        # what was read where the parser asked lies where `pipeline._text_extent` puts it
        boxes += [dataclasses.replace(TextBox.from_json(b), placed=True) for b in looked.values() if b]
        reading = parse(boxes, width, height, tuple(looked))
    again = case.get("read_again") or {}
    if again:
        for index, (text, score, *chars) in again.items():
            chars = tuple(chars[0]) if chars else ()
            boxes[int(index)] = dataclasses.replace(boxes[int(index)], text=text, score=score, chars=chars)
        reading = parse(boxes, width, height, tuple(looked or ()))
    return reading


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_fixture(path: Path) -> None:
    case = load(path)
    reading = replay(case)
    expected = case["expected"]

    assert reading.side == expected["side"]
    got = reading.fields.model_dump()
    want = {name: expected["fields"].get(name) for name in FIELD_NAMES}
    assert got == want
    assert reading.checks == expected["checks"]
    assert sorted(w.code for w in reading.warnings) == expected["warnings"]
    assert set(reading.confidence) == {k for k, v in got.items() if v}
    assert {w.code for w in reading.warnings} <= set(WARNING_CODES)
    assert set(reading.checks) <= set(CHECK_CODES)
    assert all(0.0 <= c <= 1.0 for c in reading.confidence.values())


def test_there_are_fixtures() -> None:
    assert len(FIXTURES) >= 20


@pytest.mark.parametrize("scale", [0.45, 1.585])
@pytest.mark.parametrize("path", FIXTURES[::3], ids=[p.stem for p in FIXTURES[::3]])
def test_fixture_scaled_and_shuffled(path: Path, scale: float) -> None:
    """Another card resolution and another box order read the same."""
    case = load(path)
    boxes = [TextBox.from_json(b) for b in case["boxes"]]
    moved = [
        dataclasses.replace(b, points=tuple((x * scale, y * scale) for x, y in b.points))  # type: ignore[arg-type]
        for b in reversed(boxes)
    ]
    width, height = round(case["width"] * scale), round(case["height"] * scale)
    assert parse(moved, width, height).fields == parse(boxes, case["width"], case["height"]).fields
