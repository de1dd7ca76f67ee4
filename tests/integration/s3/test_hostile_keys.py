"""Object keys whose record key the server would refuse or that collide: one record each.

Run end to end (`ocr-job run` in a child process, onnx engine) against the real SeaweedFS
server: keys of S3's maximum length (1,024 bytes), keys with control characters, keys
under the output's own folder names, keys that differ only by a character the record name
cannot hold. Each input gets exactly one record, the later inputs are done, a rerun finds
every record, and nothing is written outside the output prefix.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from minio import Minio

from ocr_job.records import ErrorCode, ResultRecord
from ocr_job.storage.base import RESULTS_JSONL, RecordWriteError, is_mapped_name
from ocr_job.storage.s3 import MAX_KEY_BYTES, S3Sink
from ocr_job.synth import generate_set
from tests.support.s3server import S3Server

pytestmark = pytest.mark.timeout(600)

JUNK = b"not an image\n" * 4


def _key_of_bytes(size: int) -> str:
    """A key of exactly `size` UTF-8 bytes (`size` > 804), in segments the server takes."""
    head = "/".join(["k" * 199] * 4)
    key = f"{head}/{'t' * (size - len(head) - 5)}.jpg"
    assert len(key.encode()) == size
    return key


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    folder = tmp_path_factory.mktemp("card")
    generate_set(folder, 1, seed=16, levels=("clean",))
    return next(p for p in sorted(folder.rglob("*.jpg"))).read_bytes()


def ocr_job(server: S3Server, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCR_", "AWS_"))}
    env.update(server.env())
    env.update({"OCR_LOG_FORMAT": "plain", "OCR_SECOND_OPINION": "false", "OCR_S3_RETRY_TIMEOUT_S": "30"})
    return subprocess.run(
        [sys.executable, "-m", "ocr_job.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=500,
        check=False,
    )


def keys_in(client: Minio, bucket: str) -> list[str]:
    return sorted(o.object_name or "" for o in client.list_objects(bucket, recursive=True))


def test_every_key_gets_one_record(s3_server: S3Server, card: bytes) -> None:
    client = s3_server.client()
    src, out = s3_server.make_bucket(), s3_server.make_bucket()
    wanted = {
        "0-first.jpg": card,
        _key_of_bytes(MAX_KEY_BYTES): card,  # its record key would be 1,029 bytes and more
        _key_of_bytes(MAX_KEY_BYTES - 8): JUNK,  # fits alone, not under the output prefix
        "s" * 250 + ".jpg": JUNK,  # a segment over NAME_MAX once ".json" is added
        "line\nbreak.jpg": JUNK,
        "ctl\x01\x1f.jpg": JUNK,
        "tab\there.jpg": JUNK,
        # (no "\\" in a key: SeaweedFS itself stores it as "/")
        "_shards/in-shards.jpg": JUNK,
        "_manifests/in-manifests.jpg": JUNK,
        "results.csv/x.jpg": JUNK,
        "x.jpg": JUNK,
        "x.jpg.json/y.jpg": JUNK,
        "=cmd.jpg": JUNK,
        "zz-last.jpg": card,
    }
    for key, data in wanted.items():
        client.put_object(src, key, io.BytesIO(data), len(data))
    listed = keys_in(client, src)
    assert sorted(listed) == sorted(wanted), "the server stored every key as given"

    proc = ocr_job(s3_server, "run", f"s3://{src}", "--output", f"s3://{out}/res/a/b/c", "--engine", "onnx")
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == 0, proc.stderr[-3000:]

    sink = S3Sink(client, out, "res/a/b/c")
    records: dict[str, ResultRecord] = {}
    for record in sink.iter_records():
        assert record.source not in records
        records[record.source] = record
    assert set(records) == set(wanted)
    for key, data in wanted.items():
        assert records[key].status == ("ok" if data == card else "error"), key
    assert records["zz-last.jpg"].status == "ok"  # done after every hostile key
    written = keys_in(client, out)
    assert all(k.startswith("res/a/b/c/") and len(k.encode()) <= MAX_KEY_BYTES for k in written)
    assert sum(is_mapped_name(k.removeprefix("res/a/b/c/")) for k in written) == 10
    merged = [json.loads(line)["source"] for line in (sink.read_text(RESULTS_JSONL) or "").splitlines()]
    assert sorted(merged) == sorted(wanted)
    for key in wanted:  # resume finds every record by its key
        assert sink.done_etag(key) == client.stat_object(src, key).etag

    again = ocr_job(s3_server, "run", f"s3://{src}", "--output", f"s3://{out}/res/a/b/c", "--engine", "onnx")
    assert again.returncode == 0 and f"{len(wanted)} skipped" in again.stderr
    assert keys_in(client, out) == written


def test_a_refused_record_becomes_a_write_failed_record(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server stricter than the names the worker assumes (here: the worker told that
    segments may be 1,000 bytes; SeaweedFS refuses over 255 with KeyTooLongError) refuses one
    record: that input gets a write_failed record under its mapped name and the next input
    is stored as usual."""
    from ocr_job.pipeline import store
    from ocr_job.storage import base

    monkeypatch.setattr(base, "NAME_MAX_BYTES", 1000)
    client = s3_server.client()
    sink = S3Sink(client, s3_server.make_bucket(), "res")
    long_key = "n" * 400 + ".jpg"
    with pytest.raises(RecordWriteError, match="KeyTooLongError"):
        sink.write_record(ResultRecord(source=long_key, status="ok"), long_key)
    stored = store(sink, ResultRecord(source=long_key, status="ok"), long_key)
    assert stored.error is not None and stored.error.code == ErrorCode.WRITE_FAILED
    after = ResultRecord(source="after.jpg", status="ok")
    assert store(sink, after, "after.jpg") is after
    records = {r.source: r for r in sink.iter_records()}
    assert set(records) == {long_key, "after.jpg"}
    assert records[long_key].error is not None
    assert records[long_key].error.code == ErrorCode.WRITE_FAILED


