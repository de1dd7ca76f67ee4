"""`ocr-job run` end to end on a generated folder: real models, real files, real CLI."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ocr_job.records import CSV_COLUMNS, ResultRecord
from ocr_job.synth import load_labels

#: The tests' floor for "every field right" per card; the benchmark reports the real figure.
ALL_FIELDS_FLOOR = {"onnx": 0.85, "paddle": 0.75}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "OCR_LOG_FORMAT": "plain", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ocr_job.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=1800,
        check=False,
    )


def read_jsonl(path: Path) -> list[ResultRecord]:
    return [ResultRecord.model_validate_json(line) for line in path.read_text().splitlines()]


def card_accuracy(labels: dict[str, dict], records: dict[str, ResultRecord]) -> tuple[float, list[str]]:
    cards = [src for src, lab in labels.items() if lab["fields"]]
    wrong: list[str] = []
    for src in cards:
        got = records[src].fields.model_dump()
        misses = [f for f, v in labels[src]["fields"].items() if v is not None and got[f] != v]
        if misses or records[src].side != labels[src]["side"]:
            wrong.append(f"{src}: {','.join(misses) or 'side'}")
    return 1 - len(wrong) / len(cards), wrong


def check_complete_run(
    source: Path, out: Path, result: subprocess.CompletedProcess[str], labels: dict[str, dict]
) -> dict[str, ResultRecord]:
    assert result.returncode == 0, result.stderr[-3000:]
    records = read_jsonl(out / "results.jsonl")
    sources = [r.source for r in records]
    assert sources == sorted(labels), "exactly one record per input, in a stable order"
    for src in labels:
        assert (out / (src + ".json")).is_file()
    with (out / "results.csv").open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert [r["source"] for r in rows] == sources and list(rows[0]) == list(CSV_COLUMNS)
    by_source = {r.source: r for r in records}
    for src, lab in labels.items():
        rec = by_source[src]
        if lab.get("expected_error"):
            assert rec.status == "error" and rec.error is not None, src
            assert rec.error.code.value == lab["expected_error"], (src, rec.error)
            assert rec.error.message
        elif lab["level"] == "bad":  # odd but valid images (GIF, CMYK, 16-bit) are read
            assert rec.status == "ok", (src, rec.error)
    # Personal data never reaches the logs in full.
    for lab in labels.values():
        if lab["fields"]:
            for key in ("id_number", "name"):
                value = lab["fields"][key]
                if value and len(value) > 1:
                    assert value not in result.stderr, f"{key} leaked into the log"
    return by_source


@pytest.mark.parametrize("engine", ["onnx", pytest.param("paddle", marks=pytest.mark.paddle)])
def test_run_reads_a_generated_folder(engine: str, card_set: Path, tmp_path: Path) -> None:
    """Both engines, the same folder: both sides, three levels, 90/180/270° turns, bad inputs."""
    if engine == "paddle":
        pytest.importorskip("paddleocr", reason="the [paddle] extra is not installed")
    source = card_set
    labels = load_labels(source)
    out = tmp_path / "out"
    result = run_cli("run", str(source), "--output", str(out), "--engine", engine)
    records = check_complete_run(source, out, result, labels)
    accuracy, wrong = card_accuracy(labels, records)
    assert accuracy >= ALL_FIELDS_FLOOR[engine], wrong
    # Rotated and perspective cards are among those read.
    for rotation in (90, 180, 270):
        turned = [
            s
            for s, lab in labels.items()
            if lab["fields"] and (lab.get("transform") or {}).get("rotation") == rotation
        ]
        assert turned and any(records[s].status == "ok" for s in turned), rotation
    assert "done:" in result.stderr and "peak RSS" in result.stderr


def test_rerun_skips_done_inputs_and_shards_cover_everything(small_card_set: Path, tmp_path: Path) -> None:
    labels = load_labels(small_card_set)
    full = tmp_path / "full"
    first = run_cli("run", str(small_card_set), "--output", str(full))
    check_complete_run(small_card_set, full, first, labels)
    stamp = {p: p.stat().st_mtime_ns for p in full.rglob("*.jpg.json")}
    again = run_cli("run", str(small_card_set), "--output", str(full))
    assert again.returncode == 0
    assert f"{len(labels)} skipped" in again.stderr
    assert stamp == {p: p.stat().st_mtime_ns for p in full.rglob("*.jpg.json")}, "records rewritten"

    sharded = tmp_path / "sharded"
    for i in range(3):
        assert (
            run_cli("run", str(small_card_set), "--output", str(sharded), "--shard", f"{i}/3").returncode == 0
        )
        assert (sharded / "_shards" / f"shard-{i:04d}.json").is_file()
    assert not (sharded / "results.jsonl").exists()
    assert run_cli("merge", str(sharded)).returncode == 0
    merged = {r.source: r for r in read_jsonl(sharded / "results.jsonl")}
    assert sorted(merged) == sorted(labels)
    reference = {r.source: r for r in read_jsonl(full / "results.jsonl")}
    for src, rec in merged.items():
        assert rec.fields == reference[src].fields and rec.error == reference[src].error


def test_usage_and_source_errors_have_their_exit_codes(tmp_path: Path) -> None:
    assert run_cli("run", str(tmp_path), "--output", str(tmp_path / "o"), "--threads", "0").returncode == 2
    assert run_cli("run", str(tmp_path), "--output", str(tmp_path / "o"), "--shard", "3/2").returncode == 2
    missing = run_cli("run", str(tmp_path / "nope"), "--output", str(tmp_path / "o"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_empty_folder_gives_empty_results(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    result = run_cli("run", str(tmp_path / "in"), "--output", str(tmp_path / "o"))
    assert result.returncode == 0
    assert (tmp_path / "o" / "results.jsonl").read_text() == ""


def test_json_logs_when_asked(small_card_set: Path, tmp_path: Path) -> None:
    result = run_cli(
        "run", str(small_card_set / "bad"), "--output", str(tmp_path / "o"), env={"OCR_LOG_FORMAT": "json"}
    )
    assert result.returncode == 0
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert lines and any(line["message"].startswith("done:") for line in lines)
