"""Scenario 5, the operator restarts mid-batch. While it is down the pods go on (a shard
finishes, the next one starts); the new operator picks the batch up from its status, creates
no second Job, and finishes the batch."""

from __future__ import annotations

import math

import pytest

from tests.e2e.cluster.conftest import SIZES, CardLibrary, World, budget_s, report, report_pods

pytestmark = pytest.mark.timeout(int(budget_s(SIZES.cards) + 600))


def test_an_operator_restart_mid_batch_creates_no_second_job(world: World, cards: CardLibrary) -> None:
    card_set = cards.get("oprestart", SIZES.cards, seed=5, bad_inputs=False)
    src, out = world.buckets()
    keys = world.put_cards(src, card_set)
    shard_size = math.ceil(len(keys) / 3)

    with world.operator() as first:
        world.apply("again", src, out, shardSize=shard_size, parallelism=1)
        world.wait("shard 0 under way", lambda: world.shard_progress("again", 0) >= 1, budget_s(len(keys)))
        before = world.status("again")
    assert first.metrics.jobs_created._value.get() == 1

    # The operator is down: the Job goes on without it.
    world.wait(
        "shard 0 to finish and shard 1 to start while the operator is down",
        lambda: (
            any(r.index == 0 and r.reason == "Completed" for r in world.runner.runs())
            and any(r.index == 1 for r in world.runner.runs())
        ),
        budget_s(len(keys)),
    )
    assert world.status("again")["completedShards"] == before.get("completedShards", "")

    with world.operator() as second:
        status = world.wait_finished("again", budget_s(len(keys)))
        assert second.metrics.jobs_created._value.get() == 0, "the Job existed already"

    world.check_complete("again", out, keys, status)
    assert [j["metadata"]["name"] for j in world.jobs()] == ["again-0"]
    assert status["jobs"] == ["again-0"] and status["attempts"] == before["attempts"]
    assert status["completedShards"] == "0-2"
    assert sorted(r.index for r in world.runner.runs()) == [0, 1, 2], "no pod ran twice"
    world.check_no_leaks()

    report(f"scenario 5 (operator restart): restarted at progress {before.get('progress')}; "
           f"{status['phase']} with one Job")  # fmt: skip
    report_pods("  pods", world.runner.runs())
