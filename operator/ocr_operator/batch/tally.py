"""The batch's counts from the shard files its workers write to the output prefix
(`_shards/`), read at a bounded rate: the status holds aggregates, never one entry per shard.

- A finished shard's summary (`shard-NNNN.json`) is read once and folded into the status'
  totals; `countedShards` (index ranges) says which shards are in them. At most
  `FOLD_PER_PASS` summaries are read in one pass (the rest in the next passes).
- A running shard's live progress (`shard-NNNN.progress.json`, rewritten by its worker at
  most every few seconds) is sampled: at most `SAMPLE_PER_PASS` of the lowest unfinished
  shards of the latest attempt (an Indexed Job starts its lowest pending indexes first), and
  counted only for this pass (never stored).

Both files are written by workers: every value read is checked (non-negative integers,
known error codes, no more than the shard's size); a missing or unreadable file counts 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ocr_job.records import ErrorCode
from ocr_job.status import progress_name, summary_name
from ocr_operator.batch.status import Counts
from ocr_operator.kube import format_index_ranges, parse_index_ranges

#: Shard summaries folded into the status in one pass (S3 GETs per pass, bounded).
FOLD_PER_PASS = 500
#: Running shards whose live progress is read in one pass.
SAMPLE_PER_PASS = 100

ReadJson = Callable[[str], Mapping[str, Any] | None]
#: The error codes a shard summary may count (any other key is ignored).
KNOWN_CODES = frozenset(str(c) for c in ErrorCode)


def _count(report: Mapping[str, Any], key: str, cap: int) -> int:
    value = report.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return max(0, min(value, cap))


def shard_size(index: int, *, total: int, size: int, shard_count: int) -> int:
    """Inputs in shard `index` of a plan (all full but the last)."""
    if index == shard_count - 1:
        return total - size * (shard_count - 1)
    return size


def inputs_in(done: Iterable[int], *, total: int, size: int, shard_count: int) -> int:
    """Inputs in the shards `done` (each index counted once)."""
    indexes = set(done)
    last = shard_count - 1
    return size * len(indexes - {last}) + (
        shard_size(last, total=total, size=size, shard_count=shard_count) if last in indexes else 0
    )


@dataclass
class Tally:
    """The folded part of the counts, as the status stores it."""

    counted: set[int] = field(default_factory=set)
    succeeded: int = 0
    failed: int = 0
    error_codes: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> Tally:
        codes = status.get("errorCodes") or {}
        return cls(
            counted=parse_index_ranges(status.get("countedShards")),
            succeeded=_count(status, "talliedSucceeded", 1 << 62),
            failed=_count(status, "talliedFailed", 1 << 62),
            error_codes={str(k): _count(codes, k, 1 << 62) for k in codes if k in KNOWN_CODES},
        )

    def to_status(self) -> dict[str, Any]:
        return {
            "countedShards": format_index_ranges(self.counted),
            "talliedSucceeded": self.succeeded,
            "talliedFailed": self.failed,
            "errorCodes": dict(sorted(self.error_codes.items())),
        }

    def fold(self, index: int, summary: Mapping[str, Any] | None, size: int) -> None:
        """Add one finished shard's summary (None: unreadable, counted as seen)."""
        self.counted.add(index)
        if summary is None:
            return
        ok = _count(summary, "succeeded", size)
        self.succeeded += ok
        self.failed += _count(summary, "failed", size - ok)
        errors = summary.get("errors")
        if isinstance(errors, Mapping):
            for code in errors:
                if code in KNOWN_CODES:
                    self.error_codes[code] = self.error_codes.get(code, 0) + _count(errors, code, size)


@dataclass(frozen=True, slots=True)
class Live:
    """What the sampled running shards say (this pass only)."""

    running: int = 0
    processed: int = 0
    succeeded: int = 0
    failed: int = 0


def counts_of(*, total: int, done_inputs: int, tally: Tally, live: Live) -> Counts:
    """The batch's counts: inputs of the finished shards (from the Jobs' indexes) plus the
    sampled running ones; succeeded/failed from the folded shard summaries plus the sampled
    running ones. The merge replaces them with the exact figures at the end."""
    processed = min(total, done_inputs + live.processed)
    succeeded = min(total, tally.succeeded + live.succeeded)
    failed = min(total - succeeded, tally.failed + live.failed)
    return Counts(total=total, processed=processed, succeeded=succeeded, failed=failed)


def fold_done(
    tally: Tally,
    done: Iterable[int],
    read: ReadJson,
    size_of: Callable[[int], int],
    limit: int = FOLD_PER_PASS,
) -> int:
    """Fold up to `limit` finished shards not yet counted (lowest first); how many."""
    todo = sorted(set(done) - tally.counted)[:limit]
    for index in todo:
        tally.fold(index, read(summary_name(index)), size_of(index))
    return len(todo)


def sample_running(
    candidates: Iterable[int],
    read: ReadJson,
    size_of: Callable[[int], int],
    limit: int = SAMPLE_PER_PASS,
) -> Live:
    """Sum the live progress of up to `limit` `candidates` (unfinished shards, lowest
    first); a shard with no progress file has not started."""
    running = processed = succeeded = failed = 0
    for n, index in enumerate(candidates):
        if n >= limit:
            break
        report = read(progress_name(index))
        if not report:
            continue
        size = size_of(index)
        running += 1
        processed += _count(report, "processed", size)
        ok = _count(report, "succeeded", size)
        succeeded += ok
        failed += _count(report, "failed", size - ok)
    return Live(running, processed, succeeded, failed)


def read_tally(
    status: Mapping[str, Any],
    *,
    shard_size_: int,
    parallelism: int,
    done: set[int],
    given_up: set[int],
    running: Sequence[int] | None,
    read: ReadJson,
) -> tuple[Tally, Live]:
    """One pass's reads: fold newly finished shards into the status' tally, and sample the
    lowest unfinished shards of the latest attempt (`running`: its shards; None: every
    shard; empty: nothing runs)."""
    total, shard_count = int(status["total"]), int(status["shardCount"])

    def size_of(index: int) -> int:
        return shard_size(index, total=total, size=shard_size_, shard_count=shard_count)

    tally = Tally.from_status(status)
    fold_done(tally, done, read, size_of)
    shards = range(shard_count) if running is None else running
    candidates = (i for i in shards if i not in done and i not in given_up)
    return tally, sample_running(candidates, read, size_of, min(parallelism, SAMPLE_PER_PASS))