def test_write_failed_stand_in_is_superseded(s3_server: S3Server) -> None:
    """A write_failed stand-in left by an earlier run is dropped by merge once the input's
    own record exists."""
    from ocr_job.merge import merge

    client = s3_server.client()
    bucket = s3_server.make_bucket()
    sink = S3Sink(client, bucket, "res")
    stand_in = ResultRecord.failure("a.jpg", ErrorCode.WRITE_FAILED, "refused")
    sink.write_record(stand_in, "a.jpg", mapped=True)
    sink.write_record(ResultRecord(source="a.jpg", status="ok"))
    sink.write_record(ResultRecord(source="b.jpg", status="ok"))
    summary = merge(sink)
    assert (summary.records, summary.ok) == (2, 2)


def test_output_inside_the_source_is_not_listed(s3_server: S3Server) -> None:
    from ocr_job.storage import open_source, output_inside_source

    client = s3_server.client()
    bucket = s3_server.make_bucket()
    for key in ("in/a.jpg", "in/out/earlier-input.jpg", "in/outer/b.jpg"):
        client.put_object(bucket, key, io.BytesIO(JUNK), len(JUNK))
    assert output_inside_source(f"s3://{bucket}/in", f"s3://{bucket}/in/") == ""
    assert output_inside_source(f"s3://{bucket}/in", f"s3://{bucket}/inx") is None
    assert output_inside_source(f"s3://{bucket}/in", "s3://other/in/out") is None
    skip = output_inside_source(f"s3://{bucket}/in", f"s3://{bucket}/in/out")
    assert skip == "out"
    source = open_source(f"s3://{bucket}/in", s3_server.settings(), skip=skip)
    assert [item.key for item in source.list()] == ["in/a.jpg", "in/outer/b.jpg"]
    whole = open_source(f"s3://{bucket}", s3_server.settings(), skip="in/out")
    assert [item.key for item in whole.list()] == ["in/a.jpg", "in/outer/b.jpg"]
