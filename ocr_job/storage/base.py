"""Where inputs come from and results go: one Protocol each, for local folders and S3."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from ocr_job.config import DEFAULT_MAX_OBJECT_BYTES, IMAGE_SUFFIXES
from ocr_job.records import ErrorCode, ResultRecord, display_key

#: Result-side names that are not per-input records.
RESULTS_JSONL = "results.jsonl"
RESULTS_CSV = "results.csv"
SHARDS_DIR = "_shards"
MANIFESTS_DIR = "_manifests"
#: Records of inputs whose own name cannot be a record name (see `record_name`).
MAPPED_DIR = "_mapped"
#: A local output's lock file: one run (or merge) at a time per output folder.
LOCK_FILE = ".ocr-job.lock"
#: Top-level output folders that hold no per-input records.
RESERVED_DIRS: tuple[str, ...] = (SHARDS_DIR, MANIFESTS_DIR)
#: Top-level output names an input's own record name may not begin with.
RESERVED_TOP_NAMES = frozenset({SHARDS_DIR, MANIFESTS_DIR, MAPPED_DIR, LOCK_FILE, RESULTS_JSONL, RESULTS_CSV})
RECORD_SUFFIX = ".json"
#: Longest path segment (bytes) of a record name: NAME_MAX of common Linux file systems,
#: and what S3 servers backed by one (SeaweedFS's filer) accept.
NAME_MAX_BYTES = 255
#: Longest record name (bytes, relative to the output): S3's key limit; S3 outputs lower it
#: by their prefix. Fixed, so a record's name never depends on where the output lives.
MAX_RECORD_NAME_BYTES = 1024
#: A record file is at most this large; bigger `.json` files under an output are not ours.
MAX_RECORD_BYTES = 4 * 1024 * 1024
#: Readable part kept in a mapped record name (bytes).
_MAPPED_READABLE_BYTES = 48


class StorageError(RuntimeError):
    """The source or destination cannot be used at all (exit code 1)."""


class RecordWriteError(Exception):
    """This one record could not be stored (its name refused); the output still works.

    The message is short and names no key (keys may hold personal names)."""


class InputRefused(Exception):
    """This input is not read, for a reason with its own error code (`ErrorCode`)."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InputTooLarge(Exception):
    """The input holds more bytes than the limit; `size` is its size when known."""

    def __init__(self, size: int | None) -> None:
        super().__init__("input too large")
        self.size = size


@dataclass(frozen=True, slots=True)
class InputItem:
    """One input: `key` is the path relative to the source root, or the object key."""

    key: str
    size: int | None = None
    etag: str | None = None


#: PDFs are inputs too: each page becomes one (`ocr_job.pdfpages`).
INPUT_SUFFIXES: tuple[str, ...] = (*IMAGE_SUFFIXES, ".pdf")


def is_image_key(key: str) -> bool:
    """Whether `key` is listed as an input: an image's suffix, or a PDF's."""
    return key.lower().endswith(INPUT_SUFFIXES)


