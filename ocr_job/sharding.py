"""Stable assignment of keys to shards: every key belongs to exactly one of N shards."""

from __future__ import annotations

import hashlib
import re

from ocr_job.config import ShardSpec

INDEX_ENV = "JOB_COMPLETION_INDEX"


def shard_of(key: str, count: int) -> int:
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def in_shard(key: str, shard: ShardSpec) -> bool:
    return shard_of(key, shard.count) == shard.index


def expand_index(template: str, index: int | None) -> str:
    """Fill `{index}` / `{index:04d}` in a manifest URL with the Job's completion index."""
    if not re.search(r"\{index(:[^}]*)?\}", template):
        return template
    if index is None:
        raise ValueError(f"the manifest {template!r} needs {INDEX_ENV} to be set")
    return template.format(index=index)
