"""S3Source / S3Sink against a real S3 server: listing, reading, records, batch files."""

from __future__ import annotations

import hashlib
import io
from concurrent.futures import ThreadPoolExecutor

import pytest
from minio import Minio

from ocr_job.records import ErrorCode, Fields, ResultRecord
from ocr_job.storage import open_sink, open_source
from ocr_job.storage.base import InputItem
from ocr_job.storage.s3 import S3Sink, S3Source
from tests.support.s3server import S3Server


def put(client: Minio, bucket: str, key: str, data: bytes) -> str:
    result = client.put_object(bucket, key, io.BytesIO(data), len(data))
    return str(result.etag).strip('"')


def put_many(client: Minio, bucket: str, objects: dict[str, bytes]) -> dict[str, str]:
    with ThreadPoolExecutor(16) as pool:
        etags = pool.map(lambda kv: put(client, bucket, *kv), objects.items())
        return dict(zip(objects, etags, strict=True))


def test_list_pages_filters_and_sorts(s3_server: S3Server, s3_bucket: str) -> None:
    client = s3_server.client()
    images = {f"in/batch-{i % 7}/card-{i:05d}.jpg": f"img {i}".encode() for i in range(1100)}
    others = {
        "in/notes.txt": b"not an image",
        "in/batch-0/card.JSON": b"{}",
        "inbox/outside-the-prefix.jpg": b"x",  # same leading letters, other "folder"
        "other/x.png": b"x",
    }
    etags = put_many(client, s3_bucket, {**images, **others})

    source = S3Source(client, s3_bucket, "in")
    items = list(source.list())

    assert len(items) == 1100  # more than one 1000-key page
    assert [item.key for item in items] == sorted(images)
    for item in items:
        assert item.size == len(images[item.key])
        assert item.etag == etags[item.key]


def test_unicode_and_spaces_round_trip(s3_server: S3Server, s3_bucket: str) -> None:
    client = s3_server.client()
    objects = {
        "cards/张 三/身份证 正面.jpg": b"front",
        "cards/a b c.PNG": b"png bytes",
        "cards/émile/ünïcode #1 (copy).jpeg": b"jpeg bytes",
        "cards/plus+and%percent.jpg": b"odd",
    }
    put_many(client, s3_bucket, objects)

    source = S3Source(client, s3_bucket, "cards/")
    items = list(source.list())
    assert [i.key for i in items] == sorted(objects)
    for item in items:
        assert source.read(item) == objects[item.key]

    resolved = list(source.resolve(["cards/张 三/身份证 正面.jpg", "cards/missing one.jpg"]))
    assert resolved[0].key == "cards/张 三/身份证 正面.jpg"
    assert resolved[0].size == len(b"front")
    assert resolved[0].etag == hashlib.md5(b"front").hexdigest()  # the ETag of a simple PUT
    # A missing key is still an item (the pipeline records fetch_failed for it).
    assert resolved[1] == InputItem(key="cards/missing one.jpg", size=None, etag=None)


def test_size_is_known_without_download(s3_server: S3Server, s3_bucket: str) -> None:
    """The pipeline's size cap works from InputItem.size: list and resolve must carry it."""
    client = s3_server.client()
    big = b"\0" * (3 * 1024 * 1024 + 17)
    put(client, s3_bucket, "in/huge.jpg", big)
    source = S3Source(client, s3_bucket, "in")
    (listed,) = list(source.list())
    (resolved,) = list(source.resolve(["in/huge.jpg"]))
    assert listed.size == resolved.size == len(big)
    assert listed.etag == resolved.etag is not None


def test_read_missing_object_is_an_item_error(s3_server: S3Server, s3_bucket: str) -> None:
    """A vanished input is not an outage: a plain error the pipeline turns into a record."""
    source = S3Source(s3_server.client(), s3_bucket, "in")
    with pytest.raises(FileNotFoundError, match=r"gone\.jpg"):
        source.read(InputItem(key="in/gone.jpg", size=3, etag="abc"))


