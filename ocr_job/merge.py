"""The merge step: every per-input record under an output → results.jsonl and results.csv."""

from __future__ import annotations

import csv
import io
import logging
import queue
import threading
from dataclasses import dataclass
from typing import BinaryIO, cast

from ocr_job.records import CSV_COLUMNS, ErrorCode, ResultRecord
from ocr_job.storage import Sink
from ocr_job.storage.base import RESULTS_CSV, RESULTS_JSONL, StorageError, record_name

log = logging.getLogger(__name__)

#: The merge's upload buffers: chunks of this size, at most this many queued per file.
CHUNK_BYTES = 1 << 20
QUEUE_CHUNKS = 4

#: A cell beginning with one of these is read as a formula by spreadsheet programs (OWASP,
#: "CSV Injection"): `=`, `+`, `-`, `@`, tab, carriage return, and their full-width forms.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


@dataclass(frozen=True, slots=True)
class MergeSummary:
    records: int
    ok: int
    errors: int
    #: `.json` files under the output that are not the worker's records (left out).
    ignored: int = 0


def csv_cell(value: str) -> str:
    """`value` made inert for spreadsheets: a leading `'` when it begins like a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def merge(sink: Sink) -> MergeSummary:
    """Write results.jsonl (one line per input: those stored under their own name sorted by
    source, then those stored under a mapped name) and results.csv (cells neutralised with
    `csv_cell`), streamed: each record is written out as it is read, both files uploaded while
    they are made (`Upload`), so memory does not grow with the batch."""
    count = ok = 0
    with Upload(sink, RESULTS_JSONL) as jsonl, Upload(sink, RESULTS_CSV) as table:
        # UTF-8 with BOM so spreadsheet programs show the Chinese text right.
        table.write("\ufeff")
        # Every cell quoted (OWASP), so a line break inside one never splits a row.
        writer = csv.DictWriter(
            table, fieldnames=list(CSV_COLUMNS), lineterminator="\n", quoting=csv.QUOTE_ALL
        )
        writer.writeheader()
        for record in sink.iter_records():
            if _superseded(record, sink):
                continue
            jsonl.write(record.model_dump_json() + "\n")
            writer.writerow({k: csv_cell(v) for k, v in record.csv_row().items()})
            count += 1
            ok += record.status == "ok"
    ignored = getattr(sink, "ignored", 0)
    if ignored:
        log.warning("left out %d .json file(s) under the output that are not records", ignored)
    return MergeSummary(records=count, ok=ok, errors=count - ok, ignored=ignored)


def _superseded(record: ResultRecord, sink: Sink) -> bool:
    """A `write_failed` stand-in (stored under a mapped name) for an input whose own record
    was stored by a later run: its own name holds a record that is not a stand-in. Looked up
    for stand-ins only (rare), so nothing is kept per record."""
    if record.error is None or record.error.code != ErrorCode.WRITE_FAILED:
        return False
    try:
        text = sink.read_text(record_name(record.source))
    except (OSError, StorageError):  # its own name cannot be read: no record there
        return False
    if text is None:
        return False
    try:
        own = ResultRecord.model_validate_json(text)
    except ValueError:
        return False
    return own.source == record.source and (own.error is None or own.error.code != ErrorCode.WRITE_FAILED)


class Upload:
    """A text file written to `sink.write_stream(name, …)` while it is made: the text goes
    through a bounded queue to an uploading thread (at most `QUEUE_CHUNKS` chunks of
    `CHUNK_BYTES` in memory). Leaving the block with an error aborts the upload: no
    half-written file replaces a complete one."""

    def __init__(self, sink: Sink, name: str) -> None:
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(QUEUE_CHUNKS)
        self._pending: list[bytes] = []
        self._size = 0
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._upload, args=(sink, name), name=f"upload-{name}", daemon=True
        )

    def __enter__(self) -> Upload:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            self._flush()
        self._put(None if exc is None else RuntimeError("merge aborted"))
        self._thread.join()
        if exc is None and self._error is not None:
            raise self._error

    def write(self, text: str) -> int:
        data = text.encode("utf-8")
        self._pending.append(data)
        self._size += len(data)
        if self._size >= CHUNK_BYTES:
            self._flush()
        return len(text)

    def _flush(self) -> None:
        if self._pending:
            self._put(b"".join(self._pending))
            self._pending, self._size = [], 0

    def _put(self, item: bytes | BaseException | None) -> None:
        while True:
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    raise self._error or RuntimeError("the upload stopped") from None

    def _upload(self, sink: Sink, name: str) -> None:
        try:
            sink.write_stream(name, cast(BinaryIO, _QueueReader(self._queue)))  # reads as one
        except BaseException as exc:  # handed to the writer
            self._error = exc
            while True:  # drain: the writer must never block on a dead upload
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break


class _QueueReader(io.RawIOBase):
    """`read(n)` over the chunks of a queue; None ends it, an exception aborts it."""

    def __init__(self, chunks: queue.Queue[bytes | BaseException | None]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            item = self._chunks.get()
            if isinstance(item, BaseException):
                raise item
            if item is None:
                self._done = True
            else:
                self._buffer += item
        if size < 0:
            size = len(self._buffer)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data
