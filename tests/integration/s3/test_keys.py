"""Result keys derive from input keys but can never leave the output prefix."""

from __future__ import annotations

import pytest

from ocr_job.records import ResultRecord
from ocr_job.storage.base import safe_key
from ocr_job.storage.s3 import S3Sink, parse_s3_url, record_key
from tests.support.s3server import S3Server


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("a/b.jpg", "a/b.jpg"),
        ("../../etc/x.jpg", "etc/x.jpg"),
        ("/abs/y.jpg", "abs/y.jpg"),
        ("a//b/./c.jpg", "a/b/c.jpg"),
        ("a/../../b.jpg", "a/b.jpg"),
        ("..\\..\\win\\z.jpg", "win/z.jpg"),
        ("张 三/身份证.jpg", "张 三/身份证.jpg"),
    ],
)
def test_safe_key(key: str, expected: str) -> None:
    assert safe_key(key) == expected
    assert record_key("out/res", key) == f"out/res/{expected}.json"


@pytest.mark.parametrize("key", ["", "/", "..", "./..", "//./"])
def test_keys_without_a_segment_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="no usable path segment"):
        safe_key(key)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://bucket", ("bucket", "")),
        ("s3://bucket/", ("bucket", "")),
        ("s3://bucket/a/b/", ("bucket", "a/b")),
        ("s3://bucket//a//b", ("bucket", "a/b")),
    ],
)
def test_parse_s3_url(url: str, expected: tuple[str, str]) -> None:
    assert parse_s3_url(url) == expected


@pytest.mark.parametrize("url", ["http://bucket/x", "s3://", "s3:///x", "/local/path"])
def test_parse_s3_url_rejects(url: str) -> None:
    with pytest.raises(ValueError):
        parse_s3_url(url)


def test_hostile_keys_stay_under_the_prefix(s3_server: S3Server, s3_bucket: str) -> None:
    client = s3_server.client()
    sink = S3Sink(client, s3_bucket, "tenant-a/res")
    hostile = ["../../etc/x.jpg", "/abs/y.jpg", "a//b/./c.jpg", "../tenant-b/res/z.jpg"]
    for key in hostile:
        sink.write_record(ResultRecord(source=key, status="ok", source_etag="e-" + key))
    sink.write_text("../../escape.txt", "x")

    keys = sorted(o.object_name or "" for o in client.list_objects(s3_bucket, recursive=True))
    assert keys == [
        "tenant-a/res/a/b/c.jpg.json",
        "tenant-a/res/abs/y.jpg.json",
        "tenant-a/res/escape.txt",
        "tenant-a/res/etc/x.jpg.json",
        "tenant-a/res/tenant-b/res/z.jpg.json",
    ]
    # The record keeps the original source, and resume finds it by the same key.
    assert sink.done_etag("../../etc/x.jpg") == "e-../../etc/x.jpg"
    assert {r.source for r in sink.iter_records()} == set(hostile)
