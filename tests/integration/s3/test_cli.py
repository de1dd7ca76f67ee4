"""`ocr-job run` / `ocr-job merge` end to end with s3:// source and output, on a real server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from minio import Minio

from ocr_job.storage.base import RESULTS_CSV, RESULTS_JSONL
from ocr_job.storage.s3 import S3Sink, write_manifest
from ocr_job.synth import generate_set
from tests.support.s3server import S3Server

pytestmark = pytest.mark.timeout(300)

#: Generated picture → the key it gets (spaces, unicode, nested folders).
NAMES = {
    "clean/0001-front.jpg": "张 三/正面 1.jpg",
    "clean/0002-back.jpg": "张 三/背面 1.jpg",
    "clean/0003-front.jpg": "a b c.jpg",
    "clean/0004-back.jpg": "émile/card (2).jpg",
    "clean/0005-front.jpg": "plain/0005-front.jpg",
    "clean/0006-back.jpg": "plain/0006-back.jpg",
}
#: Record fields that legitimately differ between two runs or two backends.
VOLATILE = ("timings_ms", "source_etag", "source")


@pytest.fixture(scope="module")
def cards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six clean cards, renamed per NAMES, in a local folder."""
    generated = tmp_path_factory.mktemp("generated")
    generate_set(generated, len(NAMES), seed=7, levels=("clean",))
    folder = tmp_path_factory.mktemp("cards")
    for src, dst in NAMES.items():
        (folder / dst).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(generated / src, folder / dst)
    return folder


def ocr_job(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ocr_job.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def job_env(server: S3Server | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCR_", "AWS_"))}
    if server is not None:
        env.update(server.env())
    env.update({"OCR_LOG_FORMAT": "plain", "OCR_S3_RETRY_TIMEOUT_S": "60"}, **extra)
    return env


def upload(client: Minio, bucket: str, prefix: str, folder: Path) -> list[str]:
    keys = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        key = f"{prefix}/{path.relative_to(folder).as_posix()}"
        client.fput_object(bucket, key, str(path))
        keys.append(key)
    return keys


def stable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in VOLATILE}


def jsonl(text: str | None) -> list[dict[str, Any]]:
    assert text is not None
    return [json.loads(line) for line in text.splitlines() if line]


def count_records(client: Minio, bucket: str, prefix: str) -> int:
    return sum(
        1
        for o in client.list_objects(bucket, prefix=prefix + "/", recursive=True)
        if (o.object_name or "").endswith(".json") and "/_" not in (o.object_name or "")
    )


def wait_for_records(
    client: Minio, bucket: str, prefix: str, count: int, proc: subprocess.Popen[str], timeout: float = 120
) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = count_records(client, bucket, prefix)
        if found >= count:
            return found
        assert proc.poll() is None, f"ocr-job ended early: {proc.communicate()}"
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} records after {timeout} s")


