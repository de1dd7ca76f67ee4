"""What is retried and what is not (classification without a server)."""

from __future__ import annotations

import pytest
import urllib3
from minio.error import S3Error, ServerError
from urllib3.exceptions import (
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from ocr_job.storage import StorageError
from ocr_job.storage.retry import RetryPolicy, call_with_retry, is_transient
from tests.integration.s3.conftest import FakeTime


def s3_error(code: str, status: int) -> S3Error:
    response = urllib3.HTTPResponse(body=b"", status=status)
    return S3Error(response, code, "message", "/b/k", "req", "host", bucket_name="b")


@pytest.mark.parametrize(
    "exc",
    [
        s3_error("InternalError", 500),
        s3_error("SlowDown", 503),
        s3_error("SomethingNew", 502),
        s3_error("RequestTimeout", 400),
        ServerError("server failed with HTTP status code 503", 503),
        MaxRetryError(None, "/x", NewConnectionError(None, "refused")),  # type: ignore[arg-type]
        ProtocolError("Connection aborted."),
        ReadTimeoutError(None, "/x", "read timed out"),  # type: ignore[arg-type]
        ConnectionRefusedError(),
        TimeoutError(),
    ],
)
def test_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        s3_error("AccessDenied", 403),
        s3_error("NoSuchBucket", 404),
        s3_error("NoSuchKey", 404),
        s3_error("InvalidAccessKeyId", 403),
        s3_error("SignatureDoesNotMatch", 403),
        MaxRetryError(None, "/x", SSLError("certificate verify failed")),  # type: ignore[arg-type]
        ValueError("bad bucket name"),
    ],
)
def test_not_transient(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_client_errors_are_raised_at_once() -> None:
    calls = 0

    def denied() -> None:
        nonlocal calls
        calls += 1
        raise s3_error("AccessDenied", 403)

    with pytest.raises(S3Error):
        call_with_retry(RetryPolicy(total_s=30), "op", denied)
    assert calls == 1


def test_transient_errors_are_retried_until_success(fake_time: FakeTime) -> None:
    calls = 0

    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise ProtocolError("Connection aborted.")
        return "done"

    policy = RetryPolicy(total_s=30, base_s=0.01, clock=fake_time.clock, sleep=fake_time.sleep)
    assert call_with_retry(policy, "op", flaky) == "done"
    assert calls == 4
    assert len(fake_time.delays) == 3, "one wait before each retry"


def test_budget_bounds_the_total_time(fake_time: FakeTime) -> None:
    policy = RetryPolicy(total_s=1.0, base_s=0.05, max_backoff_s=0.2,
                         clock=fake_time.clock, sleep=fake_time.sleep)  # fmt: skip
    with pytest.raises(StorageError, match=r"op kept failing .* \(last error: timed out\)"):
        call_with_retry(policy, "op", lambda: (_ for _ in ()).throw(TimeoutError()))
    # The waits fill the budget (the last one lands on the deadline), then it gives up.
    assert sum(fake_time.delays) == pytest.approx(1.0)
    assert all(0 < d <= 0.2 for d in fake_time.delays)
    assert len(fake_time.delays) >= 5


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    policy = RetryPolicy(total_s=10, base_s=0.25, max_backoff_s=8)
    for attempt, cap in [(0, 0.25), (1, 0.5), (3, 2.0), (10, 8.0)]:
        delays = {policy.backoff(attempt) for _ in range(50)}
        assert all(cap / 2 <= d <= cap for d in delays)
        assert len(delays) > 1
