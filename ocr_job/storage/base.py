"""Where inputs come from and results go: one Protocol each, for local folders and S3."""

from __future__ import annotations

import json
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


#: First line of a manifest written by `manifest_text`: each following line is one key as a
#: JSON string (ASCII only), so a key may hold line breaks, control characters and escaped
#: non-UTF-8 bytes. A manifest without it is read the old way: one raw key per line.
MANIFEST_HEADER = '{"ocrbatchManifest":2}'


def parse_manifest(text: str) -> list[str]:
    """Keys of a manifest: JSON-string lines after `MANIFEST_HEADER`, else one raw key per
    `\\n`-separated line (a trailing `\\r` dropped). Empty lines are skipped either way."""
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    if not lines or lines[0] != MANIFEST_HEADER:
        return [key for key in lines if key]
    keys = []
    for number, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        try:
            key = json.loads(line)
        except ValueError:
            key = None
        if not isinstance(key, str):  # the message never quotes the line: it is a key
            raise ValueError(f"manifest line {number} is not a JSON string")
        keys.append(key)
    return keys


def manifest_text(keys: Iterable[str]) -> str:
    """The manifest of `keys`: the header, then one JSON string per line (ASCII)."""
    return "".join([MANIFEST_HEADER, "\n", *(json.dumps(key) + "\n" for key in keys)])


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
