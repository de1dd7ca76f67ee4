"""The named steps of a reconcile pass, each alone (the flow tests run them together)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ocr_operator.batch.oom import OomKill
from ocr_operator.batch.ownership import BatchStopped, check_owner
from ocr_operator.batch.planner import Plan, PlanOwner
from ocr_operator.batch.progress import (
    MAX_OOM_ENTRIES,
    Ending,
    Pass,
    new_oom_kills,
    progress_of,
    status_patch,
)
from ocr_operator.batch.reconcile import parse_spec
from ocr_operator.batch.status import Counts, Phase
from ocr_operator.intake.model import IntakeSpec
from ocr_operator.intake.poll import no_slot
from ocr_operator.intake.status import ready_patch
from ocr_operator.kube import format_index_ranges, iso, parse_iso, status_diff

NOW = datetime(2026, 12, 6, 7, 0, 0, tzinfo=UTC)
INTAKE = {"source": {"bucket": "b", "prefix": "in/"}, "batchTemplate": {"output": {"bucket": "o"}}}


def job(name: str, completed: str = "", failed: str = "", conditions: Any = ()) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "status": {
            "completedIndexes": completed,
            "failedIndexes": failed,
            "conditions": list(conditions),
        },
    }


def test_progress_joins_the_status_and_the_jobs() -> None:
    status = {
        "attempts": [{"attempt": 0, "memory": "512Mi"}, {"attempt": 1, "memory": "1Gi", "indexes": [3]}],
        "completedShards": "0",
        "failedShards": "2",
    }
    jobs = [job("b-0", completed="1"), job("b-1", completed="0")]  # index 0 of attempt 1: shard 3
    progress = progress_of("b", status, jobs)
    assert progress.done == {0, 1, 3}
    assert progress.failed_for_good == {2}
    assert progress.latest.number == 1 and not progress.job_failed
    assert progress.all_done(4) is False and progress.all_done(2) is True


def test_a_job_failed_as_a_whole_names_its_reason() -> None:
    failed = {"type": "Failed", "status": "True", "reason": "PodFailurePolicy", "message": "exit 2"}
    progress = progress_of(
        "b", {"attempts": [{"attempt": 0, "memory": "512Mi"}]}, [job("b-0", conditions=[failed])]
    )
    assert progress.job_failed
    assert progress.message == "worker Job failed: PodFailurePolicy: exit 2"


def test_oom_kills_are_recorded_once_and_bounded() -> None:
    kill = OomKill(shard=1, attempt=0, pod="p1", memory="512Mi", time=None)
    new, patch = new_oom_kills({}, [kill])
    assert new == [kill] and patch["oomKillCount"] == 1
    assert new_oom_kills({"oomKills": patch["oomKills"], "oomKillCount": 1}, [kill]) == ([], {})
    many = [{"pod": f"old{i}"} for i in range(MAX_OOM_ENTRIES)]
    _, patch = new_oom_kills({"oomKills": many, "oomKillCount": 70}, [kill])
    assert len(patch["oomKills"]) == MAX_OOM_ENTRIES and patch["oomKillCount"] == 71


def test_the_status_of_a_pass() -> None:
    p = Pass(
        body={"metadata": {"name": "b", "namespace": "ns"}},
        status={"total": 4, "shardCount": 2, "attempts": [{"attempt": 0, "memory": "512Mi"}]},
        now=NOW,
        generation=3,
    )
    progress = progress_of("b", p.status, [job("b-0", completed="0-1")])
    ending = Ending(Counts(4, 4, 3, 1), True, True, False, None, {"jsonl": "s3://o/r.jsonl"})
    patch = status_patch(p, Phase.PARTIALLY_SUCCEEDED, progress, ending)
    assert patch["completedShards"] == "0-1" and patch["failedShards"] == ""
    assert patch["completionTime"] == iso(NOW) and patch["observedGeneration"] == 3
    assert patch["results"] == {"jsonl": "s3://o/r.jsonl"}
    assert "message" not in patch
    failed = status_patch(p, Phase.FAILED, progress, ending)
    assert failed["message"] == "some shards could not finish"


def test_an_invalid_spec_stops_the_batch_without_its_values() -> None:
    try:
        parse_spec({"spec": {"source": {"bucket": "in"}, "output": {"bucket": "out"}, "parallelism": 0}})
    except BatchStopped as exc:
        assert exc.reason == "InvalidSpec" and "parallelism" in exc.message
    else:
        raise AssertionError("an invalid spec was accepted")


def test_a_plan_of_another_batch_stops_this_one() -> None:
    meta = {"uid": "u1", "namespace": "ns", "name": "b"}
    mine = Plan.claim(PlanOwner(uid="u1", namespace="ns", name="b"), "d", 10)
    check_owner(mine, meta)
    theirs = Plan.claim(PlanOwner(uid="u2", namespace="other", name="x"), "d", 10)
    try:
        check_owner(theirs, meta)
    except BatchStopped as exc:
        assert exc.reason == "OutputInUse" and "another namespace" in exc.message
        assert "other" not in exc.message.replace("another", "")
    else:
        raise AssertionError("a foreign plan was accepted")


def test_a_ready_folder_waits_for_a_slot() -> None:
    spec = IntakeSpec.parse({**INTAKE, "maxConcurrentBatches": 2})
    assert no_slot(spec, 1) is None
    assert "maxConcurrentBatches=2" in (no_slot(spec, 2) or "")
    suspended = IntakeSpec.parse({**INTAKE, "suspend": True})
    assert no_slot(suspended, 0) == "intake suspended"


def test_a_successful_poll_is_ready() -> None:
    spec = IntakeSpec.parse(INTAKE)
    patch = ready_patch({}, spec, NOW, 2)
    ready = {c["type"]: c for c in patch["conditions"]}
    assert ready["Ready"]["status"] == "True" and ready["Suspended"]["status"] == "False"
    assert patch["message"] is None and patch["observedGeneration"] == 2


def test_kube_helpers() -> None:
    assert parse_iso(iso(NOW)) == NOW and parse_iso("yesterday") is None
    assert format_index_ranges([5, 0, 1, 2, 7, 8]) == "0-2,5,7-8" and format_index_ranges([]) == ""
    assert status_diff({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 0}) == {"b": 3, "c": 0}
    assert status_diff({"a": 1}, {"c": None}) == {}  # absent is None: nothing to write
