"""Planning: list the source once, page by page, cutting it into shards and writing one
manifest per shard as it goes (memory: one listing page and `MANIFEST_WRITERS` shards' keys
being written at once, whatever the source's size). Shards follow the listing's order (key
order on most S3 servers; SeaweedFS lists directory by directory).

The plan is then frozen: its total and shard count go to the status, and a `plan.json`
beside the manifests lets a restarted operator pick it up without listing again. While
planning, `plan.json` is a checkpoint every `CHECKPOINT_EVERY` manifests: a restarted
operator resumes after the last checkpointed manifest (docs/operator.md, "Streamed planning").

A plan belongs to one batch: `plan.json` names its owner (the batch's uid) and the digest
of the spec it was made from (`model.spec_digest`). It is written first as a claim (state
`planning`, created only if absent), then completed (state `planned`). A batch whose output
holds a plan it does not own never reads its manifests (docs/operator.md, "One plan, one
batch").
"""

from __future__ import annotations

import fnmatch
import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace

from ocr_job.storage.base import MANIFESTS_DIR, manifest_text

__all__ = [
    "MANIFESTS_DIR",
    "MANIFEST_PATTERN",
    "PLANNED",
    "PLANNING",
    "PLAN_FILE",
    "Plan",
    "PlanOwner",
    "make_plan",
    "manifest_name",
    "manifest_text",
    "matches",
    "shard_keys",
]

PLAN_FILE = "plan.json"
#: The worker replaces `{index…}` with its shard index.
MANIFEST_PATTERN = "shard-{index:04d}.txt"


PLANNING = "planning"
PLANNED = "planned"
#: Manifests between two checkpoints of a plan being made (a restart rewrites at most these).
CHECKPOINT_EVERY = 10
#: Manifests written at once while planning (memory: this many shards' keys).
MANIFEST_WRITERS = 8


@dataclass(frozen=True, slots=True)
class PlanOwner:
    """The batch a plan belongs to; `uid` decides, namespace and name are for people."""

    uid: str
    namespace: str
    name: str


@dataclass(frozen=True, slots=True)
class Plan:
    total: int
    shard_count: int
    shard_size: int
    #: None: a plan written before plans had owners (never reused: foreign).
    owner: PlanOwner | None = None
    spec_digest: str = ""
    state: str = PLANNED
    #: Progress of a plan being made (state `planning`): manifests written, the last key.
    shards_written: int = 0
    last_key: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """Raises ValueError (or a subclass) on anything that is not a plan."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("plan.json is not an object")
        owner = data.get("owner")
        try:
            return cls(
                total=int(data["total"]),
                shard_count=int(data["shard_count"]),
                shard_size=int(data["shard_size"]),
                owner=PlanOwner(
                    uid=str(owner["uid"]),
                    namespace=str(owner["namespace"]),
                    name=str(owner["name"]),
                )
                if isinstance(owner, dict)
                else None,
                spec_digest=str(data.get("spec_digest") or ""),
                state=str(data.get("state") or PLANNED),
                shards_written=int(data.get("shards_written") or 0),
                last_key=str(data.get("last_key") or ""),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"plan.json lacks {exc}") from None

    @classmethod
    def claim(cls, owner: PlanOwner, spec_digest: str, shard_size: int) -> Plan:
        """The first `plan.json` of a batch: who plans here, before any manifest."""
        return cls(0, 0, shard_size, owner=owner, spec_digest=spec_digest, state=PLANNING)

    def owned_by(self, uid: str) -> bool:
        return self.owner is not None and self.owner.uid == uid

    def reusable_by(self, uid: str, spec_digest: str) -> bool:
        """A complete plan of this batch made from this very spec."""
        return self.owned_by(uid) and self.state == PLANNED and self.spec_digest == spec_digest


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


def _resumed(keys: Iterator[str], resume: Plan) -> bool:
    """Skip the `resume.total` keys its manifests hold; True when the listing still starts
    with them (the last one skipped is the checkpoint's last key)."""
    last = None
    skipped = 0
    for key in keys:
        skipped += 1
        last = key
        if skipped == resume.total:
            break
    return skipped == resume.total and last == resume.last_key


def _drain(pending: deque[Future[None]]) -> None:
    """Wait for every write in `pending`, oldest first (raising the first failure)."""
    while pending:
        pending.popleft().result()


def make_plan(
    keys: Iterable[str],
    *,
    shard_size: int,
    include: Sequence[str] = (),
    write_manifest: Callable[[int, list[str]], None],
    owner: PlanOwner | None = None,
    spec_digest: str = "",
    resume: Plan | None = None,
    relist: Callable[[], Iterable[str]] | None = None,
    checkpoint: Callable[[Plan], None] | None = None,
    checkpoint_every: int = CHECKPOINT_EVERY,
    writers: int = MANIFEST_WRITERS,
) -> Plan:
    """Stream `keys` (relative to the source prefix, in the listing's order) into manifests
    as they come; return the plan.

    Up to `writers` manifests are written at once (`write_manifest` is called from that many
    threads): one manifest's PUT is a round trip, and a million-key plan at 20 keys a shard
    is 50,000 of them. Every `checkpoint_every` manifests, once all of them are written,
    `checkpoint` records the claim's progress (manifests written, keys in them, the last
    key). Given that progress as `resume`, the listing's first `resume.total` keys are
    skipped and planning goes on at manifest `resume.shards_written`; when the listing no
    longer starts with them (the source changed), planning starts over on a fresh listing
    from `relist`.
    """
    taken: Iterator[str] = (k for k in keys if matches(k, include))
    index = total = 0
    if resume is not None and resume.shards_written and resume.state == PLANNING:
        if _resumed(taken, resume):
            index, total = resume.shards_written, resume.total
        elif relist is not None:
            taken = (k for k in relist() if matches(k, include))
    progress = Plan.claim(owner, spec_digest, shard_size) if owner else None
    with ThreadPoolExecutor(max(1, writers), thread_name_prefix="plan-write") as pool:
        pending: deque[Future[None]] = deque()
        for chunk in shard_keys(taken, shard_size):
            pending.append(pool.submit(write_manifest, index, chunk))
            total += len(chunk)
            index += 1
            if len(pending) >= writers:
                pending.popleft().result()
            if checkpoint is not None and progress is not None and index % checkpoint_every == 0:
                _drain(pending)  # a checkpoint counts written manifests only
                checkpoint(replace(progress, total=total, shards_written=index, last_key=chunk[-1]))
        _drain(pending)
    return Plan(
        total=total,
        shard_count=index,
        shard_size=shard_size,
        owner=owner,
        spec_digest=spec_digest,
    )
