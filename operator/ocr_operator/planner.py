"""Planning: list the source once, cut it into shards, write one manifest per shard.

The plan is then frozen: its total and shard count go to the status, and a `plan.json`
beside the manifests lets a restarted operator pick it up without listing again.
Re-planning after a crash rewrites the same manifests (the listing is sorted).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass

from ocr_job.storage.base import MANIFESTS_DIR, manifest_text

__all__ = [
    "MANIFESTS_DIR",
    "MANIFEST_PATTERN",
    "PLAN_FILE",
    "Plan",
    "make_plan",
    "manifest_name",
    "manifest_text",
    "matches",
    "shard_keys",
]

PLAN_FILE = "plan.json"
#: The worker replaces `{index…}` with its shard index.
MANIFEST_PATTERN = "shard-{index:04d}.txt"


@dataclass(frozen=True, slots=True)
class Plan:
    total: int
    shard_count: int
    shard_size: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        data = json.loads(text)
        return cls(
            total=int(data["total"]),
            shard_count=int(data["shard_count"]),
            shard_size=int(data["shard_size"]),
        )


def manifest_name(index: int) -> str:
    return MANIFEST_PATTERN.format(index=index)


def matches(key: str, include: Sequence[str]) -> bool:
    """Whether `key` (relative to the source prefix) is taken: any glob matches, or none given."""
    return not include or any(fnmatch.fnmatchcase(key, pattern) for pattern in include)


def shard_keys(keys: Iterable[str], shard_size: int) -> Iterator[list[str]]:
    """Consecutive chunks of `shard_size` keys, streamed (one chunk in memory)."""
    if shard_size < 1:
        raise ValueError("shard_size must be at least 1")
    chunk: list[str] = []
    for key in keys:
        chunk.append(key)
        if len(chunk) == shard_size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def make_plan(
    keys: Iterable[str],
    *,
    shard_size: int,
    include: Sequence[str] = (),
    write_manifest: Callable[[int, list[str]], None],
) -> Plan:
    """Stream `keys` (sorted, relative to the source prefix) into manifests; return the plan."""
    total = 0
    count = 0
    taken = (k for k in keys if matches(k, include))
    for index, chunk in enumerate(shard_keys(taken, shard_size)):
        write_manifest(index, chunk)
        total += len(chunk)
        count = index + 1
    return Plan(total=total, shard_count=count, shard_size=shard_size)


