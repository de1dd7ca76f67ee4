"""Planning: streaming shards, include globs, a stable plan."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from ocr_operator.batch.model import BatchSpec, spec_digest
from ocr_operator.batch.planner import (
    PLANNING,
    Plan,
    PlanOwner,
    make_plan,
    manifest_name,
    matches,
    shard_keys,
)


def test_shards_are_consecutive_chunks() -> None:
    assert list(shard_keys(["a", "b", "c", "d", "e"], 2)) == [["a", "b"], ["c", "d"], ["e"]]
    assert list(shard_keys([], 2)) == []
    with pytest.raises(ValueError):
        list(shard_keys(["a"], 0))


def test_make_plan_streams_and_writes_each_manifest_once() -> None:
    pulled: list[str] = []
    written: dict[int, list[str]] = {}

    def keys() -> Iterator[str]:
        for i in range(7):
            key = f"img/{i:03d}.jpg"
            pulled.append(key)
            yield key

    def write(index: int, chunk: list[str]) -> None:
        # The listing has not run more than `writers` shards ahead of the shard being
        # written (streaming).
        assert len(pulled) <= (index + 2) * 3 + 1
        written[index] = chunk

    plan = make_plan(keys(), shard_size=3, write_manifest=write, writers=2)
    assert plan == Plan(total=7, shard_count=3, shard_size=3)
    assert written[2] == ["img/006.jpg"]
    again: dict[int, list[str]] = {}
    make_plan(iter(pulled), shard_size=3, write_manifest=lambda i, c: again.__setitem__(i, c))
    assert again == written  # a re-plan writes the same manifests


def test_manifests_are_written_at_once_and_a_checkpoint_counts_written_ones_only() -> None:
    """Writes overlap (two of them meet at a barrier, which a one-at-a-time planner never
    passes), and every checkpoint comes after all the manifests it counts were written."""
    keys = [f"img/{i:03d}.jpg" for i in range(40)]
    written: set[int] = set()
    lock = threading.Lock()
    meet = threading.Barrier(2, timeout=30)
    checkpoints: list[Plan] = []

    def write(index: int, chunk: list[str]) -> None:
        if index in (1, 2):
            meet.wait()
        with lock:
            written.add(index)

    def checkpoint(progress: Plan) -> None:
        with lock:
            assert set(range(progress.shards_written)) <= written
        checkpoints.append(progress)

    plan = make_plan(
        iter(keys),
        shard_size=2,
        write_manifest=write,
        owner=PlanOwner(uid="u1", namespace="ns", name="b"),
        checkpoint=checkpoint,
        checkpoint_every=3,
        writers=4,
    )
    assert written == set(range(20)) and plan.shard_count == 20
    assert [c.shards_written for c in checkpoints] == [3, 6, 9, 12, 15, 18]
    assert checkpoints[-1].last_key == keys[35]


def test_include_globs() -> None:
    assert matches("a/b.jpg", [])
    assert matches("a/b.jpg", ["*.png", "a/*"])
    assert not matches("a/b.jpg", ["*.png"])
    plan = make_plan(
        ["x.jpg", "y.png", "z.jpg"], shard_size=10, include=["*.jpg"], write_manifest=lambda i, c: None
    )
    assert plan.total == 2


def test_plan_json_round_trip_and_names() -> None:
    plan = Plan(total=5, shard_count=1, shard_size=200)
    assert Plan.from_json(plan.to_json()) == plan
    assert manifest_name(3) == "shard-0003.txt"
    assert manifest_name(12345) == "shard-12345.txt"


def test_a_plan_names_its_owner_and_spec() -> None:
    owner = PlanOwner(uid="u-1", namespace="ocr", name="cards")
    spec = BatchSpec.parse({"source": {"bucket": "in", "prefix": "a"}, "output": {"bucket": "out"}})
    digest = spec_digest(spec)
    claim = Plan.claim(owner, digest, spec.shard_size)
    assert claim.state == PLANNING and claim.owned_by("u-1") and not claim.owned_by("u-2")
    assert not claim.reusable_by("u-1", digest)  # a claim has no manifests yet
    done = make_plan(
        ["x.jpg"], shard_size=200, write_manifest=lambda i, k: None, owner=owner, spec_digest=digest
    )
    assert Plan.from_json(done.to_json()) == done
    assert done.reusable_by("u-1", digest)
    assert not done.reusable_by("u-2", digest)
    assert not done.reusable_by("u-1", "other digest")
    legacy = Plan.from_json('{"total": 1, "shard_count": 1, "shard_size": 200}')
    assert legacy.owner is None and not legacy.owned_by("")


@pytest.mark.parametrize("text", ["[]", "null", '{"total": 1}', '{"owner": 3}', "x"])
def test_what_is_not_a_plan_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        Plan.from_json(text)


def test_the_spec_digest_follows_what_decides_the_keys_and_where_they_go() -> None:
    base: dict[str, Any] = {"source": {"bucket": "in", "prefix": "a"}, "output": {"bucket": "out"}}

    def digest(**change: Any) -> str:
        return spec_digest(BatchSpec.parse({**base, **change}))

    same = digest()
    assert digest(parallelism=9, suspend=True, engine={"name": "paddle"}) == same
    for change in (
        {"source": {"bucket": "in", "prefix": "b"}},
        {"source": {"bucket": "in", "prefix": "a", "include": ["*.png"]}},
        {"source": {"bucket": "in", "prefix": "a", "endpoint": "s3:9000"}},
        {"output": {"bucket": "out", "prefix": "r"}},
        {"shardSize": 10},
    ):
        assert digest(**change) != same, change


class Crash(Exception):
    pass


def test_a_restarted_plan_resumes_after_its_last_checkpoint() -> None:
    keys = [f"img/{i:03d}.jpg" for i in range(23)]
    owner = PlanOwner(uid="u1", namespace="ns", name="b")
    written: dict[int, list[str]] = {}
    checkpoints: list[Plan] = []

    def crash_at_7(index: int, chunk: list[str]) -> None:
        if index == 7:
            raise Crash
        written[index] = chunk

    with pytest.raises(Crash):
        make_plan(
            iter(keys),
            shard_size=2,
            write_manifest=crash_at_7,
            owner=owner,
            checkpoint=checkpoints.append,
            checkpoint_every=3,
        )
    last = checkpoints[-1]
    assert (last.state, last.shards_written, last.total, last.last_key) == ("planning", 6, 12, keys[11])
    assert Plan.from_json(last.to_json()) == last

    resumed: dict[int, list[str]] = {}
    plan = make_plan(
        iter(keys),
        shard_size=2,
        write_manifest=resumed.__setitem__,
        owner=owner,
        resume=last,
        relist=lambda: iter(keys),
        checkpoint=checkpoints.append,
        checkpoint_every=3,
    )
    assert min(resumed) == 6  # manifests 0-5 are not written again
    assert (plan.total, plan.shard_count, plan.state) == (23, 12, "planned")
    assert {**written, **resumed} == {i: keys[2 * i : 2 * i + 2] for i in range(12)}


def test_a_source_changed_since_the_checkpoint_is_planned_again() -> None:
    owner = PlanOwner(uid="u1", namespace="ns", name="b")
    checkpoint = Plan(
        total=4,
        shard_count=0,
        shard_size=2,
        owner=owner,
        state="planning",
        shards_written=2,
        last_key="img/003.jpg",
    )
    now = [f"img/{i:03d}.jpg" for i in range(10) if i != 1]  # an early key was removed
    written: dict[int, list[str]] = {}
    plan = make_plan(
        iter(now),
        shard_size=2,
        write_manifest=written.__setitem__,
        owner=owner,
        resume=checkpoint,
        relist=lambda: iter(now),
    )
    assert sorted(written) == [0, 1, 2, 3, 4] and written[0] == ["img/000.jpg", "img/002.jpg"]
    assert plan.total == 9
