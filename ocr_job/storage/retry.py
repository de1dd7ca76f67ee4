"""Retry of object-store calls: exponential backoff with jitter, bounded in total time.

Transient failures (server errors, throttling, timeouts, refused or dropped
connections) are retried until `RetryPolicy.total_s` seconds have passed since
the first failure of the current run of failures; then `StorageError` is raised.
Client errors (4xx: AccessDenied, NoSuchBucket, InvalidAccessKeyId, ...) are not
retried: they are raised to the caller at once.

The minio SDK is given an HTTP pool without urllib3-level retries (see
`ocr_job.storage.s3.make_client`), so this module alone decides.
"""

from __future__ import annotations

import http.client
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import urllib3.exceptions
from minio.error import InvalidResponseError, S3Error, ServerError

from ocr_job.storage.base import StorageError

log = logging.getLogger("ocr_job.storage.s3")

T = TypeVar("T")

DEFAULT_RETRY_TOTAL_S = 120.0

#: S3 error codes that are worth retrying even when the status is not 5xx.
_TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "Throttling",
        "ThrottlingException",
        "OperationAborted",
    }
)


def _status_of(exc: BaseException) -> int | None:
    if isinstance(exc, S3Error):
        response = exc.response
        return int(response.status) if response is not None else None
    if isinstance(exc, ServerError):
        return exc.status_code
    if isinstance(exc, InvalidResponseError):
        code = getattr(exc, "_code", None)
        return int(code) if isinstance(code, int) else None
    return None


def is_transient(exc: BaseException) -> bool:
    """True for failures a later attempt may not see; False for client errors."""
    if isinstance(exc, S3Error):
        if exc.code in _TRANSIENT_CODES:
            return True
        status = _status_of(exc)
        return status is not None and (status >= 500 or status == 429)
    if isinstance(exc, (ServerError, InvalidResponseError)):
        status = _status_of(exc)
        return status is None or status >= 500 or status == 429
    if isinstance(exc, urllib3.exceptions.MaxRetryError):
        return not isinstance(exc.reason, urllib3.exceptions.SSLError)
    if isinstance(exc, urllib3.exceptions.SSLError):
        return False
    # ProtocolError, ReadTimeoutError, ConnectTimeoutError, NewConnectionError, ...
    if isinstance(exc, urllib3.exceptions.HTTPError):
        return True
    return isinstance(exc, (ConnectionError, TimeoutError, http.client.HTTPException))


def describe(exc: BaseException) -> str:
    """A short, secret-free description of a storage failure for logs and messages."""
    if isinstance(exc, S3Error):
        return f"{exc.code}: {exc.message}" if exc.message else str(exc.code)
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return "connection refused or unreachable"
    if isinstance(exc, (urllib3.exceptions.ReadTimeoutError, TimeoutError)):
        return "timed out"
    if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
        return "connect timed out"
    if isinstance(exc, urllib3.exceptions.ProtocolError):
        return "connection dropped"
    status = _status_of(exc)
    if status is not None:
        return f"HTTP {status}"
    return type(exc).__name__


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often to retry a transient failure."""

    #: Give up when the failures of one call have lasted this long (seconds).
    total_s: float = DEFAULT_RETRY_TOTAL_S
    #: First backoff; doubles per attempt up to `max_backoff_s`, with full jitter.
    base_s: float = 0.25
    max_backoff_s: float = 8.0
    #: Where the time comes from and how a delay is waited (tests give their own, which
    #: record the delays instead of sleeping them).
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    def backoff(self, attempt: int) -> float:
        cap: float = min(self.max_backoff_s, self.base_s * (2 ** min(attempt, 30)))
        # "Equal jitter": never zero, never above the cap.
        return cap / 2 + random.uniform(0, cap / 2)


class Retrier:
    """Tracks one run of consecutive failures; `failed()` sleeps or raises."""

    def __init__(self, policy: RetryPolicy, what: str) -> None:
        self.policy = policy
        self.what = what
        self.attempt = 0
        self.first_failure: float | None = None

    def reset(self) -> None:
        self.attempt = 0
        self.first_failure = None

    def failed(self, exc: BaseException) -> None:
        """Call from an `except` block: re-raise client errors, sleep on transient ones,
        raise `StorageError` once the budget is spent."""
        if not is_transient(exc):
            raise exc
        now = self.policy.clock()
        if self.first_failure is None:
            self.first_failure = now
        elapsed = now - self.first_failure
        self.attempt += 1
        remaining = self.policy.total_s - elapsed
        if remaining <= 0:
            raise StorageError(
                f"object store unavailable: {self.what} kept failing for {elapsed:.0f} s "
                f"over {self.attempt} attempts (last error: {describe(exc)})"
            ) from exc
        # The last attempt lands on the deadline rather than past it.
        delay = min(self.policy.backoff(self.attempt - 1), remaining)
        log.warning(
            "%s failed (%s); retry %d in %.1f s (%.0f s of %.0f s budget used)",
            self.what,
            describe(exc),
            self.attempt,
            delay,
            elapsed,
            self.policy.total_s,
        )
        self.policy.sleep(delay)


def call_with_retry(policy: RetryPolicy, what: str, fn: Callable[[], T]) -> T:
    """Run `fn`, retrying transient failures per `policy`."""
    retrier = Retrier(policy, what)
    while True:
        try:
            return fn()
        except Exception as exc:
            retrier.failed(exc)
