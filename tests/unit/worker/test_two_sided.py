"""Both sides on one page: the cards are found apart, read, and a front and a back become
one record of side "both" with all nine fields and the checks across the sides."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from ocr_job import pipeline, twosided
from ocr_job.config import EngineName, JobConfig
from ocr_job.engines import load_engine
from ocr_job.idcard.reading import CardReading
from ocr_job.records import FIELD_NAMES, Fields, ResultRecord
from ocr_job.storage.base import InputItem
from ocr_job.synth import make_sample
from ocr_job.synth.pages import PAGE_KINDS, two_sided_page

pytestmark = pytest.mark.timeout(900)


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[..., ::-1])


@pytest.mark.parametrize("kind", PAGE_KINDS)
@pytest.mark.parametrize("style", ["classic", "realdesign", "compact", "wide"])
def test_both_cards_of_a_page_are_found_apart(style: str, kind: str) -> None:
    page = two_sided_page(11, style, kind)
    quads = twosided.card_quads(_bgr(page.image))
    assert len(quads) == 2
    a, b = (cv2.contourArea(q) for q in quads)
    assert 0.8 <= a / b <= 1.25  # two cards of one size, not a card and the page
    if kind != "photo":  # a scan: each outline is the card as laid, 1,011 px wide
        expected = page.card_width * page.card_width / 1.585
        assert 0.9 <= a / expected <= 1.1


@pytest.mark.parametrize("level", ["clean", "photo"])
def test_a_picture_of_one_card_is_left_to_the_plain_path(level: str) -> None:
    sample = make_sample(5, "front", level, width=1000)
    assert twosided.cards_apart(sample.bgr, 960) == []


def _reading(side: str, **values: str) -> CardReading:
    return CardReading(
        side=side,
        fields=Fields(**values),  # type: ignore[arg-type]
        confidence=dict.fromkeys(values, 0.99),
        checks={},
        warnings=[],
    )


def test_a_front_and_a_back_combine_with_the_check_across_them() -> None:
    front = _reading("front", name="张三", birth_date="1990-03-04", id_number="11010519900304001X")
    back = _reading("back", issuing_authority="北京市公安局", valid_from="2020-05-06", valid_to="2040-05-06")
    both = twosided.combine([back, front])
    assert both is not None and both.side == "both"
    assert both.fields.name == "张三" and both.fields.valid_to == "2040-05-06"
    assert both.checks[twosided.VALIDITY_MATCHES_AGE] is True  # 30 at issue: 20 years
    assert not both.warnings

    short = dataclasses.replace(back, fields=back.fields.model_copy(update={"valid_to": "2030-05-06"}))
    wrong = twosided.combine([front, short])
    assert wrong is not None and wrong.checks[twosided.VALIDITY_MATCHES_AGE] is False
    assert [w.code for w in wrong.warnings] == ["validity_age_mismatch"]


def test_two_fronts_are_not_combined() -> None:
    fuller = _reading("front", name="张三", birth_date="1990-03-04")
    other = _reading("front", name="李四")
    assert twosided.combine([other, fuller]) is fuller
    assert twosided.combine([CardReading.nothing("no card text")]) is None


@pytest.fixture(scope="module")
def engine():  # type: ignore[no-untyped-def]
    return load_engine(EngineName.ONNX, second_opinion=True)


@pytest.mark.parametrize(("seed", "style", "kind"), [(31, "classic", "scan"), (32, "wide", "grey"),
                                                     (33, "realdesign", "photo")])  # fmt: skip
def test_a_two_sided_page_gives_one_record_of_both_sides(engine, seed: int, style: str, kind: str) -> None:  # type: ignore[no-untyped-def]
    page = two_sided_page(seed, style, kind)
    config = JobConfig(source="src", output="out")
    record = pipeline.process(
        pipeline.Fetched(InputItem("page.jpg", 1, "e"), data=page.jpeg()), engine, config
    )
    assert record.status == "ok", record.error
    assert record.side == "both"
    assert record.fields == page.fields
    assert all(record.checks.values()) and "validity_matches_age" in record.checks
    assert "multiple_cards" not in [w.code for w in record.warnings]  # one card, two sides
    row = record.csv_row()
    assert row["side"] == "both"
    assert all(row[name] for name in FIELD_NAMES)


def test_show_lists_a_two_sided_record(tmp_path: Path) -> None:
    from ocr_job.storage.local import LocalSink

    fields = two_sided_page(40).fields
    LocalSink(tmp_path).write_record(ResultRecord(source="page.jpg", status="ok", side="both",
                                                  fields=fields))  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCR_")}
    proc = subprocess.run(
        [sys.executable, "-m", "ocr_job.cli", "show", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "both" in proc.stdout
    assert fields.valid_to and fields.valid_to.replace("-", "")[:4] in proc.stdout.replace("-", "")
    assert fields.id_number not in proc.stdout  # masked as any record's
