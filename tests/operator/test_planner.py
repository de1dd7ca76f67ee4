"""Planning: streaming shards, include globs, a stable plan."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ocr_operator.planner import Plan, make_plan, manifest_name, matches, shard_keys


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
