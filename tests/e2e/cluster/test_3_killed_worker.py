"""Scenario 3, a worker killed mid-shard (SIGKILL from outside: a crash, a node-level kill).
The pod fails with exit 137 but not OOMKilled; by the Job's podFailurePolicy (137 → Count)
the failure counts against backoffLimitPerIndex and the index runs again as a new pod of the
same Job. The new worker resumes: the records of the first attempt are skipped by ETag, not
redone, and nothing is duplicated."""

from __future__ import annotations

import math
import signal

import pytest

from tests.e2e.cluster.conftest import SIZES, CardLibrary, World, budget_s, report, report_pods
from tests.support.kube import PODS

pytestmark = pytest.mark.timeout(int(budget_s(SIZES.cards) + 600))


def test_a_killed_worker_is_replaced_and_resumes(world: World, cards: CardLibrary) -> None:
    card_set = cards.get("killed", SIZES.cards, seed=3, bad_inputs=False)
    src, out = world.buckets()
    keys = world.put_cards(src, card_set)
    shard_size = math.ceil(len(keys) / 2)
    shard0 = set(keys[:shard_size])

    with world.operator():
        world.apply("killed", src, out, shardSize=shard_size)
        victim = world.wait(
            "shard 0 to be under way",
            lambda: (
                world.shard_progress("killed", 0) >= 3
                and next((r for r in world.runner.running() if r.index == 0), None)
            ),
            budget_s(len(keys)),
        )
        assert world.runner.kill(victim.name, signal.SIGKILL)
        world.wait("the killed pod to be reported", lambda: victim.exit_code is not None, 30)
        before = world.record_objects(out, "killed")  # what the first attempt left
        status = world.wait_finished("killed", budget_s(len(keys)))

    records = world.check_complete("killed", out, keys, status)
    assert len(records) == len(keys)

    # The pod failed with 137, not OOMKilled, and the index was retried inside the Job.
    assert (victim.exit_code, victim.reason) == (137, "Error")
    pod = world.kube.get(PODS, "ocr", victim.name)
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (137, "Error")
    runs = world.runner.runs("killed-0")
    index0 = [r for r in runs if r.index == 0]
    assert [r.reason for r in index0] == ["Error", "Completed"]
    job = world.jobs()[0]
    assert (job["status"]["succeeded"], job["status"]["failed"]) == (2, 1)
    assert (job["status"]["completedIndexes"], job["status"]["failedIndexes"]) == ("0-1", "")

    # Not an OOM, not a new attempt: one Job, nothing in oomKills.
    assert status["jobs"] == ["killed-0"] and len(status["attempts"]) == 1
    assert not status.get("oomKillCount") and not status.get("oomKills")

    # The retry resumed: every record left by the first attempt is untouched (same ETag,
    # same time), and the new worker counted them as skipped.
    after = world.record_objects(out, "killed")
    done_before = {key for key in before if key in shard0}
    assert done_before, "the victim had written records"
    for key, obj in before.items():
        assert (after[key].etag, after[key].last_modified) == (obj.etag, obj.last_modified), key
    shard = world.shard_report("killed", 0)
    assert shard["skipped"] == len(done_before)
    assert shard["processed"] == shard["total"] == len(shard0)
    world.check_no_leaks()

    report(f"scenario 3 (killed worker): SIGKILL after {len(done_before)} record(s) of shard 0; "
           f"the replacement skipped {shard['skipped']}: {status['phase']}")  # fmt: skip
    report_pods("  pods", runs)
