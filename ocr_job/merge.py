"""The merge step: every per-input record under an output → results.jsonl and results.csv."""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass

from ocr_job.records import CSV_COLUMNS, ErrorCode, ResultRecord
from ocr_job.storage import Sink
from ocr_job.storage.base import RESULTS_CSV, RESULTS_JSONL

log = logging.getLogger(__name__)

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
    `csv_cell`)."""
    jsonl = io.StringIO()
    table = io.StringIO()
    # Every cell quoted (OWASP), so a line break inside one never splits a row.
    writer = csv.DictWriter(table, fieldnames=list(CSV_COLUMNS), lineterminator="\n",
                            quoting=csv.QUOTE_ALL)
    writer.writeheader()
    count = ok = 0
    seen: set[str] = set()
    for record in sink.iter_records():
        if _superseded(record, seen):
            continue
        seen.add(record.source)
        jsonl.write(record.model_dump_json() + "\n")
        writer.writerow({k: csv_cell(v) for k, v in record.csv_row().items()})
        count += 1
        ok += record.status == "ok"
    ignored = getattr(sink, "ignored", 0)
    if ignored:
        log.warning("left out %d .json file(s) under the output that are not records", ignored)
    # UTF-8 with BOM so spreadsheet programs show the Chinese text right.
    sink.write_text(RESULTS_CSV, "\ufeff" + table.getvalue())
    sink.write_text(RESULTS_JSONL, jsonl.getvalue())
    return MergeSummary(records=count, ok=ok, errors=count - ok, ignored=ignored)


def _superseded(record: ResultRecord, seen: set[str]) -> bool:
    """A `write_failed` stand-in (stored under a mapped name, which the iteration yields
    last) for an input whose own record was stored by a later run."""
    return (record.error is not None and record.error.code == ErrorCode.WRITE_FAILED
            and record.source in seen)
