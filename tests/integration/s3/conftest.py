"""Fixtures of the S3 tests: a real SeaweedFS server (tests/support/s3server.py)."""

from __future__ import annotations

import pytest

from ocr_job.storage.retry import RetryPolicy


@pytest.fixture
def fast_policy() -> RetryPolicy:
    """Retries that give up after 2 s, so outage tests stay short."""
    return RetryPolicy(total_s=2.0, base_s=0.1, max_backoff_s=0.5)
