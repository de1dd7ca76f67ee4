"""Stable assignment of keys to shards: every key belongs to exactly one of N shards."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping

from ocr_job.config import ShardSpec

#: Set by Kubernetes in each pod of an Indexed Job.
INDEX_ENV = "JOB_COMPLETION_INDEX"
#: Set by the operator on a retry Job: the shard index of each completion index ("3,7").
SHARD_INDEXES_ENV = "OCR_SHARD_INDEXES"


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


def resolve_shard_index(env: Mapping[str, str] | None = None) -> int | None:
    """This pod's shard index: `JOB_COMPLETION_INDEX`, mapped through `OCR_SHARD_INDEXES`
    (ascending shard indexes and ranges, "3,7,10-19": completion index 1 runs shard 7, 2 runs
    shard 10) when the Job sets it (a retry, or one of several Jobs of a large batch).
    None outside a Job."""
    env = os.environ if env is None else env
    raw = env.get(INDEX_ENV)
    if raw is None or not raw.strip().isdigit():
        return None
    index = int(raw)
    mapping = env.get(SHARD_INDEXES_ENV, "").strip()
    if not mapping:
        return index
    rest = index
    for part in mapping.split(","):
        first, _, last = part.strip().partition("-")
        low = int(first)
        high = int(last) if last else low
        if rest <= high - low:
            return low + rest
        rest -= high - low + 1
    raise ValueError(f"{INDEX_ENV}={index} is outside {SHARD_INDEXES_ENV}={mapping}")
