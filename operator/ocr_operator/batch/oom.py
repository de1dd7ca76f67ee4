"""Reading worker Jobs and pods: which shards finished, which failed, which were OOM-killed,
and whether to retry. Pure functions over API objects (dicts)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ocr_operator.batch.jobs import Attempt, shard_of
from ocr_operator.batch.model import RetrySpec
from ocr_operator.kube import COMPLETION_INDEX_KEY, LABEL_ATTEMPT, LABEL_PART, parse_index_ranges
from ocr_operator.quantities import scale_memory

OOM_REASON = "OOMKilled"


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """One attempt's Job, in shard indexes."""

    finished: bool = False
    #: The whole Job failed for a reason other than failed indexes (e.g. FailJob on exit 2).
    job_failed: bool = False
    reason: str | None = None
    message: str | None = None
    completed: frozenset[int] = field(default_factory=frozenset)
    failed: frozenset[int] = field(default_factory=frozenset)
    active: int = 0


def _condition(job: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in job.get("status", {}).get("conditions") or []:
        if cond.get("type") == kind and cond.get("status") == "True":
            return dict(cond)
    return None


def job_outcome(
    job: Mapping[str, Any] | None, attempt: Attempt, shards: Sequence[int] | None = None
) -> JobOutcome:
    """What a Job of `attempt` says about its shards (an absent Job: nothing yet); `shards`:
    the shards of its completion indexes (default: the attempt's)."""
    if job is None:
        return JobOutcome()
    status = job.get("status") or {}
    indexes = attempt.indexes if shards is None else shards

    def shards_in(text: str | None) -> frozenset[int]:
        found = set()
        for ci in parse_index_ranges(text):
            if indexes is None or ci < len(indexes):
                found.add(shard_of(ci, indexes))
        return frozenset(found)

    completed = shards_in(status.get("completedIndexes"))
    failed = shards_in(status.get("failedIndexes")) - completed
    complete = _condition(job, "Complete")
    failed_cond = _condition(job, "Failed")
    job_failed = failed_cond is not None and failed_cond.get("reason") != "FailedIndexes"
    cond = failed_cond or complete
    return JobOutcome(
        finished=bool(complete or failed_cond),
        job_failed=job_failed,
        reason=cond.get("reason") if cond else None,
        message=cond.get("message") if cond else None,
        completed=completed,
        failed=failed,
        active=int(status.get("active") or 0),
    )


def combined(outcomes: Sequence[JobOutcome]) -> JobOutcome:
    """One attempt's outcome from those of its Jobs (its parts): finished when all are."""
    if len(outcomes) == 1:
        return outcomes[0]
    first_failed = next((o for o in outcomes if o.job_failed), None)
    return JobOutcome(
        finished=bool(outcomes) and all(o.finished for o in outcomes),
        job_failed=first_failed is not None,
        reason=first_failed.reason if first_failed else None,
        message=first_failed.message if first_failed else None,
        completed=frozenset().union(*(o.completed for o in outcomes)),
        failed=frozenset().union(*(o.failed for o in outcomes)),
        active=sum(o.active for o in outcomes),
    )


#: The shard a pod ran: (its attempt, its part, its completion index) -> shard, or None.
ShardOfPod = Callable[[Attempt, int, int], "int | None"]


def _default_shard(attempt: Attempt, part: int, ci: int) -> int | None:
    if part or (attempt.indexes is not None and ci >= len(attempt.indexes)):
        return None
    return shard_of(ci, attempt.indexes)


@dataclass(frozen=True, slots=True)
class OomKill:
    shard: int
    attempt: int
    pod: str
    memory: str | None
    time: str | None

    def to_status(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"index": self.shard, "attempt": self.attempt, "pod": self.pod}
        if self.memory:
            entry["memory"] = self.memory
        if self.time:
            entry["time"] = self.time
        return entry


def _completion_index(pod: Mapping[str, Any]) -> int | None:
    meta = pod.get("metadata") or {}
    for source in (meta.get("annotations") or {}, meta.get("labels") or {}):
        value = source.get(COMPLETION_INDEX_KEY)
        if value is not None and str(value).isdigit():
            return int(value)
    return None


def _oom_termination(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        for state_key in ("state", "lastState"):
            terminated = (cs.get(state_key) or {}).get("terminated") or {}
            if terminated.get("reason") == OOM_REASON:
                return terminated
    return None


def _pod_memory(pod: Mapping[str, Any]) -> str | None:
    for container in (pod.get("spec") or {}).get("containers") or []:
        limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
        if limit:
            return str(limit)
    return None


def oom_kills(
    pods: Iterable[Mapping[str, Any]],
    attempts: Sequence[Attempt],
    shard_of_pod: ShardOfPod = _default_shard,
) -> list[OomKill]:
    """Every OOM-killed worker pod, as the shard it ran; sorted by pod name."""
    by_number = {a.number: a for a in attempts}
    kills: list[OomKill] = []
    for pod in pods:
        terminated = _oom_termination(pod)
        if terminated is None:
            continue
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        label = labels.get(LABEL_ATTEMPT, "")
        part = str(labels.get(LABEL_PART, "0"))
        ci = _completion_index(pod)
        attempt = by_number.get(int(label)) if label.isdigit() else None
        if attempt is None or ci is None or not part.isdigit():
            continue
        shard = shard_of_pod(attempt, int(part), ci)
        if shard is None:
            continue
        kills.append(
            OomKill(
                shard=shard,
                attempt=attempt.number,
                pod=str(meta.get("name", "")),
                memory=_pod_memory(pod) or attempt.memory,
                time=terminated.get("finishedAt"),
            )
        )
    return sorted(kills, key=lambda k: k.pod)


@dataclass(frozen=True, slots=True)
class RetryDecision:
    #: The next attempt, or None when nothing is retried.
    attempt: Attempt | None
    #: Shards that failed for good in the latest attempt.
    given_up: frozenset[int] = field(default_factory=frozenset)
    message: str | None = None


def decide_retry(
    latest: Attempt,
    outcome: JobOutcome,
    kills: Iterable[OomKill],
    retry: RetrySpec,
    done: Iterable[int] = (),
) -> RetryDecision | None:
    """After the latest attempt's Job finished: retry its OOM-killed shards with more memory.

    None while the Job runs or when nothing failed. A shard that failed without an OOM kill,
    or whose memory is already at `retry.maxMemory`, is given up (the batch will be Failed).
    """
    if not outcome.finished or outcome.job_failed:
        return None
    failed = set(outcome.failed) - set(done)
    if not failed:
        return None
    oom = {k.shard for k in kills if k.attempt == latest.number} & failed
    other = failed - oom
    memory = scale_memory(latest.memory, retry.memory_factor, retry.max_memory)
    if not oom:
        return RetryDecision(
            attempt=None,
            given_up=frozenset(failed),
            message=f"{len(failed)} shard(s) failed (not out of memory)",
        )
    if memory is None:
        return RetryDecision(
            attempt=None,
            given_up=frozenset(failed),
            message=(
                f"{len(oom)} shard(s) ran out of memory at {latest.memory}, the maximum ({retry.max_memory})"
            ),
        )
    return RetryDecision(
        attempt=Attempt(
            number=latest.number + 1,
            memory=memory,
            indexes=tuple(sorted(oom)),
            reason=OOM_REASON,
        ),
        given_up=frozenset(other),
        message=f"retrying {len(oom)} OOM-killed shard(s) with {memory}",
    )
