"""The merge streams (issue 18): results.jsonl/csv are uploaded while they are made, through
bounded buffers, and a merge that fails half-way replaces nothing. Real S3 (SeaweedFS) and a
real file system."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ocr_job import merge as merging
from ocr_job.merge import merge
from ocr_job.records import ErrorCode, Fields, ResultRecord
from ocr_job.storage.local import LocalSink
from ocr_job.storage.s3 import S3Sink, list_names
from tests.support.s3server import S3Server

FORMULA = Fields(name="=cmd()")


def fill(sink: S3Sink | LocalSink, count: int) -> list[str]:
    keys = [f"scans/{i:05d}.jpg" for i in range(count)]
    for i, key in enumerate(keys):
        if i % 10 == 3:
            sink.write_record(ResultRecord.failure(key, ErrorCode.NO_CARD_FOUND, "no card"))
        else:
            sink.write_record(ResultRecord(source=key, status="ok", side="front", fields=FORMULA))
    return keys


def test_a_merge_larger_than_its_buffers_is_complete_on_s3(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(merging, "CHUNK_BYTES", 4096)  # many chunks through the queue
    sink = S3Sink(s3_server.client(), s3_server.make_bucket(), "res")
    keys = fill(sink, 400)
    stand_in = ResultRecord.failure(keys[5], ErrorCode.WRITE_FAILED, "refused")
    sink.write_record(stand_in, keys[5], mapped=True)  # superseded: its own record exists
    summary = merge(sink)
    assert (summary.records, summary.ok, summary.errors) == (400, 360, 40)
    lines = (sink.read_text("results.jsonl") or "").splitlines()
    assert [json.loads(line)["source"] for line in lines] == keys
    table = sink.read_text("results.csv") or ""
    assert table.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(table[1:])))
    assert [r["source"] for r in rows] == keys
    assert rows[0]["name"] == "'=cmd()"  # cells still neutralised


class Failing(LocalSink):
    """A file system sink whose record listing breaks after `after` records."""

    def __init__(self, root: Path, after: int) -> None:
        super().__init__(root)
        self.after = after

    def iter_records(self) -> Iterator[ResultRecord]:
        for n, record in enumerate(super().iter_records()):
            if n == self.after:
                raise OSError("disk gone")
            yield record


@pytest.mark.parametrize("after", [0, 150])
def test_a_merge_that_fails_half_way_replaces_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after: int
) -> None:
    monkeypatch.setattr(merging, "CHUNK_BYTES", 1024)
    sink = LocalSink(tmp_path)
    fill(sink, 200)
    merge(sink)
    before = (tmp_path / "results.jsonl").read_bytes(), (tmp_path / "results.csv").read_bytes()
    with pytest.raises(OSError, match="disk gone"):
        merge(Failing(tmp_path, after))
    assert ((tmp_path / "results.jsonl").read_bytes(), (tmp_path / "results.csv").read_bytes()) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ocr-")]  # no temporary left


def test_a_failed_upload_stops_the_merge(tmp_path: Path) -> None:
    class Refusing(LocalSink):
        def write_stream(self, name: str, stream: object) -> None:
            raise PermissionError("bucket is read-only")

    sink = Refusing(tmp_path)
    fill(sink, 50)
    with pytest.raises(PermissionError):
        merge(sink)
    assert not (tmp_path / "results.jsonl").exists()


def test_records_listed_out_of_key_order_are_still_merged_in_order(s3_server: S3Server) -> None:
    """SeaweedFS lists a folder's entries by name, folder `b/` before file `b.jpg.json`:
    not key order, so the record keys are collected and sorted instead of streamed."""
    sink = S3Sink(s3_server.client(), s3_server.make_bucket(), "res")
    sources = ["a/b/c.jpg", "a/b.jpg", "a/a.jpg", "z.jpg"]
    for source in sources:
        sink.write_record(ResultRecord(source=source, status="ok"))
    assert list(sink.record_keys()) == [f"res/{s}.json" for s in sorted(sources)]
    assert merge(sink).records == 4
    lines = (sink.read_text("results.jsonl") or "").splitlines()
    assert [json.loads(line)["source"] for line in lines] == sorted(sources)


def test_the_lean_listing_pages_through_every_key_as_written(s3_server: S3Server) -> None:
    """`list_names` (planning and the merge's listing) over more than one page of 1,000,
    with keys that need escaping on the wire: every key once, as written, with its size,
    in the order the SDK's own listing gives."""
    client = s3_server.client()
    bucket = s3_server.make_bucket()
    odd = ["in/a b+c%41.jpg", "in/身份证/正面.jpg", "in/x&y<z>'\".jpg", "in/end~.jpg"]
    keys = [f"in/{i // 500:02d}/{i:05d}.jpg" for i in range(1005)] + odd

    def put(item: tuple[int, str]) -> None:
        i, key = item
        client.put_object(bucket, key, io.BytesIO(b"x" * (i % 3)), i % 3)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, enumerate(keys)))
    listed = list(list_names(client, bucket, "in/"))
    assert sorted(listed) == sorted((key, i % 3) for i, key in enumerate(keys))
    sdk = [(o.object_name, o.size) for o in client.list_objects(bucket, prefix="in/", recursive=True)]
    assert listed == sdk
    assert list(list_names(client, bucket, "in/00/")) == [(k, i % 3) for i, k in enumerate(keys[:500])]
