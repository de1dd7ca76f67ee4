"""The temporary resident ID card (临时居民身份证): recognised with a `temporary_card` warning,
its data side read as all nine fields (side both), its period checked as three months."""

from __future__ import annotations

import datetime

import pytest

from ocr_job import pipeline
from ocr_job.config import EngineName, JobConfig
from ocr_job.engines import load_engine
from ocr_job.idcard.temporary import add_months
from ocr_job.records import ResultRecord
from ocr_job.storage.base import InputItem
from ocr_job.synth import make_sample
from ocr_job.synth.augment import encode_jpeg
from ocr_job.synth.temporary import temporary_fields, temporary_shot

pytestmark = pytest.mark.timeout(900)


def test_add_months_keeps_the_day_or_takes_the_months_last() -> None:
    assert add_months(datetime.date(2019, 5, 27), 3) == datetime.date(2019, 8, 27)
    assert add_months(datetime.date(2019, 11, 30), 3) == datetime.date(2020, 2, 29)
    assert add_months(datetime.date(2021, 10, 15), 3) == datetime.date(2022, 1, 15)


@pytest.fixture(scope="module")
def engine():  # type: ignore[no-untyped-def]
    return load_engine(EngineName.ONNX, second_opinion=True)


def _read(engine, jpeg: bytes) -> ResultRecord:  # type: ignore[no-untyped-def]
    config = JobConfig(source="src", output="out")
    return pipeline.process(pipeline.Fetched(InputItem("card.jpg", 1, "e"), data=jpeg), engine, config)


@pytest.mark.parametrize(("seed", "level"), [(1, "clean"), (2, "clean"), (3, "photo"), (4, "photo")])
def test_the_data_side_gives_all_nine_fields_and_the_warning(engine, seed: int, level: str) -> None:  # type: ignore[no-untyped-def]
    shot = temporary_shot(seed, "data", level)
    record = _read(engine, shot.jpeg())
    assert record.status == "ok", record.error
    assert record.side == "both"
    assert record.fields == temporary_fields(seed)
    assert "temporary_card" in [w.code for w in record.warnings]
    assert record.checks["validity_period"] is True  # three months, not 5/10/20 years
    assert all(record.checks.values())


def test_the_title_side_is_recognised_as_temporary(engine) -> None:  # type: ignore[no-untyped-def]
    record = _read(engine, temporary_shot(5, "title", "clean").jpeg())
    assert record.status == "ok"
    assert "temporary_card" in [w.code for w in record.warnings]
    assert not any(record.fields.model_dump().values())


@pytest.mark.parametrize("side", ["front", "back"])
def test_a_resident_card_carries_no_temporary_warning(engine, side: str) -> None:  # type: ignore[no-untyped-def]
    sample = make_sample(6, side, "clean")
    record = _read(engine, encode_jpeg(sample.image, 92))
    assert record.side == side
    assert "temporary_card" not in [w.code for w in record.warnings]
