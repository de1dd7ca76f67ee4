"""Reading Jobs and pods, and the retry decision."""

from __future__ import annotations

from typing import Any

import pytest
from ocr_operator.batch.jobs import Attempt
from ocr_operator.batch.model import RetrySpec
from ocr_operator.batch.oom import (
    OomKill,
    decide_retry,
    job_outcome,
    oom_kills,
)
from ocr_operator.kube import format_index_ranges, parse_index_ranges
from ocr_operator.quantities import format_memory, memory_bytes, scale_memory, threads_for_cpu


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", set()), (None, set()), ("3", {3}), ("1,3-5,7", {1, 3, 4, 5, 7}), ("0-2", {0, 1, 2})],
)
def test_parse_index_ranges(text: str | None, expected: set[int]) -> None:
    assert parse_index_ranges(text) == expected


def test_index_ranges_round_trip() -> None:
    indexes = {0, 1, 2, 5, 7, 8, 20}
    assert format_index_ranges(indexes) == "0-2,5,7-8,20"
    assert parse_index_ranges(format_index_ranges(indexes)) == indexes
    assert format_index_ranges([]) == ""


def job(completed: str = "", failed: str = "", cond: tuple[str, str] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"completedIndexes": completed, "failedIndexes": failed}
    if cond:
        status["conditions"] = [{"type": cond[0], "status": "True", "reason": cond[1]}]
    return {"metadata": {"name": "b-0"}, "status": status}


def test_job_outcome_maps_retry_indexes_to_shards() -> None:
    retry = Attempt(1, "768Mi", indexes=(3, 7))
    out = job_outcome(job(completed="1", failed="0", cond=("Failed", "FailedIndexes")), retry)
    assert out.finished and not out.job_failed
    assert out.completed == {7} and out.failed == {3}


def test_job_outcome_running_complete_and_failjob() -> None:
    first = Attempt(0, "512Mi")
    assert not job_outcome(None, first).finished
    running = job_outcome(job(completed="0-1"), first)
    assert not running.finished and running.completed == {0, 1}
    assert job_outcome(job(completed="0-4", cond=("Complete", "CompletionsReached")), first).finished
    failjob = job_outcome(job(cond=("Failed", "PodFailurePolicy")), first)
    assert failjob.finished and failjob.job_failed and failjob.reason == "PodFailurePolicy"


def pod(
    name: str, attempt: int, index: int, reason: str = "OOMKilled", where: str = "state"
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": {"ocrbatch.io/attempt": str(attempt)},
            "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
        },
        "spec": {"containers": [{"name": "worker", "resources": {"limits": {"memory": "512Mi"}}}]},
        "status": {
            "containerStatuses": [
                {"name": "worker", where: {"terminated": {"reason": reason, "exitCode": 137}}}
            ]
        },
    }


def test_oom_kills_read_pods_and_map_indexes() -> None:
    attempts = [Attempt(0, "512Mi"), Attempt(1, "768Mi", indexes=(2, 4))]
    pods = [
        pod("b-0-2-x", 0, 2),
        pod("b-0-3-x", 0, 3, reason="Error"),
        pod("b-1-1-x", 1, 1, where="lastState"),
        pod("stranger", 9, 0),
    ]
    kills = oom_kills(pods, attempts)
    assert [(k.shard, k.attempt, k.pod) for k in kills] == [(2, 0, "b-0-2-x"), (4, 1, "b-1-1-x")]
    assert kills[0].memory == "512Mi"


def kill(shard: int, attempt: int = 0) -> OomKill:
    return OomKill(shard=shard, attempt=attempt, pod=f"p{shard}", memory="512Mi", time=None)


RETRY = RetrySpec(backoff_limit_per_index=2, memory_factor=1.5, max_memory="2Gi")


def test_no_decision_while_running_or_when_nothing_failed() -> None:
    first = Attempt(0, "512Mi")
    assert decide_retry(first, job_outcome(job(failed="1"), first), [kill(1)], RETRY) is None
    done = job_outcome(job(completed="0-4", cond=("Complete", "x")), first)
    assert decide_retry(first, done, [], RETRY) is None


def test_oom_failures_are_retried_with_more_memory() -> None:
    first = Attempt(0, "512Mi")
    out = job_outcome(job(completed="0,2-4", failed="1", cond=("Failed", "FailedIndexes")), first)
    decision = decide_retry(first, out, [kill(1)], RETRY)
    assert decision is not None and decision.attempt is not None
    assert decision.attempt == Attempt(1, "768Mi", indexes=(1,), reason="OOMKilled")
    assert not decision.given_up


def test_non_oom_failures_are_given_up_and_oom_ones_retried() -> None:
    first = Attempt(0, "512Mi")
    out = job_outcome(job(completed="0", failed="1-2", cond=("Failed", "FailedIndexes")), first)
    decision = decide_retry(first, out, [kill(1)], RETRY)
    assert decision is not None and decision.attempt is not None
    assert decision.attempt.indexes == (1,) and decision.given_up == {2}
    only_other = decide_retry(first, out, [], RETRY)
    assert only_other is not None and only_other.attempt is None
    assert only_other.given_up == {1, 2}


def test_oom_at_max_memory_gives_up() -> None:
    last = Attempt(3, "2Gi", indexes=(1,))
    out = job_outcome(job(failed="0", cond=("Failed", "FailedIndexes")), last)
    decision = decide_retry(last, out, [kill(1, attempt=3)], RETRY)
    assert decision is not None and decision.attempt is None and decision.given_up == {1}
    assert "2Gi" in (decision.message or "")


def test_kills_of_older_attempts_do_not_count() -> None:
    second = Attempt(1, "768Mi", indexes=(1,))
    out = job_outcome(job(failed="0", cond=("Failed", "FailedIndexes")), second)
    decision = decide_retry(second, out, [kill(1, attempt=0)], RETRY)
    assert decision is not None and decision.attempt is None


@pytest.mark.parametrize(
    ("quantity", "factor", "cap", "expected"),
    [
        ("512Mi", 1.5, "2Gi", "768Mi"),
        ("768Mi", 1.5, "2Gi", "1152Mi"),
        ("1536Mi", 1.5, "2Gi", "2Gi"),
        ("2Gi", 1.5, "2Gi", None),
        ("3Gi", 1.5, "2Gi", None),
        ("1G", 1.1, "4Gi", "1050Mi"),
    ],
)
def test_scale_memory(quantity: str, factor: float, cap: str, expected: str | None) -> None:
    assert scale_memory(quantity, factor, cap) == expected


def test_quantities() -> None:
    assert memory_bytes("512Mi") == 512 * 2**20
    assert memory_bytes("1.5Gi") == 1536 * 2**20
    assert memory_bytes("1k") == 1000
    assert format_memory(2**31) == "2Gi"
    assert format_memory(1000) == "1Mi"
    for bad in ("lots", "512m", "-1Gi", ""):
        with pytest.raises(ValueError):
            memory_bytes(bad)
    assert threads_for_cpu("500m") == 1
    assert threads_for_cpu(3) == 3
    assert threads_for_cpu("1.6") == 2
