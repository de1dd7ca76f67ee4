"""Outages: transient failures are retried for a bounded time, then StorageError."""

from __future__ import annotations

import io
import logging
import threading

import pytest

from ocr_job.records import ResultRecord
from ocr_job.storage import StorageError
from ocr_job.storage.base import InputItem
from ocr_job.storage.retry import RetryPolicy
from ocr_job.storage.s3 import S3Sink, S3Source, make_client
from tests.integration.s3.conftest import FakeTime
from tests.support.s3server import S3Server


def test_server_down_retries_then_storage_error(
    own_s3_server: S3Server,
    fast_policy: RetryPolicy,
    fake_time: FakeTime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = own_s3_server
    bucket = server.make_bucket()
    client = make_client(server.settings())
    sink = S3Sink(client, bucket, "res", policy=fast_policy)
    source = S3Source(client, bucket, "in", policy=fast_policy)
    server.stop()

    caplog.set_level(logging.WARNING, logger="ocr_job.storage.s3")
    for operation in (
        lambda: sink.write_record(ResultRecord(source="in/a.jpg", status="ok")),
        lambda: sink.done_etag("in/a.jpg"),
        lambda: list(source.list()),
        lambda: source.read(InputItem("in/a.jpg", 1, "e")),
    ):
        caplog.clear()
        waited = len(fake_time.delays)
        with pytest.raises(StorageError, match="object store unavailable") as info:
            operation()
        # the retries' waits fill the budget, and then it gives up
        assert sum(fake_time.delays[waited:]) == pytest.approx(fast_policy.total_s)
        assert "connection refused" in str(info.value)
        retries = [r for r in caplog.records if "retry" in r.getMessage()]
        assert len(retries) >= 3
        assert server.secret_key not in str(info.value) + caplog.text


def test_first_contact_with_a_down_server(tmp_path, fast_policy: RetryPolicy) -> None:
    """Opening a source on a server that never answers ends in StorageError, not a hang."""
    server = S3Server(tmp_path / "never-started")
    server.ports = {"s3": 1}  # nothing listens on port 1
    with pytest.raises(StorageError, match="object store unavailable"):
        S3Source(make_client(server.settings()), "bucket", "in", policy=fast_policy)


def test_restart_mid_writes_completes(own_s3_server: S3Server) -> None:
    server = own_s3_server
    bucket = server.make_bucket()
    sink = S3Sink(make_client(server.settings()), bucket, "res", policy=RetryPolicy(total_s=60))

    writing, restarted = threading.Event(), threading.Event()

    def bounce() -> None:
        writing.wait()
        server.restart()
        restarted.set()

    thread = threading.Thread(target=bounce)
    thread.start()
    written = 0
    try:
        while not restarted.is_set() or written < 60:
            sink.write_record(
                ResultRecord(source=f"in/{written:04d}.jpg", status="ok", source_etag=str(written))
            )
            written += 1
            if written == 5:
                writing.set()  # the restart comes while the writes go on
    finally:
        thread.join()
    records = list(sink.iter_records())
    assert [r.source for r in records] == [f"in/{i:04d}.jpg" for i in range(written)]
    assert sink.done_etag(f"in/{written - 1:04d}.jpg") == str(written - 1)


def test_restart_mid_listing_and_reads_completes(own_s3_server: S3Server) -> None:
    server = own_s3_server
    bucket = server.make_bucket()
    setup = server.client()
    for i in range(40):
        setup.put_object(bucket, f"in/{i:03d}.png", io.BytesIO(b"%d" % i), len(b"%d" % i))
    waits: list[float] = []

    def back_after_a_retry(seconds: float) -> None:
        """The outage lasts until the source has retried once: then the server is back."""
        waits.append(seconds)
        if len(waits) == 1:
            server.start()

    policy = RetryPolicy(60, sleep=back_after_a_retry)
    source = S3Source(make_client(server.settings()), bucket, "in", policy=policy)
    server.kill()  # an abrupt outage
    items = list(source.list())  # retried until the server answers again
    data = [source.read(item) for item in items]
    assert waits, "the listing met the outage and retried"
    assert [i.key for i in items] == [f"in/{i:03d}.png" for i in range(40)]
    assert data == [b"%d" % i for i in range(40)]
