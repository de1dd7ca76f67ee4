"""Outages: transient failures are retried for a bounded time, then StorageError."""

from __future__ import annotations

import io
import logging
import threading
import time

import pytest

from ocr_job.records import ResultRecord
from ocr_job.storage import StorageError
from ocr_job.storage.base import InputItem
from ocr_job.storage.retry import RetryPolicy
from ocr_job.storage.s3 import S3Sink, S3Source, make_client
from tests.support.s3server import S3Server


def test_server_down_retries_then_storage_error(
    own_s3_server: S3Server, fast_policy: RetryPolicy, caplog: pytest.LogCaptureFixture
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
        started = time.monotonic()
        with pytest.raises(StorageError, match="object store unavailable") as info:
            operation()
        elapsed = time.monotonic() - started
        assert fast_policy.total_s <= elapsed < fast_policy.total_s + 3
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

    restarted = threading.Event()

    def bounce() -> None:
        time.sleep(0.3)
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
    source = S3Source(make_client(server.settings()), bucket, "in", policy=RetryPolicy(60))

    server.kill()  # an abrupt outage; the server comes back 1.5 s later
    timer = threading.Timer(1.5, server.start)
    timer.start()
    try:
        items = list(source.list())  # retried until the server answers again
        data = [source.read(item) for item in items]
    finally:
        timer.join()
    assert [i.key for i in items] == [f"in/{i:03d}.png" for i in range(40)]
    assert data == [b"%d" % i for i in range(40)]
