"""Storage backends behind the `Source`/`Sink` Protocols, chosen by URL scheme."""

from __future__ import annotations

from pathlib import Path

from ocr_job.config import S3Settings
from ocr_job.storage.base import InputItem, Sink, Source, StorageError, parse_manifest

__all__ = ["InputItem", "Sink", "Source", "StorageError", "is_s3_url", "open_sink", "open_source"]


def is_s3_url(url: str) -> bool:
    return url.startswith("s3://")


def open_source(url: str, s3: S3Settings | None = None) -> Source:
    if is_s3_url(url):
        from ocr_job.storage.s3 import S3Source

        return S3Source.from_url(url, s3 or S3Settings())
    from ocr_job.storage.local import LocalSource

    return LocalSource(Path(url))


def open_sink(url: str, s3: S3Settings | None = None) -> Sink:
    if is_s3_url(url):
        from ocr_job.storage.s3 import S3Sink

        return S3Sink.from_url(url, s3 or S3Settings())
    from ocr_job.storage.local import LocalSink

    return LocalSink(Path(url))


def read_manifest(url: str, s3: S3Settings | None = None) -> list[str]:
    """Keys listed one per line in a manifest (local path or s3:// URL)."""
    if is_s3_url(url):
        from ocr_job.storage.s3 import read_manifest as read_s3_manifest

        return read_s3_manifest(url, s3 or S3Settings())
    return parse_manifest(Path(url).read_text(encoding="utf-8"))
