"""Storage backends behind the `Source`/`Sink` Protocols, chosen by URL scheme."""

from __future__ import annotations

import os
from pathlib import Path

from ocr_job.config import S3Settings
from ocr_job.storage.base import (
    InputItem,
    RecordWriteError,
    Sink,
    Source,
    StorageError,
    parse_manifest,
)

__all__ = [
    "InputItem",
    "RecordWriteError",
    "Sink",
    "Source",
    "StorageError",
    "is_s3_url",
    "open_sink",
    "open_source",
    "output_inside_source",
]


def is_s3_url(url: str) -> bool:
    return url.startswith("s3://")


def output_inside_source(source_url: str, output_url: str) -> str | None:
    """Where the output lies inside the source: None when outside it, "" when it is the
    source itself, else its path relative to the source (a folder the listing skips).

    Local folders are compared by their real paths (symlinks resolved); S3 URLs by bucket
    and prefix, segment by segment."""
    if is_s3_url(source_url) != is_s3_url(output_url):
        return None
    if is_s3_url(source_url):
        from ocr_job.storage.s3 import parse_s3_url

        try:
            (src_bucket, src), (out_bucket, out) = parse_s3_url(source_url), parse_s3_url(output_url)
        except ValueError:
            return None  # refused with a clear message when opened
        if src_bucket != out_bucket:
            return None
        src_parts, out_parts = src.split("/") if src else [], out.split("/") if out else []
    else:
        src_parts = list(Path(os.path.realpath(source_url)).parts)
        out_parts = list(Path(os.path.realpath(output_url)).parts)
    if tuple(out_parts[: len(src_parts)]) != tuple(src_parts):
        return None
    return "/".join(out_parts[len(src_parts) :])


def open_source(url: str, s3: S3Settings | None = None, *, skip: str | None = None) -> Source:
    """The source at `url`; `skip` (relative to it) is a folder left out of the listing."""
    if is_s3_url(url):
        from ocr_job.storage.s3 import S3Source, parse_s3_url

        source = S3Source.from_url(url, s3 or S3Settings())
        if skip:
            prefix = parse_s3_url(url)[1]
            source.skip = f"{prefix}/{skip}" if prefix else skip
        return source
    from ocr_job.storage.local import LocalSource

    return LocalSource(Path(url), skip=skip)


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
    try:
        return parse_manifest(Path(url).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise StorageError("the manifest is not UTF-8 text") from None
    except ValueError as exc:  # a damaged line (the message never quotes it)
        raise StorageError(f"the manifest cannot be read: {exc}") from None
