"""Where inputs come from and results go: one Protocol each, for local folders and S3."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from ocr_job.config import IMAGE_SUFFIXES
from ocr_job.records import ResultRecord

#: Result-side names that are not per-input records.
RESULTS_JSONL = "results.jsonl"
RESULTS_CSV = "results.csv"
SHARDS_DIR = "_shards"
MANIFESTS_DIR = "_manifests"
#: Top-level output folders that hold no per-input records.
RESERVED_DIRS: tuple[str, ...] = (SHARDS_DIR, MANIFESTS_DIR)
RECORD_SUFFIX = ".json"


class StorageError(RuntimeError):
    """The source or destination cannot be used at all (exit code 1)."""


@dataclass(frozen=True, slots=True)
class InputItem:
    """One input: `key` is the path relative to the source root, or the object key."""

    key: str
    size: int | None = None
    etag: str | None = None


def is_image_key(key: str) -> bool:
    return key.lower().endswith(IMAGE_SUFFIXES)


def safe_key(key: str) -> str:
    """A relative key with no leading `/`, no `.`/`..` and no empty segments.

    Result keys are made from input keys with it, so a key can never escape the output.
    """
    parts = [p for p in key.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    if not parts:
        raise ValueError(f"key {key!r} has no usable path segment")
    return "/".join(parts)


def parse_manifest(text: str) -> list[str]:
    """Keys of a manifest: one per `\\n`-separated line (a trailing `\\r` dropped), empty lines
    skipped. Keys may hold spaces and any unicode, so nothing else is stripped."""
    keys = (line[:-1] if line.endswith("\r") else line for line in text.split("\n"))
    return [key for key in keys if key]


def manifest_text(keys: Iterable[str]) -> str:
    """The manifest of `keys`: one per line, UTF-8. A key cannot hold a line break."""
    lines = []
    for key in keys:
        if not key or "\n" in key or "\r" in key:
            raise ValueError(f"a manifest cannot hold the key {key!r}")
        lines.append(f"{key}\n")
    return "".join(lines)


class Source(Protocol):
    def list(self) -> Iterator[InputItem]:
        """Every input under the source, streamed, in a stable (sorted) order."""
        ...

    def resolve(self, keys: Iterable[str]) -> Iterator[InputItem]:
        """Items for the given keys (from a manifest), with size and etag filled in."""
        ...

    def read(self, item: InputItem) -> bytes:
        ...


class Sink(Protocol):
    def done_etag(self, key: str) -> str | None:
        """The source ETag recorded by an existing result for `key`, or None."""
        ...

    def write_record(self, record: ResultRecord) -> None:
        ...

    def write_text(self, name: str, text: str) -> None:
        """Write a batch-level file (results.jsonl, a shard summary) under the output."""
        ...

    def read_text(self, name: str) -> str | None:
        ...

    def iter_records(self) -> Iterator[ResultRecord]:
        """Every per-input record under the output, sorted by source."""
        ...