def safe_key(key: str) -> str:
    """A relative key with no leading `/`, no `.`/`..` and no empty segments.

    Result keys are made from input keys with it, so a key can never escape the output.
    """
    parts = [p for p in key.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    if not parts:
        raise ValueError(f"key {key!r} has no usable path segment")
    return "/".join(parts)


def record_name(key: str, max_bytes: int = MAX_RECORD_NAME_BYTES) -> str:
    """Where the record of input `key` is stored, relative to the output.

    `key + ".json"` when that is a name every output can hold and no other input's record
    can have; otherwise `mapped_name(key)`. Deterministic, so a rerun finds the record.
    """
    return key + RECORD_SUFFIX if is_plain_key(key, max_bytes) else mapped_name(key)


def is_plain_key(key: str, max_bytes: int = MAX_RECORD_NAME_BYTES) -> bool:
    """True when `key + ".json"` can be the record's name: UTF-8, no control character or
    backslash, canonical `/`-separated segments (no empty, `.` or `..`), a first segment that
    is not one of the output's own names, no folder segment ending in `.json` (it would
    clash with a record file), segments within `NAME_MAX_BYTES` and the whole within
    `max_bytes`. Distinct plain keys thus have distinct record names."""
    if not key or display_key(key) != key or "\\" in key:
        return False
    if any(unicodedata.category(ch) == "Cc" for ch in key):
        return False
    parts = key.split("/")
    if parts[0] in RESERVED_TOP_NAMES or any(p in ("", ".", "..") for p in parts):
        return False
    if any(p.endswith(RECORD_SUFFIX) or len(p.encode()) > NAME_MAX_BYTES for p in parts[:-1]):
        return False
    if len(parts[-1].encode()) + len(RECORD_SUFFIX) > NAME_MAX_BYTES:
        return False
    return len(key.encode()) + len(RECORD_SUFFIX) <= max_bytes


def mapped_name(key: str) -> str:
    """`_mapped/<readable start of the key>~<hash of its bytes>.json`: short, safe on any
    file system or S3 server, distinct for distinct keys (128 bits of SHA-256 of the key's
    raw bytes), and never the name of a plain key's record (`_mapped` is reserved)."""
    try:
        raw = key.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = key.encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(raw).hexdigest()[:32]
    readable = _readable(display_key(key))
    stem = f"{readable}~{digest}" if readable else digest
    return f"{MAPPED_DIR}/{stem}{RECORD_SUFFIX}"


def _readable(text: str) -> str:
    """Letters, digits, `.`, `-` and `_` of `text` (others as `_`), at most
    `_MAPPED_READABLE_BYTES` bytes, no leading `.` or `-`."""
    out: list[str] = []
    size = 0
    for ch in text:
        ch = ch if ch.isalnum() or ch in "._-" else "_"
        size += len(ch.encode())
        if size > _MAPPED_READABLE_BYTES:
            break
        out.append(ch)
    return "".join(out).lstrip(".-")


def is_mapped_name(name: str) -> bool:
    return name.startswith(MAPPED_DIR + "/")


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


def is_record_at(name: str, record: ResultRecord) -> bool:
    """True when `record`, found at `name` (relative to the output), sits where the worker
    stores it: under `_mapped/`, or at its source plus `.json` when that source may be stored
    so (a record an older worker left at a name now mapped is not one of this output's)."""
    if is_mapped_name(name):
        return True
    return name == record.source + RECORD_SUFFIX and is_plain_key(record.source)


class Source(Protocol):
    def list(self) -> Iterator[InputItem]:
        """Every input under the source, streamed, in a stable (sorted) order."""
        ...

    def resolve(self, keys: Iterable[str]) -> Iterator[InputItem]:
        """Items for the given keys (from a manifest), with size and etag filled in."""
        ...

    def read(self, item: InputItem, max_bytes: int = DEFAULT_MAX_OBJECT_BYTES) -> bytes:
        """The input's bytes, at most `max_bytes + 1` of them (more means too large).

        Raises InputTooLarge when the size is known to exceed `max_bytes` before reading,
        InputRefused for an input that must not be read (its code says why), OSError when
        this input alone cannot be read, StorageError when the source cannot be used."""
        ...


class Sink(Protocol):
    #: Files skipped by the last `iter_records` because they are not the worker's records.
    ignored: int

    def done_etag(self, key: str) -> str | None:
        """The source ETag recorded by an existing result for `key`, or None."""
        ...

    def write_record(self, record: ResultRecord, key: str | None = None, *, mapped: bool = False) -> None:
        """Store `record` as the record of input `key` (default: `record.source`) under
        `record_name(key)`, or under `mapped_name(key)` when `mapped`. Raises RecordWriteError
        when this record alone cannot be stored, StorageError when the output cannot be
        written at all (full, read-only, gone)."""
        ...

    def write_text(self, name: str, text: str) -> None:
        """Write a batch-level file (results.jsonl, a shard summary) under the output."""
        ...

    def write_stream(self, name: str, stream: BinaryIO) -> None:
        """Write a batch-level file of any size from `stream` (read to its end, a part at a
        time) under the output: results.jsonl and results.csv (`merge`). An error raised by
        `stream.read` aborts the write: the file is not replaced."""
        ...

    def write_blob(self, name: str, data: bytes) -> None:
        """Store `data` (a crop) at `name` under the output. Raises RecordWriteError when
        this file alone cannot be stored, StorageError when the output cannot be written."""
        ...

    def read_text(self, name: str) -> str | None: ...

    def iter_records(self) -> Iterator[ResultRecord]:
        """Every per-input record under the output: those stored under their input's name
        sorted by it, then the mapped ones (`_mapped/`) sorted by name. Files that are not
        records written there by the worker (other `.json` files, copies at other names,
        anything too large or unparsable) are skipped, counted in `ignored`."""
        ...

    def lock(self, shared: bool = False) -> AbstractContextManager[None]:
        """Held while a run or merge writes to the output: exclusive, or `shared` by the
        shards of one sharded run (StorageError when a conflicting holder has it)."""
        ...
