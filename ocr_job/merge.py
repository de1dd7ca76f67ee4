"""The merge step: every per-input record under an output → results.jsonl and results.csv."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from ocr_job.records import CSV_COLUMNS
from ocr_job.storage import Sink
from ocr_job.storage.base import RESULTS_CSV, RESULTS_JSONL


@dataclass(frozen=True, slots=True)
class MergeSummary:
    records: int
    ok: int
    errors: int


def merge(sink: Sink) -> MergeSummary:
    """Write results.jsonl (one line per input, sorted by source) and results.csv."""
    jsonl = io.StringIO()
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    count = ok = 0
    for record in sink.iter_records():
        jsonl.write(record.model_dump_json() + "\n")
        writer.writerow(record.csv_row())
        count += 1
        ok += record.status == "ok"
    # UTF-8 with BOM so spreadsheet programs show the Chinese text right.
    sink.write_text(RESULTS_CSV, "\ufeff" + table.getvalue())
    sink.write_text(RESULTS_JSONL, jsonl.getvalue())
    return MergeSummary(records=count, ok=ok, errors=count - ok)
