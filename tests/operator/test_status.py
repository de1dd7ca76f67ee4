"""Status aggregation (operator) and status reporting (worker)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ocr_operator.batch.status import (
    Counts,
    Phase,
    conditions_for,
    derive_phase,
    phase_event,
    rate_and_eta,
    set_condition,
)
from ocr_operator.batch.tally import Live, Tally, counts_of, inputs_in

from ocr_job.records import ShardPhase, ShardStatus
from ocr_job.status import StatusReporter, parse_target, progress_name, resolve_shard_index

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_counts_join_done_shards_the_tally_and_the_sampled_running_ones() -> None:
    done = inputs_in({0, 2}, total=450, size=200, shard_count=3)
    assert done == 250  # shard 2 is the last one: 50 inputs
    counts = counts_of(
        total=450,
        done_inputs=done,
        tally=Tally(succeeded=240, failed=10),
        live=Live(running=1, processed=50, succeeded=49, failed=1),
    )
    assert counts == Counts(total=450, processed=300, succeeded=289, failed=11)
    assert counts.progress == "300/450"


def test_counts_never_pass_the_total() -> None:
    counts = counts_of(
        total=10,
        done_inputs=10,
        tally=Tally(succeeded=10, failed=5),
        live=Live(running=1, processed=7, succeeded=7),
    )
    assert counts == Counts(total=10, processed=10, succeeded=10, failed=0)


def test_rate_and_eta_follow_the_counts() -> None:
    later = T0 + timedelta(minutes=10)
    per_minute, eta = rate_and_eta(Counts(1000, 100, 100, 0), T0, later)
    assert per_minute == 10 and eta == later + timedelta(minutes=90)
    assert rate_and_eta(Counts(1000, 0, 0, 0), T0, later) == (0, None)
    assert rate_and_eta(Counts(10, 10, 10, 0), T0, later)[1] is None


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
        conds,
        phase=Phase.SUCCEEDED,
        counts=Counts(10, 10, 10, 0),
        shard_count=2,
        message=None,
        now=T0 + timedelta(hours=1),
        generation=3,
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
        "planned": True,
        "suspended": False,
        "all_done": False,
        "merged": False,
        "failed_items": 0,
        "given_up": False,
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


class Output:
    """The output prefix as the reporter sees it: named texts (a failure when `broken`)."""

    def __init__(self, broken: bool = False) -> None:
        self.files: dict[str, str] = {}
        self.writes = 0
        self.broken = broken

    def write_text(self, name: str, text: str) -> None:
        if self.broken:
            raise ConnectionError("storage down")
        self.writes += 1
        self.files[name] = text


def test_reporter_rate_limits_and_always_writes_the_final_report() -> None:
    out = Output()
    clock = FakeClock()
    reporter = StatusReporter(out, 3, min_interval_s=5, clock=clock)
    status = ShardStatus(index=3, total=10, processed=1)
    assert reporter.update(status) is True
    clock.now += 1
    assert reporter.update(status.model_copy(update={"processed": 2})) is False
    assert reporter.update(status.model_copy(update={"processed": 3}), force=True) is True
    clock.now += 1
    final = status.model_copy(update={"processed": 10, "phase": ShardPhase.SUCCEEDED})
    assert reporter.update(final) is True
    assert out.writes == 3
    assert json.loads(out.files[progress_name(3)]) == final.to_patch()
    assert list(out.files) == ["_shards/shard-0003.progress.json"]
    clock.now += 10
    assert reporter.update(status.model_copy(update={"processed": 4})) is True
    assert out.writes == 4


def test_reporter_swallows_write_failures() -> None:
    reporter = StatusReporter(Output(broken=True), 0)
    assert reporter.update(ShardStatus(index=0), force=True) is False
    assert reporter.failures == 1


def test_reporter_writes_its_own_index() -> None:
    out = Output()
    StatusReporter(out, 7).update(ShardStatus(index=0), force=True)
    assert json.loads(out.files[progress_name(7)])["index"] == 7


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
    ranges = {"OCR_SHARD_INDEXES": "3,10-19,40"}
    assert [resolve_shard_index({**ranges, "JOB_COMPLETION_INDEX": str(i)}) for i in (0, 1, 10, 11)] == [
        3,
        10,
        19,
        40,
    ]
    with pytest.raises(ValueError):
        resolve_shard_index({**ranges, "JOB_COMPLETION_INDEX": "12"})
