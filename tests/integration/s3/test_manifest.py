"""Manifests: a header, then one key per line as a JSON string (any key, escaped), written by
the planner and read by workers; a hand-made manifest of raw lines still reads."""

from __future__ import annotations

import pytest

from ocr_job.storage import StorageError
from ocr_job.storage import read_manifest as read_any_manifest
from ocr_job.storage.base import MANIFEST_HEADER, manifest_text, parse_manifest
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
    assert raw.isascii() and raw.decode().splitlines()[0] == MANIFEST_HEADER
    assert len(raw.decode().splitlines()) == len(KEYS) + 1


def test_round_trip_with_client_and_sink(s3_server: S3Server, s3_bucket: str) -> None:
    url = f"s3://{s3_bucket}/m/shard-0000.txt"
    write_manifest(s3_server.client(), url, iter(KEYS[:2]))
    sink = S3Sink(s3_server.client(), s3_bucket, "m")
    assert read_manifest(url, sink) == KEYS[:2]
    assert sink.read_text("shard-0000.txt") == manifest_text(KEYS[:2])
    write_manifest(sink, url, [])
    assert read_manifest(url, s3_server.client()) == []


def test_blank_lines_and_crlf_are_tolerated(s3_server: S3Server, s3_bucket: str) -> None:
    sink = S3Sink(s3_server.client(), s3_bucket, "m")
    sink.write_text("hand-made.txt", "in/a.jpg\r\n\r\nin/b c.jpg\n\n")
    assert read_manifest(f"s3://{s3_bucket}/m/hand-made.txt", sink) == ["in/a.jpg", "in/b c.jpg"]


#: Keys a line-per-key format cannot hold: line breaks, control characters, an escape
#: sequence, a lone surrogate (a non-UTF-8 file name, surrogate-escaped), a 1024-byte key.
ODD_KEYS = [
    "in/a\nb.jpg",
    "in/a\rb.jpg",
    "in/\r\n.jpg",
    "in/tab\t.jpg",
    "in/\x1b[31mred.jpg",
    "in/nul\x00.jpg",
    "in/\x7f\x85.jpg",
    "in/bad\udcff.jpg",
    "in/" + "k" * 1017 + ".jpg",
    "",
    MANIFEST_HEADER,
    '"quoted".jpg',
]


def test_odd_keys_round_trip(s3_server: S3Server, s3_bucket: str) -> None:
    url = f"s3://{s3_bucket}/m/odd.txt"
    assert write_manifest(s3_server.client(), url, ["ok.jpg", *ODD_KEYS]) == len(ODD_KEYS) + 1
    assert read_manifest(url, s3_server.client()) == ["ok.jpg", *ODD_KEYS]
    raw = s3_server.client().get_object(s3_bucket, "m/odd.txt").read()
    assert raw.isascii() and b"\x1b" not in raw and raw.count(b"\n") == len(ODD_KEYS) + 2


def test_corrupt_manifest_line_is_refused_without_quoting_it() -> None:
    with pytest.raises(ValueError, match="line 3 is not a JSON string") as caught:
        parse_manifest(f'{MANIFEST_HEADER}\n"a.jpg"\nsecret name.jpg\n')
    assert "secret" not in str(caught.value)


def test_missing_manifest(s3_server: S3Server, s3_bucket: str) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        read_manifest(f"s3://{s3_bucket}/nope.txt", s3_server.client())
