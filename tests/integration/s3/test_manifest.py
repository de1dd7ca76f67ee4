"""Manifests: one key per line, UTF-8, written by the planner and read by workers."""

from __future__ import annotations

import pytest

from ocr_job.storage import StorageError
from ocr_job.storage import read_manifest as read_any_manifest
from ocr_job.storage.s3 import S3Sink, read_manifest, write_manifest
from tests.support.s3server import S3Server

KEYS = [
    "in/张 三/身份证 正面.jpg",
    "in/a b.png",
    " in/leading and trailing space.jpg ",
    "in/tab\there.jpg",
    "in/sep\u2028inside.jpg",  # a unicode line separator is part of a key, not a break
    "in/émile.jpeg",
]


def test_round_trip_with_settings(s3_server: S3Server, s3_bucket: str) -> None:
    url = f"s3://{s3_bucket}/res/_manifests/shard-0003.txt"
    assert write_manifest(s3_server.settings(), url, KEYS) == len(KEYS)
    assert read_manifest(url, s3_server.settings()) == KEYS
    # The dispatcher of the storage package reads it too.
    assert read_any_manifest(url, s3_server.settings()) == KEYS
    raw = s3_server.client().get_object(s3_bucket, "res/_manifests/shard-0003.txt").read()
    assert raw == "".join(k + "\n" for k in KEYS).encode("utf-8")


def test_round_trip_with_client_and_sink(s3_server: S3Server, s3_bucket: str) -> None:
    url = f"s3://{s3_bucket}/m/shard-0000.txt"
    write_manifest(s3_server.client(), url, iter(KEYS[:2]))
    sink = S3Sink(s3_server.client(), s3_bucket, "m")
    assert read_manifest(url, sink) == KEYS[:2]
    assert sink.read_text("shard-0000.txt") == KEYS[0] + "\n" + KEYS[1] + "\n"
    write_manifest(sink, url, [])
    assert read_manifest(url, s3_server.client()) == []


def test_blank_lines_and_crlf_are_tolerated(s3_server: S3Server, s3_bucket: str) -> None:
    sink = S3Sink(s3_server.client(), s3_bucket, "m")
    sink.write_text("hand-made.txt", "in/a.jpg\r\n\r\nin/b c.jpg\n\n")
    assert read_manifest(f"s3://{s3_bucket}/m/hand-made.txt", sink) == ["in/a.jpg", "in/b c.jpg"]


@pytest.mark.parametrize("bad", ["in/a\nb.jpg", "in/a\rb.jpg", ""])
def test_unwritable_keys_are_refused(s3_server: S3Server, s3_bucket: str, bad: str) -> None:
    with pytest.raises(ValueError, match="cannot hold"):
        write_manifest(s3_server.client(), f"s3://{s3_bucket}/m.txt", ["ok.jpg", bad])


def test_missing_manifest(s3_server: S3Server, s3_bucket: str) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        read_manifest(f"s3://{s3_bucket}/nope.txt", s3_server.client())
