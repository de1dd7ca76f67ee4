"""The batch's status from its parts: counts, progress, phase and conditions. Pure.

Phase rule (see docs/operator.md):
  Planning            no frozen plan yet
  Suspended           spec.suspend (and not finished)
  Running             planned, some shard not finished
  Succeeded           every input has a record and none is an error record
  PartiallySucceeded  every input has a record, some are error records (item failures)
  Failed              some shard cannot finish (config error, OOM at maxMemory, other pod failures)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from ocr_operator.kube import iso


class Phase(StrEnum):
    PENDING = "Pending"
    PLANNING = "Planning"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    PARTIALLY_SUCCEEDED = "PartiallySucceeded"
    FAILED = "Failed"
    SUSPENDED = "Suspended"


TERMINAL: frozenset[str] = frozenset({Phase.SUCCEEDED, Phase.PARTIALLY_SUCCEEDED, Phase.FAILED})

#: Condition types, in the order they are written.
COND_PLANNED = "Planned"
COND_SUSPENDED = "Suspended"
COND_COMPLETE = "Complete"
COND_FAILED = "Failed"
CONDITION_TYPES = (COND_PLANNED, COND_SUSPENDED, COND_COMPLETE, COND_FAILED)


@dataclass(frozen=True, slots=True)
class Counts:
    total: int
    processed: int
    succeeded: int
    failed: int

    @property
    def progress(self) -> str:
        return f"{self.processed}/{self.total}"


def rate_and_eta(counts: Counts, started: datetime | None, now: datetime) -> tuple[int, datetime | None]:
    """Inputs per minute since `started` and the time the rest would take at that rate
    (None before anything was processed, or once everything was)."""
    if started is None or counts.processed <= 0:
        return 0, None
    seconds = max((now - started).total_seconds(), 1.0)
    per_second = counts.processed / seconds
    rest = counts.total - counts.processed
    eta = now + timedelta(seconds=rest / per_second) if rest > 0 else None
    return round(per_second * 60), eta


def derive_phase(
    *,
    planned: bool,
    suspended: bool,
    all_done: bool,
    merged: bool,
    failed_items: int,
    given_up: bool,
    retry_pending: bool = False,
) -> Phase:
    if not planned:
        return Phase.PLANNING
    if given_up and not retry_pending:
        return Phase.FAILED
    if all_done and merged:
        return Phase.PARTIALLY_SUCCEEDED if failed_items else Phase.SUCCEEDED
    if suspended:
        return Phase.SUSPENDED
    return Phase.RUNNING


def set_condition(
    conditions: Sequence[Mapping[str, Any]],
    *,
    type: str,
    status: bool,
    reason: str,
    message: str,
    now: datetime,
    generation: int | None = None,
) -> list[dict[str, Any]]:
    """The full list with `type` set; lastTransitionTime kept unless the status flips."""
    wanted = "True" if status else "False"
    result: list[dict[str, Any]] = []
    found = False
    for cond in conditions:
        cond = dict(cond)
        if cond.get("type") == type:
            found = True
            if cond.get("status") != wanted or "lastTransitionTime" not in cond:
                cond["lastTransitionTime"] = iso(now)
            cond.update(status=wanted, reason=reason, message=message)
            if generation is not None:
                cond["observedGeneration"] = generation
        result.append(cond)
    if not found:
        cond = {
            "type": type,
            "status": wanted,
            "reason": reason,
            "message": message,
            "lastTransitionTime": iso(now),
        }
        if generation is not None:
            cond["observedGeneration"] = generation
        result.append(cond)
    order = {t: i for i, t in enumerate(CONDITION_TYPES)}
    return sorted(result, key=lambda c: order.get(str(c.get("type")), len(order)))


def conditions_for(
    previous: Sequence[Mapping[str, Any]],
    *,
    phase: Phase,
    counts: Counts,
    shard_count: int | None,
    message: str | None,
    now: datetime,
    generation: int | None = None,
    failed_reason: str = "ShardsFailed",
) -> list[dict[str, Any]]:
    """Every condition of `phase`, as a full list (merge patches replace lists whole).
    `failed_reason` is the Failed condition's reason when the phase is Failed."""
    conds: list[dict[str, Any]] = [dict(c) for c in previous]
    planned = phase != Phase.PLANNING and shard_count is not None
    conds = set_condition(
        conds,
        type=COND_PLANNED,
        status=planned,
        reason="Planned" if planned else "Planning",
        message=(f"{counts.total} inputs in {shard_count} shards" if planned else "listing the source"),
        now=now,
        generation=generation,
    )
    suspended = phase == Phase.SUSPENDED
    conds = set_condition(
        conds,
        type=COND_SUSPENDED,
        status=suspended,
        reason="Suspended" if suspended else "NotSuspended",
        message="spec.suspend is true" if suspended else "",
        now=now,
        generation=generation,
    )
    complete = phase in (Phase.SUCCEEDED, Phase.PARTIALLY_SUCCEEDED)
    conds = set_condition(
        conds,
        type=COND_COMPLETE,
        status=complete,
        reason=str(phase) if complete else "InProgress",
        message=(f"{counts.total} records, {counts.failed} item failures" if complete else counts.progress),
        now=now,
        generation=generation,
    )
    failed = phase == Phase.FAILED
    conds = set_condition(
        conds,
        type=COND_FAILED,
        status=failed,
        reason=failed_reason if failed else "NoFailure",
        message=(message or "") if failed else "",
        now=now,
        generation=generation,
    )
    return conds


def phase_event(
    old: str | None, new: Phase, counts: Counts, message: str | None
) -> tuple[str, str, str] | None:
    """The Kubernetes Event (type, reason, message) of a phase change; None if unchanged.

    Messages hold counts only: never a name, a key or an ID number.
    """
    if old == new:
        return None
    if new == Phase.FAILED:
        return ("Warning", "Failed", message or "the batch failed")
    if new == Phase.PARTIALLY_SUCCEEDED:
        return (
            "Warning",
            "PartiallySucceeded",
            f"{counts.total} records, {counts.failed} item failures",
        )
    if new == Phase.SUCCEEDED:
        return ("Normal", "Succeeded", f"{counts.total} records")
    if new == Phase.RUNNING:
        return ("Normal", "Running", counts.progress)
    return ("Normal", str(new), f"phase {new}")
