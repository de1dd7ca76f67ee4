"""Fixtures of the S3 tests: a real SeaweedFS server (tests/support/s3server.py), and retry
policies whose time is the test's own."""

from __future__ import annotations

import pytest

from ocr_job.storage.retry import RetryPolicy


class FakeTime:
    """A clock that moves only when slept on; every delay asked for is recorded. A
    `RetryPolicy(clock=t.clock, sleep=t.sleep)` then retries without waiting, and a test
    reads its delays instead of timing it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.delays: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def fast_policy(fake_time: FakeTime) -> RetryPolicy:
    """Retries that give up after 2 s of the test's own time (`fake_time`)."""
    return RetryPolicy(
        total_s=2.0, base_s=0.1, max_backoff_s=0.5, clock=fake_time.clock, sleep=fake_time.sleep
    )
