"""What a batch's status and its Jobs say about its progress: the attempts (to and from the
status), the shards done and given up, the OOM kills not yet recorded, and the status a
pass writes. Pure functions, each a step of `reconcile.Reconciler` that can be tested alone."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ocr_operator.batch.jobs import Attempt, attempt_shards, job_name, job_parts
from ocr_operator.batch.oom import JobOutcome, OomKill, combined, job_outcome
from ocr_operator.batch.shardsets import Book
from ocr_operator.batch.status import TERMINAL, Counts, Phase, conditions_for, rate_and_eta
from ocr_operator.batch.tally import Live, Tally
from ocr_operator.config import DEFAULT_SHARDS_PER_JOB
from ocr_operator.kube import format_index_ranges, iso, parse_index_ranges, parse_iso

#: OOM kills kept in status.oomKills (oomKillCount keeps the total).
MAX_OOM_ENTRIES = 50


def attempts_from_status(status: Mapping[str, Any]) -> list[Attempt]:
    """The attempts of a status; a retry's shards as ranges (`shards`), or as the list an
    older operator wrote (`indexes`)."""
    result = []
    for entry in status.get("attempts") or []:
        shards = entry.get("shards")
        indexes: tuple[int, ...] | None = None
        if shards is not None:
            indexes = tuple(sorted(parse_index_ranges(str(shards))))
        elif entry.get("indexes") is not None:
            indexes = tuple(int(i) for i in entry["indexes"])
        result.append(
            Attempt(
                number=int(entry["attempt"]),
                memory=str(entry["memory"]),
                indexes=indexes,
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
        entry["shards"] = format_index_ranges(attempt.indexes)
    if attempt.reason:
        entry["reason"] = attempt.reason
    return entry


@dataclass
class Progress:
    """One pass's view of a planned batch; the retry step may add an attempt."""

    attempts: list[Attempt]
    jobs: dict[str, dict[str, Any]]
    #: Each attempt's outcome: all its Jobs (parts) together.
    outcomes: dict[int, JobOutcome]
    #: Shards finished (by any attempt) and shards that will never finish.
    done: set[int]
    failed_for_good: set[int]
    message: str | None
    #: A Job failed as a whole (FailJob: a usage error of the workers).
    job_failed: bool
    retry_pending: bool = field(default=False)
    #: The plan's shards (0: not known, one Job per attempt) and the shards per Job.
    shard_count: int = 0
    per_job: int = DEFAULT_SHARDS_PER_JOB

    @property
    def latest(self) -> Attempt:
        return self.attempts[-1]

    @property
    def latest_outcome(self) -> JobOutcome:
        return self.outcomes[self.latest.number]

    def all_done(self, shard_count: int) -> bool:
        return self.done >= set(range(shard_count))

    def parts(self, attempt: Attempt) -> list[Sequence[int] | None]:
        """The shards of each Job of `attempt` (None: the attempt's own, one Job)."""
        if not self.shard_count:
            return [None]
        return list(job_parts(attempt, self.shard_count, self.per_job)) or [None]

    def job_names(self, batch: str, attempt: Attempt) -> list[str]:
        return [job_name(batch, attempt.number, k) for k in range(len(self.parts(attempt)))]

    def part_outcomes(self, batch: str, attempt: Attempt) -> list[JobOutcome]:
        """Each Job's outcome; a Job that is gone (its TTL) after every shard of it was done
        counts as finished, so it is not made again (no finished shard runs twice)."""
        outcomes = []
        for k, shards in enumerate(self.parts(attempt)):
            job = self.jobs.get(job_name(batch, attempt.number, k))
            ran = frozenset(attempt_shards(attempt, self.shard_count) if shards is None else shards)
            if job is None and self.shard_count and ran and ran <= self.done:
                outcomes.append(JobOutcome(finished=True, completed=ran))
            else:
                outcomes.append(job_outcome(job, attempt, shards))
        return outcomes

    def shard_of_pod(self, attempt: Attempt, part: int, ci: int) -> int | None:
        parts = self.parts(attempt)
        if part >= len(parts):
            return None
        shards = parts[part]
        if shards is None:
            shards = attempt.indexes
            if shards is None:
                return ci
        return shards[ci] if ci < len(shards) else None

    def attempts_status(self, batch: str) -> dict[str, Any]:
        return {
            "attempts": [attempt_to_status(batch, a) for a in self.attempts],
            "jobs": [name for a in self.attempts for name in self.job_names(batch, a)],
        }


def progress_of(
    batch: str,
    status: Mapping[str, Any],
    jobs: Iterable[Mapping[str, Any]],
    per_job: int = DEFAULT_SHARDS_PER_JOB,
) -> Progress:
    """The attempts of the status, each with the outcome of its Jobs (missing: not run)."""
    progress = Progress(
        attempts=attempts_from_status(status),
        jobs={str(j["metadata"]["name"]): dict(j) for j in jobs},
        outcomes={},
        done=parse_index_ranges(status.get("completedShards")),
        failed_for_good=set(),
        message=status.get("message"),
        job_failed=False,
        shard_count=int(status.get("shardCount") or 0),
        per_job=per_job,
    )
    for attempt in progress.attempts:
        outcome = combined(progress.part_outcomes(batch, attempt))
        progress.outcomes[attempt.number] = outcome
        progress.done |= outcome.completed
    failed = next((o for o in progress.outcomes.values() if o.job_failed), None)
    if failed is not None:
        progress.job_failed = True
        progress.message = f"worker Job failed: {failed.reason or 'unknown'}"
        if failed.message:
            progress.message += f": {failed.message[:200]}"
    progress.failed_for_good = parse_index_ranges(status.get("failedShards")) - progress.done
    return progress


