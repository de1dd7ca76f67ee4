"""Planning: streaming shards, include globs, a stable plan."""

from __future__ import annotations

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
        # The listing has not run ahead of the shard being written (streaming).
        assert len(pulled) <= (index + 1) * 3 + 1
        written[index] = chunk

    plan = make_plan(keys(), shard_size=3, write_manifest=write)
    assert plan == Plan(total=7, shard_count=3, shard_size=3)
    assert written[2] == ["img/006.jpg"]
    again: dict[int, list[str]] = {}
    make_plan(iter(pulled), shard_size=3, write_manifest=lambda i, c: again.__setitem__(i, c))
    assert again == written  # a re-plan writes the same manifests


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
    done = make_plan(["x.jpg"], shard_size=200, write_manifest=lambda i, k: None,
                     owner=owner, spec_digest=digest)
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
