"""Status aggregation (operator) and status reporting (worker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ocr_operator.batch.status import (
    Counts,
    Phase,
    aggregate,
    conditions_for,
    derive_phase,
    phase_event,
    set_condition,
    shard_sizes,
)

from ocr_job.records import ShardPhase, ShardStatus
from ocr_job.status import StatusReporter, parse_target, resolve_shard_index

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_aggregate_sums_reports_and_caps() -> None:
    shards = {
        "0": {"total": 200, "processed": 200, "succeeded": 190, "failed": 10, "phase": "Succeeded"},
        "1": {"total": 200, "processed": 50, "succeeded": 50, "failed": 0},
        "junk": {"processed": 999},
    }
    counts = aggregate(shards, total=450, shard_sizes=shard_sizes(450, 200, 3))
    assert counts == Counts(total=450, processed=250, succeeded=240, failed=10)
    assert counts.progress == "250/450"


def test_a_completed_shard_counts_in_full_without_its_last_report() -> None:
    sizes = shard_sizes(450, 200, 3)
    assert sizes == {0: 200, 1: 200, 2: 50}
    counts = aggregate({"1": {"processed": 10}}, total=450, shard_sizes=sizes, done={1, 2})
    assert counts.processed == 250


def test_set_condition_keeps_transition_time_unless_status_flips() -> None:
    conds = set_condition([], type="Complete", status=False, reason="x", message="", now=T0)
    later = T0 + timedelta(minutes=5)
    same = set_condition(conds, type="Complete", status=False, reason="y", message="m", now=later)
    assert same[0]["lastTransitionTime"] == "2025-01-01T00:00:00Z"
    assert same[0]["reason"] == "y"
    flipped = set_condition(same, type="Complete", status=True, reason="z", message="", now=later)
    assert flipped[0]["lastTransitionTime"] == "2025-01-01T00:05:00Z"
    assert flipped[0]["status"] == "True"


def test_conditions_are_a_full_list_in_a_fixed_order() -> None:
    conds = conditions_for(
        [], phase=Phase.RUNNING, counts=Counts(10, 3, 3, 0), shard_count=2, message=None, now=T0
    )
    assert [c["type"] for c in conds] == ["Planned", "Suspended", "Complete", "Failed"]
    assert [c["status"] for c in conds] == ["True", "False", "False", "False"]
    done = conditions_for(
        conds, phase=Phase.SUCCEEDED, counts=Counts(10, 10, 10, 0), shard_count=2,
        message=None, now=T0 + timedelta(hours=1), generation=3,
    )
    assert [c["status"] for c in done] == ["True", "False", "True", "False"]
    assert done[0]["lastTransitionTime"] == conds[0]["lastTransitionTime"]
    assert done[2]["observedGeneration"] == 3


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"planned": False}, Phase.PLANNING),
        ({}, Phase.RUNNING),
        ({"suspended": True}, Phase.SUSPENDED),
        ({"all_done": True, "merged": True}, Phase.SUCCEEDED),
        ({"all_done": True, "merged": True, "failed_items": 3}, Phase.PARTIALLY_SUCCEEDED),
        ({"all_done": True, "merged": False}, Phase.RUNNING),
        ({"given_up": True}, Phase.FAILED),
        ({"given_up": True, "retry_pending": True}, Phase.RUNNING),
        ({"given_up": True, "all_done": True, "merged": True}, Phase.FAILED),
    ],
)
def test_derive_phase(kwargs: dict[str, Any], expected: Phase) -> None:
    args: dict[str, Any] = {
        "planned": True, "suspended": False, "all_done": False, "merged": False,
        "failed_items": 0, "given_up": False,
    }
    args.update(kwargs)
    assert derive_phase(**args) == expected


def test_phase_events_only_on_change_and_hold_counts_only() -> None:
    counts = Counts(500, 500, 497, 3)
    assert phase_event("Running", Phase.RUNNING, counts, None) is None
    kind, reason, message = phase_event("Running", Phase.PARTIALLY_SUCCEEDED, counts, None) or ()
    assert (kind, reason) == ("Warning", "PartiallySucceeded")
    assert message == "500 records, 3 item failures"
    assert phase_event("Running", Phase.SUCCEEDED, counts, None) == ("Normal", "Succeeded", "500 records")


# ---------------------------------------------------------------------- the worker's reporter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_reporter_rate_limits_and_always_sends_the_final_report() -> None:
    sent: list[tuple[str, str, dict[str, Any]]] = []
    clock = FakeClock()
    reporter = StatusReporter(
        "ocr/cards", 3, min_interval_s=5, patcher=lambda ns, n, b: sent.append((ns, n, b)),
        clock=clock,
    )
    status = ShardStatus(index=3, total=10, processed=1)
    assert reporter.update(status) is True
    clock.now += 1
    assert reporter.update(status.model_copy(update={"processed": 2})) is False
    assert reporter.update(status.model_copy(update={"processed": 3}), force=True) is True
    clock.now += 1
    final = status.model_copy(update={"processed": 10, "phase": ShardPhase.SUCCEEDED})
    assert reporter.update(final) is True
    clock.now += 10
    assert reporter.update(status.model_copy(update={"processed": 4})) is True
    assert len(sent) == 4
    ns, name, body = sent[2]
    assert (ns, name) == ("ocr", "cards")
    assert body == {"status": {"shards": {"3": final.to_patch()}}}
    assert body["status"]["shards"]["3"]["phase"] == "Succeeded"


def test_reporter_swallows_patch_failures() -> None:
    def broken(ns: str, name: str, body: dict[str, Any]) -> None:
        raise ConnectionError("apiserver down")

    reporter = StatusReporter("ocr/cards", 0, patcher=broken)
    assert reporter.update(ShardStatus(index=0), force=True) is False
    assert reporter.failures == 1


def test_reporter_writes_its_own_index() -> None:
    sent: list[dict[str, Any]] = []
    reporter = StatusReporter("ocr/cards", 7, patcher=lambda ns, n, b: sent.append(b))
    reporter.update(ShardStatus(index=0), force=True)
    assert sent[0]["status"]["shards"]["7"]["index"] == 7


@pytest.mark.parametrize("target", ["cards", "/cards", "ocr/", "a/b/c"])
def test_bad_targets_are_refused(target: str) -> None:
    with pytest.raises(ValueError):
        parse_target(target)


def test_resolve_shard_index() -> None:
    assert resolve_shard_index({}) is None
    assert resolve_shard_index({"JOB_COMPLETION_INDEX": "4"}) == 4
    env = {"JOB_COMPLETION_INDEX": "1", "OCR_SHARD_INDEXES": "3,7"}
    assert resolve_shard_index(env) == 7
    with pytest.raises(ValueError):
        resolve_shard_index({"JOB_COMPLETION_INDEX": "2", "OCR_SHARD_INDEXES": "3,7"})