@pytest.fixture(scope="module")
def local_results(cards: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("local-out")
    done = ocr_job("run", str(cards), "--output", str(out), env=job_env(None))
    assert done.returncode == 0, done.stderr
    records = jsonl((out / RESULTS_JSONL).read_text(encoding="utf-8"))
    return {r["source"]: r for r in records}


def test_s3_run_equals_local_run_and_resumes(
    s3_server: S3Server, cards: Path, local_results: dict[str, Any]
) -> None:
    client = s3_server.client()
    src, dst = s3_server.make_bucket(), s3_server.make_bucket()
    keys = upload(client, src, "cards", cards)
    env = job_env(s3_server)

    done = ocr_job("run", f"s3://{src}/cards", "--output", f"s3://{dst}/res", env=env)
    assert done.returncode == 0, done.stderr

    sink = S3Sink(client, dst, "res")
    merged = jsonl(sink.read_text(RESULTS_JSONL))
    assert [r["source"] for r in merged] == sorted(keys)  # full object keys, sorted
    assert {r["source"].removeprefix("cards/"): stable(r) for r in merged} == {
        source: stable(r) for source, r in local_results.items()
    }
    assert sum(r["status"] == "ok" for r in merged) >= len(keys) - 1
    csv_text = sink.read_text(RESULTS_CSV)
    assert csv_text is not None and "张 三/正面 1.jpg" in csv_text
    for record in merged:  # each record carries its input's ETag, also as metadata
        etag = client.stat_object(src, record["source"]).etag
        assert record["source_etag"] == etag
        assert sink.done_etag(record["source"]) == etag

    # A rerun skips every input by ETag; a changed input alone is read again.
    again = ocr_job("run", f"s3://{src}/cards", "--output", f"s3://{dst}/res", env=env)
    assert again.returncode == 0, again.stderr
    assert f"{len(keys)} skipped" in again.stderr
    client.fput_object(src, "cards/a b c.jpg", str(cards / "plain/0005-front.jpg"))
    third = ocr_job("run", f"s3://{src}/cards", "--output", f"s3://{dst}/res", env=env)
    assert third.returncode == 0, third.stderr
    assert f"{len(keys) - 1} skipped" in third.stderr
    changed = {r["source"]: r for r in jsonl(sink.read_text(RESULTS_JSONL))}["cards/a b c.jpg"]
    assert changed["fields"] == local_results["plain/0005-front.jpg"]["fields"]


def test_sigkill_mid_shard_then_rerun(s3_server: S3Server, cards: Path) -> None:
    client = s3_server.client()
    src, dst = s3_server.make_bucket(), s3_server.make_bucket()
    keys = upload(client, src, "in", cards) + upload(client, src, "in/copy", cards)
    write_manifest(client, f"s3://{dst}/res/_manifests/shard-0000.txt", keys)
    args = (
        "run",
        f"s3://{src}/in",
        "--output",
        f"s3://{dst}/res",
        "--manifest",
        f"s3://{dst}/res/_manifests/shard-{{index:04d}}.txt",
    )
    env = job_env(s3_server, JOB_COMPLETION_INDEX="0")

    proc = subprocess.Popen(
        [sys.executable, "-m", "ocr_job.cli", *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_records(client, dst, "res", 3, proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    done_before = count_records(client, dst, "res")
    assert 3 <= done_before < len(keys)
    assert S3Sink(client, dst, "res").read_text("_shards/shard-0000.json") is None

    rerun = ocr_job(*args, env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{done_before} skipped" in rerun.stderr
    summary = json.loads(S3Sink(client, dst, "res").read_text("_shards/shard-0000.json") or "")
    assert summary["total"] == len(keys)
    assert summary["skipped"] == done_before
    assert summary["succeeded"] + summary["failed"] == len(keys) - done_before

    merged = ocr_job("merge", f"s3://{dst}/res", env=env)
    assert merged.returncode == 0, merged.stderr
    sources = [r["source"] for r in jsonl(S3Sink(client, dst, "res").read_text(RESULTS_JSONL))]
    assert sorted(sources) == sorted(keys)  # every input exactly once, none twice


def test_s3_restart_mid_run_completes(own_s3_server: S3Server, cards: Path) -> None:
    server = own_s3_server
    client = server.client()
    bucket = server.make_bucket()
    keys = upload(client, bucket, "in", cards)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ocr_job.cli", "run", f"s3://{bucket}/in", "--output", f"s3://{bucket}/out"],
        env=job_env(server),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_records(client, bucket, "out", 1, proc)
        server.restart()
        _, stderr = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    merged = jsonl(S3Sink(server.client(), bucket, "out").read_text(RESULTS_JSONL))
    assert [r["source"] for r in merged] == sorted(keys)
    assert server.secret_key not in stderr


def test_wrong_credentials_exit_1(s3_server: S3Server) -> None:
    bucket = s3_server.make_bucket()
    env = job_env(s3_server, OCR_S3_SECRET_KEY="not-the-secret-1234")
    done = ocr_job("run", f"s3://{bucket}/in", "--output", f"s3://{bucket}/out", env=env)
    assert done.returncode == 1
    assert "rejected the S3 credentials" in done.stderr
    assert "not-the-secret-1234" not in done.stderr + done.stdout


def test_missing_bucket_exit_1(s3_server: S3Server) -> None:
    bucket = s3_server.make_bucket()
    env = job_env(s3_server)
    for args in (
        ("run", "s3://no-such-input/in", "--output", f"s3://{bucket}/out"),
        ("run", f"s3://{bucket}/in", "--output", "s3://no-such-output/out"),
        ("merge", "s3://no-such-output/out"),
    ):
        done = ocr_job(*args, env=env)
        assert done.returncode == 1, (args, done.stderr)
        assert "does not exist" in done.stderr
        assert s3_server.secret_key not in done.stderr + done.stdout


def test_oversized_and_missing_inputs_get_records(s3_server: S3Server, cards: Path) -> None:
    client = s3_server.client()
    bucket = s3_server.make_bucket()
    keys = upload(client, bucket, "in", cards)[:2]
    manifest = f"s3://{bucket}/m/list.txt"
    write_manifest(client, manifest, [*keys, "in/not there.jpg"])
    env = job_env(s3_server, OCR_MAX_OBJECT_BYTES="1000")
    done = ocr_job(
        "run", f"s3://{bucket}/in", "--output", f"s3://{bucket}/out", "--manifest", manifest, env=env
    )
    assert done.returncode == 0, done.stderr
    records = {r.source: r for r in S3Sink(client, bucket, "out").iter_records()}
    assert sorted(records) == sorted([*keys, "in/not there.jpg"])
    for key in keys:
        error = records[key].error
        assert error is not None and error.code.value == "object_too_large"
        assert records[key].source_etag == client.stat_object(bucket, key).etag
    missing = records["in/not there.jpg"].error
    assert missing is not None and missing.code.value == "fetch_failed"
