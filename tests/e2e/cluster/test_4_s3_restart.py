"""Scenario 4, the object store restarts mid-batch (a SeaweedFS stop and start on the same
data and ports, several seconds without S3). The workers ride it out on their retries (or,
if an outage outlasts them, exit 1 and the Job runs the index again); the operator retries
its own S3 calls; the batch completes with every record once."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster.conftest import SIZES, CardLibrary, World, budget_s, report, report_pods
from tests.support.s3server import S3Server

pytestmark = pytest.mark.timeout(int(budget_s(SIZES.cards) + 900))


@pytest.fixture
def own_s3(tmp_path: Path) -> Iterator[S3Server]:
    """A server of this test alone: it is restarted."""
    server = S3Server(tmp_path / "s3")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_the_batch_survives_an_s3_restart(
    make_world: Callable[[S3Server], World], own_s3: S3Server, cards: CardLibrary
) -> None:
    world = make_world(own_s3)
    card_set = cards.get("s3restart", SIZES.cards, seed=4, bad_inputs=True)
    src, out = world.buckets()
    keys = world.put_cards(src, card_set)
    shard_size = math.ceil(len(keys) / 2)

    with world.operator():
        world.apply("s3r", src, out, shardSize=shard_size)
        world.wait(
            "both shards under way",
            lambda: all(world.shard_progress("s3r", i) >= 2 for i in (0, 1)),
            budget_s(len(keys)),
        )
        progress_before = world.status("s3r")["progress"]
        down = time.monotonic()
        own_s3.restart()
        outage = time.monotonic() - down
        status = world.wait_finished("s3r", budget_s(len(keys)) + 300)

    world.check_complete("s3r", out, keys, status)
    assert status["jobs"] == ["s3r-0"], "no retry Job: an S3 outage is not an OOM"
    runs = world.runner.runs()
    assert all(r.exit_code in (0, 1) for r in runs), [(r.name, r.exit_code) for r in runs]
    assert {r.index for r in runs if r.reason == "Completed"} == {0, 1}
    assert any("; retry " in r.log_text() for r in runs), "a worker met the outage and retried"
    world.check_no_leaks()

    report(f"scenario 4 (S3 restart): S3 down for {outage:.1f} s at progress {progress_before}; "
           f"{status['phase']}, {sum(r.exit_code == 1 for r in runs)} pod(s) gave up and were "
           f"replaced")  # fmt: skip
    report_pods("  pods", runs)