def _record(source: str, etag: str | None, status: str = "ok") -> ResultRecord:
    if status == "ok":
        return ResultRecord(
            source=source,
            status="ok",
            side="front",
            fields=Fields(name="张三", id_number="11010519491231002X"),
            source_etag=etag,
        )
    return ResultRecord.failure(source, ErrorCode.UNREADABLE_IMAGE, "bad", source_etag=etag)


def test_records_done_etag_and_iteration(s3_server: S3Server, s3_bucket: str) -> None:
    client = s3_server.client()
    sink = S3Sink(client, s3_bucket, "out/run 1")
    sources = ["in/z.jpg", "in/a b/张三.jpg", "in/a.jpg", "in/m/n/o.png"]
    for i, source in enumerate(sources):
        sink.write_record(_record(source, f"etag-{i}", "ok" if i % 2 else "error"))
    sink.write_text("_shards/shard-0003.json", '{"index": 3}')
    sink.write_text("_manifests/shard-0000.txt", "in/a.jpg\n")

    # Resume: one HEAD tells the source ETag; the record object carries it as metadata.
    assert sink.done_etag("in/a b/张三.jpg") == "etag-1"
    assert sink.done_etag("in/never.jpg") is None
    stat = client.stat_object(s3_bucket, "out/run 1/in/a b/张三.jpg.json")
    assert stat.metadata["x-amz-meta-source-etag"] == "etag-1"
    assert stat.metadata["x-amz-meta-status"] == "ok"
    assert stat.content_type == "application/json"

    # A rewrite replaces the record and its ETag.
    sink.write_record(_record("in/a.jpg", "etag-new"))
    assert sink.done_etag("in/a.jpg") == "etag-new"

    records = list(sink.iter_records())
    assert [r.source for r in records] == sorted(sources)  # _shards/_manifests excluded
    by_source = {r.source: r for r in records}
    assert by_source["in/a.jpg"].source_etag == "etag-new"
    assert by_source["in/a b/张三.jpg"].fields.name == "张三"
    assert by_source["in/z.jpg"].error is not None


def test_done_etag_without_metadata_reads_the_record(s3_server: S3Server, s3_bucket: str) -> None:
    """A record copied in by another tool (no user metadata) still counts for resume."""
    client = s3_server.client()
    record = _record("in/x.jpg", "from-body")
    put(client, s3_bucket, "res/in/x.jpg.json", record.model_dump_json().encode())
    sink = S3Sink(client, s3_bucket, "res")
    assert sink.done_etag("in/x.jpg") == "from-body"


def test_batch_files(s3_server: S3Server, s3_bucket: str) -> None:
    sink = S3Sink(s3_server.client(), s3_bucket, "res")
    assert sink.read_text("results.jsonl") is None
    text = '{"source": "身份证.jpg"}\n' * 3
    sink.write_text("results.jsonl", text)
    sink.write_text("_shards/shard-0003.json", "{}")
    assert sink.read_text("results.jsonl") == text
    assert sink.read_text("_shards/shard-0003.json") == "{}"
    assert list(sink.iter_records()) == []


def test_open_by_url(s3_server: S3Server, s3_bucket: str) -> None:
    """The storage package's dispatcher builds both from s3:// URLs and settings."""
    settings = s3_server.settings()
    put(s3_server.client(), s3_bucket, "in/one.jpg", b"1")
    source = open_source(f"s3://{s3_bucket}/in", settings)
    sink = open_sink(f"s3://{s3_bucket}/out/", settings)
    assert isinstance(source, S3Source) and isinstance(sink, S3Sink)
    assert [i.key for i in source.list()] == ["in/one.jpg"]
    sink.write_record(_record("in/one.jpg", "e1"))
    assert [r.source for r in sink.iter_records()] == ["in/one.jpg"]
    assert sink.url == f"s3://{s3_bucket}/out"


def test_record_without_source_etag_is_never_done(s3_server: S3Server, s3_bucket: str) -> None:
    sink = S3Sink(s3_server.client(), s3_bucket, "res")
    sink.write_record(
        ResultRecord.failure("in/vanished.jpg", ErrorCode.FETCH_FAILED, "gone", source_etag=None)
    )
    assert sink.done_etag("in/vanished.jpg") is None
    assert [r.source for r in sink.iter_records()] == ["in/vanished.jpg"]