def _kill_order(time: str | None, pod: str | None) -> tuple[str, str]:
    return (time or "", pod or "")


def new_oom_kills(
    status: Mapping[str, Any], kills: Iterable[OomKill]
) -> tuple[list[OomKill], dict[str, Any]]:
    """The kills not in the status yet, and the status fields that record them. The status
    keeps the last `MAX_OOM_ENTRIES` kills (in (time, pod) order) and the count of all: a kill
    is new when it is not among those kept and comes after the last one kept."""
    entries = list(status.get("oomKills") or [])
    known = {e.get("pod") for e in entries}
    mark = max((_kill_order(e.get("time"), e.get("pod")) for e in entries), default=None)
    new = [
        k
        for k in sorted(kills, key=lambda k: _kill_order(k.time, k.pod))
        if k.pod not in known and (mark is None or _kill_order(k.time, k.pod) > mark)
    ]
    if not new:
        return [], {}
    entries += [k.to_status() for k in new]
    return new, {
        "oomKills": entries[-MAX_OOM_ENTRIES:],
        "oomKillCount": int(status.get("oomKillCount") or 0) + len(new),
    }


@dataclass(frozen=True, slots=True)
class Pass:
    """What every step of one pass knows about the batch: `status` in full form (every
    shard set whole, `shardsets.overlay`), `stored` as the API holds it (None: the same),
    `sets` where the pass stands with the shard-sets object."""

    body: dict[str, Any]
    status: dict[str, Any]
    now: datetime
    generation: int | None
    stored: dict[str, Any] | None = None
    sets: Book = field(default_factory=Book)

    @property
    def stored_status(self) -> dict[str, Any]:
        return self.status if self.stored is None else self.stored

    @property
    def namespace(self) -> str:
        return str(self.body["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])


@dataclass(frozen=True, slots=True)
class Ending:
    """The merge step's answer: where the batch stands once its shards stopped."""

    counts: Counts
    all_done: bool
    merged: bool
    given_up: bool
    message: str | None
    results: dict[str, str] | None
    #: The folded shard summaries and the sampled running shards of this pass.
    tally: Tally = field(default_factory=Tally)
    live: Live = field(default_factory=Live)


def status_patch(p: Pass, phase: Phase, progress: Progress, ending: Ending) -> dict[str, Any]:
    """The status fields a pass that got past planning writes, in full form (unchanged ones
    are dropped and long shard sets moved to the output by `Reconciler._write`). Every field
    is an aggregate or a set of index ranges: the status does not grow with the batch
    (docs/operator.md, "Progress at scale")."""
    message = ending.message
    if phase == Phase.FAILED and not message:
        message = "some shards could not finish"
    shard_count = int(p.status["shardCount"])
    counts = ending.counts
    patch: dict[str, Any] = {
        "phase": str(phase),
        "total": int(p.status["total"]),
        "processed": counts.processed,
        "succeeded": counts.succeeded,
        "failed": counts.failed,
        "progress": counts.progress,
        "runningShards": 0 if phase in TERMINAL else ending.live.running,
        "completedShards": format_index_ranges(progress.done),
        "failedShards": format_index_ranges(progress.failed_for_good),
        **ending.tally.to_status(),
        **progress.attempts_status(p.name),
        "conditions": conditions_for(
            p.status.get("conditions") or [],
            phase=phase,
            counts=counts,
            shard_count=shard_count,
            message=message,
            now=p.now,
            generation=p.generation,
        ),
    }
    if counts.processed != p.status.get("processed") or phase in TERMINAL:
        # the rate and ETA move with the counts only (a pass that saw nothing new writes nothing)
        per_minute, eta = rate_and_eta(counts, parse_iso(p.status.get("startTime")), p.now)
        patch["inputsPerMinute"] = per_minute
        patch["estimatedCompletionTime"] = iso(eta) if eta and phase not in TERMINAL else None
    if ending.results is not None:
        patch["results"] = ending.results
    if p.generation is not None:
        patch["observedGeneration"] = p.generation
    if message and phase in (Phase.FAILED, Phase.RUNNING):
        patch["message"] = message
    if phase in TERMINAL and not p.status.get("completionTime"):
        patch["completionTime"] = iso(p.now)
    return patch


def failed_patch(p: Pass, message: str, reason: str) -> dict[str, Any]:
    """The status of a batch that stops for `reason` (before or between its Jobs)."""
    counts = Counts(int(p.status.get("total") or 0), 0, 0, 0)
    return {
        "phase": str(Phase.FAILED),
        "message": message,
        "completionTime": iso(p.now),
        "conditions": conditions_for(
            p.status.get("conditions") or [],
            phase=Phase.FAILED,
            counts=counts,
            shard_count=p.status.get("shardCount"),
            message=message,
            now=p.now,
            generation=p.generation,
            failed_reason=reason,
        ),
    }
