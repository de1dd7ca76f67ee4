"""What a batch's status and its Jobs say about its progress: the attempts (to and from the
status), the shards done and given up, the OOM kills not yet recorded. Pure functions, each
a step of `reconcile.Reconciler` that can be tested alone."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ocr_operator.batch.jobs import Attempt, job_name
from ocr_operator.batch.oom import JobOutcome, OomKill, job_outcome
from ocr_operator.kube import parse_index_ranges

#: OOM kills kept in status.oomKills (oomKillCount keeps the total).
MAX_OOM_ENTRIES = 50


def attempts_from_status(status: Mapping[str, Any]) -> list[Attempt]:
    result = []
    for entry in status.get("attempts") or []:
        indexes = entry.get("indexes")
        result.append(
            Attempt(
                number=int(entry["attempt"]),
                memory=str(entry["memory"]),
                indexes=tuple(int(i) for i in indexes) if indexes is not None else None,
                reason=entry.get("reason"),
            )
        )
    return sorted(result, key=lambda a: a.number)


def attempt_to_status(batch: str, attempt: Attempt) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "attempt": attempt.number,
        "job": job_name(batch, attempt.number),
        "memory": attempt.memory,
    }
    if attempt.indexes is not None:
        entry["indexes"] = list(attempt.indexes)
    if attempt.reason:
        entry["reason"] = attempt.reason
    return entry


@dataclass
class Progress:
    """One pass's view of a planned batch; the retry step may add an attempt."""

    attempts: list[Attempt]
    jobs: dict[str, dict[str, Any]]
    outcomes: dict[int, JobOutcome]
    #: Shards finished (by any attempt) and shards that will never finish.
    done: set[int]
    failed_for_good: set[int]
    message: str | None
    #: A Job failed as a whole (FailJob: a usage error of the workers).
    job_failed: bool
    retry_pending: bool = field(default=False)

    @property
    def latest(self) -> Attempt:
        return self.attempts[-1]

    @property
    def latest_outcome(self) -> JobOutcome:
        return self.outcomes[self.latest.number]

    def all_done(self, shard_count: int) -> bool:
        return self.done >= set(range(shard_count))

    def attempts_status(self, batch: str) -> dict[str, Any]:
        return {
            "attempts": [attempt_to_status(batch, a) for a in self.attempts],
            "jobs": [job_name(batch, a.number) for a in self.attempts],
        }


def progress_of(batch: str, status: Mapping[str, Any], jobs: Iterable[Mapping[str, Any]]) -> Progress:
    """The attempts of the status, each with the outcome of its Job (missing: not run)."""
    attempts = attempts_from_status(status)
    by_name = {str(j["metadata"]["name"]): dict(j) for j in jobs}
    outcomes = {a.number: job_outcome(by_name.get(job_name(batch, a.number)), a) for a in attempts}
    done = parse_index_ranges(status.get("completedShards"))
    for outcome in outcomes.values():
        done |= outcome.completed
    failed = next((o for o in outcomes.values() if o.job_failed), None)
    message: str | None = status.get("message")
    if failed is not None:
        message = f"worker Job failed: {failed.reason or 'unknown'}"
        if failed.message:
            message += f": {failed.message[:200]}"
    return Progress(
        attempts=attempts,
        jobs=by_name,
        outcomes=outcomes,
        done=done,
        failed_for_good=parse_index_ranges(status.get("failedShards")) - done,
        message=message,
        job_failed=failed is not None,
    )


def new_oom_kills(
    status: Mapping[str, Any], kills: Iterable[OomKill]
) -> tuple[list[OomKill], dict[str, Any]]:
    """The kills not in the status yet, and the status fields that record them."""
    known = {e.get("pod") for e in status.get("oomKills") or []}
    new = [k for k in kills if k.pod not in known]
    if not new:
        return [], {}
    entries = list(status.get("oomKills") or []) + [k.to_status() for k in new]
    return new, {
        "oomKills": entries[-MAX_OOM_ENTRIES:],
        "oomKillCount": int(status.get("oomKillCount") or 0) + len(new),
    }
