"""The job config, the shard assignment, privacy masking and the record's CSV form."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ocr_job.config import EngineName, JobConfig, ShardSpec
from ocr_job.privacy import ScrubFilter, mask_id, mask_name, scrub
from ocr_job.records import CSV_COLUMNS, ErrorCode, Fields, ResultRecord, ShardStatus
from ocr_job.sharding import expand_index, shard_of


def test_config_reads_env_and_flags_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCR_SOURCE", "/in")
    monkeypatch.setenv("OCR_OUTPUT", "/out")
    monkeypatch.setenv("OCR_THREADS", "3")
    cfg = JobConfig(threads=2)
    assert (cfg.source, cfg.output, cfg.threads, cfg.engine) == ("/in", "/out", 2, EngineName.ONNX)


def test_config_env_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = JobConfig(source="s3://a/b", output="s3://c/d", engine="paddle", shard="1/4")
    for key, value in cfg.to_env().items():
        monkeypatch.setenv(key, value)
    assert JobConfig() == cfg


@pytest.mark.parametrize(
    "bad", [{"threads": 0}, {"engine": "tesseract"}, {"shard": "4/4"}, {"shard": "x"}, {"max_pixels": -1}]
)
def test_config_rejects_bad_values(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        JobConfig(source="a", output="b", **bad)


@given(
    st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=50, unique=True),
    st.integers(min_value=1, max_value=9),
)
def test_every_key_lands_in_exactly_one_shard(keys: list[str], count: int) -> None:
    for key in keys:
        owners = [i for i in range(count) if shard_of(key, count) == i]
        assert len(owners) == 1
        assert shard_of(key, count) == shard_of(key, count)  # stable


def test_shard_spec_and_manifest_index() -> None:
    assert str(ShardSpec.parse(" 2 / 5 ")) == "2/5"
    assert expand_index("s3://b/_manifests/shard-{index:04d}.txt", 7).endswith("shard-0007.txt")
    assert expand_index("plain.txt", None) == "plain.txt"
    with pytest.raises(ValueError, match="JOB_COMPLETION_INDEX"):
        expand_index("shard-{index}.txt", None)


def test_masking() -> None:
    assert mask_id("11010519900307803X") == "110105********803X"
    assert mask_name("欧阳娜娜") == "欧***"
    assert scrub("bad number 11010519900307803X in a.jpg") == "bad number 110105********803X in a.jpg"
    assert mask_id("110105900307803") == "110105******803"  # first generation: 15 digits
    assert scrub("sfz11010519900307803X.jpg 1101 0519 9003 0780 3X") == (
        "sfz110105********803X.jpg 1101 05** **** **80 3X"
    )
    assert scrub("took 1234 ms, 12345678901 bytes") == "took 1234 ms, 12345678901 bytes"


def test_scrub_filter_masks_log_records(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.scrub")
    logger.addFilter(ScrubFilter())
    with caplog.at_level(logging.INFO, logger="test.scrub"):
        logger.info("id %s", "110105199003078031")
    assert "110105199003078031" not in caplog.text
    assert "110105********8031" in caplog.text


def test_error_record_and_csv_row() -> None:
    rec = ResultRecord.failure("x/y.jpg", ErrorCode.UNREADABLE_IMAGE, "damaged")
    row = rec.csv_row()
    assert list(row) == list(CSV_COLUMNS)
    assert row["status"] == "error" and row["error_code"] == "unreadable_image"
    ok = ResultRecord(
        source="a.jpg",
        status="ok",
        side="back",
        fields=Fields(issuing_authority="某市公安局", valid_to="长期"),
        confidence={"valid_to": 0.91, "issuing_authority": 0.99},
        checks={"validity_period": False},
    )
    row = ok.csv_row()
    assert row["valid_to"] == "长期" and row["name"] == "" and row["min_confidence"] == "0.910"
    assert row["failed_checks"] == "validity_period"
    assert set(ok.model_dump()["fields"]) == set(Fields.model_fields)


def test_shard_status_patch_is_camel_case() -> None:
    patch = ShardStatus(index=3, processed=5, peak_rss_bytes=10).to_patch()
    assert patch["peakRssBytes"] == 10 and patch["processed"] == 5 and "peak_rss_bytes" not in patch
    assert ShardStatus.model_validate(patch).peak_rss_bytes == 10
