"""Unusable buckets and credentials fail at once, clearly, and without leaking secrets."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from ocr_job.storage import StorageError, open_sink, open_source
from ocr_job.storage.s3 import S3Sink, S3Source
from tests.support.s3server import S3Server

WRONG_SECRET = "wrong-secret-value-0123456789"


def retries_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The retry warnings of the storage layer (`ocr_job.storage.retry`) caught so far."""
    return [r.getMessage() for r in caplog.records if "; retry " in r.getMessage()]


def _assert_secret_free(text: str, server: S3Server) -> None:
    assert server.secret_key not in text
    assert WRONG_SECRET not in text


@pytest.mark.parametrize("opener", [open_source, open_sink])
def test_wrong_secret(s3_server: S3Server, s3_bucket: str, opener, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = s3_server.settings(secret_key=SecretStr(WRONG_SECRET))
    with pytest.raises(StorageError, match="rejected the S3 credentials") as info:
        opener(f"s3://{s3_bucket}/in", settings)
    assert not retries_logged(caplog), "a 4xx is not retried"
    message = str(info.value)
    assert "OCR_S3_SECRET_KEY" in message
    _assert_secret_free(message + repr(info.value) + caplog.text, s3_server)


def test_unknown_access_key(s3_server: S3Server, s3_bucket: str) -> None:
    settings = s3_server.settings(access_key=SecretStr("AKNOBODY"))
    with pytest.raises(StorageError, match=r"rejected the S3 credentials \(InvalidAccessKeyId\)"):
        S3Source.from_url(f"s3://{s3_bucket}/in", settings)


def test_missing_bucket(s3_server: S3Server, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(StorageError, match=r"bucket 'no-such-bucket' does not exist at http://"):
        S3Sink.from_url("s3://no-such-bucket/res", s3_server.settings())
    assert not retries_logged(caplog)
    _assert_secret_free(caplog.text, s3_server)


@pytest.mark.parametrize("url", ["s3://Bad_Bucket/x", "s3:///x"])
def test_invalid_url_or_bucket_name(s3_server: S3Server, url: str) -> None:
    with pytest.raises(StorageError):
        S3Source.from_url(url, s3_server.settings())


def test_settings_repr_hides_secrets(s3_server: S3Server) -> None:
    settings = s3_server.settings()
    _assert_secret_free(repr(settings) + str(settings), s3_server)


def test_endpoint_that_is_not_s3(s3_server: S3Server) -> None:
    """An HTTP server that is not S3 (here SeaweedFS's master) is refused clearly."""
    settings = s3_server.settings(endpoint=f"127.0.0.1:{s3_server.ports['master']}")
    with pytest.raises(StorageError, match="does not answer like an S3 server"):
        S3Source.from_url("s3://bucket/in", settings)
