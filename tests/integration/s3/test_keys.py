"""Result keys derive from input keys but can never leave the output prefix."""

from __future__ import annotations

import pytest

from ocr_job.records import ResultRecord
from ocr_job.storage.base import mapped_name, safe_key
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
    # A canonical key keeps its name; any other is mapped, so that two keys that normalise
    # alike (`a/../b.jpg`, `a/b.jpg`) never share a record.
    if key == expected:
        assert record_key("out/res", key) == f"out/res/{expected}.json"
    else:
        assert record_key("out/res", key) == "out/res/" + mapped_name(key)
        assert record_key("out/res", key) != record_key("out/res", expected)


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
    hostile = [
        "../../etc/x.jpg",
        "/abs/y.jpg",
        "a//b/./c.jpg",
        "../tenant-b/res/z.jpg",
        "etc/x.jpg",
        "a/b/c.jpg",
    ]
    for key in hostile:
        sink.write_record(ResultRecord(source=key, status="ok", source_etag="e-" + key))
    sink.write_text("../../escape.txt", "x")

    keys = sorted(o.object_name or "" for o in client.list_objects(s3_bucket, recursive=True))
    assert len(keys) == len(hostile) + 1  # no two keys share a record
    assert all(k.startswith("tenant-a/res/") for k in keys)
    assert "tenant-a/res/escape.txt" in keys
    assert "tenant-a/res/etc/x.jpg.json" in keys and "tenant-a/res/a/b/c.jpg.json" in keys
    assert sum(k.startswith("tenant-a/res/_mapped/") for k in keys) == 4
    # The record keeps the original source, and resume finds it by the same key.
    for key in hostile:
        assert sink.done_etag(key) == "e-" + key
    assert sorted(r.source for r in sink.iter_records()) == sorted(hostile)
