"""The batch's shard sets where they scale. `completedShards`, `failedShards`,
`countedShards` and a retry's `attempts[].shards` are index ranges ("0-7,9"): they grow with
the gaps between shards, so scattered failures (one shard in ten of 50,000) would take the
status past 64 KiB, and so would many retries (one `attempts[].shards` each). The status
holds every set in full only while each takes at most `MAX_INLINE` bytes and all together
`MAX_INLINE_TOTAL`; past that, every set, with the tallies that go with `countedShards`,
lives in one object of the output prefix, `_shards/sets.json`, and the status holds the
counts, the sets still short (not a retry's shards) and `shardSets: {object, revision}`
(docs/operator.md, "Shard sets").

Durability: the object is written *before* the status that names its revision, so the
object is never older than the status it belongs to. A pass reads it back (`overlay`) when
its revision is at least the status' one; otherwise (missing, unreadable, another batch's,
older) the sets are rebuilt (`rebuilt`): the completed shards from the Jobs and the shard
summaries under `_shards/`, the tallies folded again from zero (never a shard counted
twice), the failed-for-good shards found again when the latest attempt finishes.

Pure functions over the status (dicts) and the object's text; `setstore` reads and writes
the object.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ocr_job.storage.base import SHARDS_DIR
from ocr_operator.batch.jobs import job_shards
from ocr_operator.batch.tally import KNOWN_CODES
from ocr_operator.kube import LABEL_ATTEMPT, format_index_ranges, parse_index_ranges

#: The object under the output prefix (beside the shard summaries, which the merge skips).
SETS_NAME = f"{SHARDS_DIR}/sets.json"
#: Bytes of one set's ranges the status holds in full; a longer set is in the object only.
MAX_INLINE = 1024
#: Bytes of all the sets' ranges (a retry's shards included) the status holds together.
MAX_INLINE_TOTAL = 4096
#: The largest object read back: the sets of 1,000,000 shards with every other one failed
#: take about 10 MB; a larger object is not one the operator wrote.
MAX_OBJECT_BYTES = 64 << 20
VERSION = 1

#: The set fields of the status, each with the count the status always holds.
SET_COUNTS = {
    "completedShards": "completedShardCount",
    "failedShards": "failedShardCount",
    "countedShards": "countedShardCount",
}
#: The tallies folded from the summaries of `countedShards` (kept with it, one write).
TALLIES = ("talliedSucceeded", "talliedFailed", "errorCodes")

State = dict[str, Any]


@dataclass
class Book:
    """Where one pass stands with the object: its URL (for the status), the revision the
    status names (0: the status holds every set), and the state the object holds (None:
    unknown, the next write rewrites it)."""

    url: str = ""
    revision: int = 0
    state: State | None = field(default=None)


def count_ranges(text: str | None) -> int:
    """Indexes in "0-7,9" without expanding them (9)."""
    total = 0
    for part in (text or "").split(","):
        lo, _, hi = part.strip().partition("-")
        if lo:
            total += int(hi) - int(lo) + 1 if hi else 1
    return total


def valid_ranges(text: Any, limit: int) -> bool:
    """Whether `text` is ascending ranges of indexes below `limit` (checked without
    expanding: a forged "0-99999999999" is refused, not allocated)."""
    if not isinstance(text, str):
        return False
    last = -1
    for part in filter(None, text.split(",")):
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            return False
        first, end = int(lo), int(hi) if sep else int(lo)
        if first <= last or end < first or end >= limit:
            return False
        last = end
    return True


def state_of(status: Mapping[str, Any]) -> State:
    """What the object holds of a status in full form: every set, the tallies, and the
    shards of each retry attempt (by attempt number)."""
    state: State = {name: str(status.get(name) or "") for name in SET_COUNTS}
    state["talliedSucceeded"] = int(status.get("talliedSucceeded") or 0)
    state["talliedFailed"] = int(status.get("talliedFailed") or 0)
    state["errorCodes"] = dict(status.get("errorCodes") or {})
    state["attempts"] = {
        str(entry["attempt"]): str(entry["shards"])
        for entry in status.get("attempts") or []
        if entry.get("shards") is not None
    }
    return state


def too_long(state: State) -> bool:
    """Whether the sets of `state` are past what the status holds."""
    sizes = [len(state[name]) for name in SET_COUNTS] + [len(t) for t in state["attempts"].values()]
    return max(sizes) > MAX_INLINE or sum(sizes) > MAX_INLINE_TOTAL


def compact(patch: Mapping[str, Any], marker: Mapping[str, Any] | None) -> dict[str, Any]:
    """The status fields of `patch` (full form) as the status stores them: each set with its
    count; when `marker` (the object the full sets are in) is given, a set past
    `MAX_INLINE` and every retry's shards are left out (null), and the marker is
    `shardSets`. The status so holds at most 3 x `MAX_INLINE` bytes of ranges."""
    out = dict(patch)
    for name, count in SET_COUNTS.items():
        if name in patch:
            text = str(patch[name] or "")
            out[count] = count_ranges(text)
            if marker is not None and len(text) > MAX_INLINE:
                out[name] = None
    if "attempts" in patch:
        out["attempts"] = [_compact_attempt(entry, marker) for entry in patch["attempts"]]
    if marker is not None:
        out["shardSets"] = dict(marker)
    return out


def _compact_attempt(entry: Mapping[str, Any], marker: Mapping[str, Any] | None) -> dict[str, Any]:
    out = dict(entry)
    shards = entry.get("shards")
    if shards is not None:
        out["shardCount"] = count_ranges(str(shards))
        if marker is not None:
            del out["shards"]
    return out


class Write(NamedTuple):
    """What a status write becomes: the object to write first (None: none, or unchanged),
    the status fields, and the revision and state the object then has."""

    text: str | None
    fields: dict[str, Any]
    revision: int
    state: State | None


def plan_write(book: Book, status: Mapping[str, Any], patch: Mapping[str, Any], uid: str) -> Write:
    """The write of `patch` (full form) over `status` (full form): once a set is past the
    bound (or the status already names the object), the object gets a new revision when the
    sets changed, and the status its counts and that revision."""
    state = state_of({**status, **patch})
    if not (book.revision or too_long(state)):
        return Write(None, compact(patch, None), 0, book.state)
    revision, text = book.revision, None
    if state != book.state:
        revision += 1
        text = to_object(uid, revision, state)
    return Write(text, compact(patch, {"object": book.url, "revision": revision}), revision, state)


def to_object(uid: str, revision: int, state: State) -> str:
    return json.dumps({"version": VERSION, "uid": uid, "revision": revision, **state}, separators=(",", ":"))


def _natural(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def parse_object(text: str | None, uid: str, shard_count: int) -> tuple[int, State] | None:
    """(revision, state) of the object's text, or None when it is absent, unreadable, not
    this batch's (`uid`) or not well formed (every value checked: the output prefix is
    writable by the workers)."""
    if text is None or len(text) > MAX_OBJECT_BYTES:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("version") != VERSION or data.get("uid") != uid:
        return None
    revision, attempts, codes = data.get("revision"), data.get("attempts"), data.get("errorCodes")
    counts = [data.get("talliedSucceeded"), data.get("talliedFailed"), revision]
    if not all(_natural(n) for n in counts):
        return None
    if not isinstance(attempts, dict) or not isinstance(codes, dict):
        return None
    texts = [data.get(name) for name in SET_COUNTS] + list(attempts.values())
    if not all(valid_ranges(t, shard_count) for t in texts) or not all(str(k).isdigit() for k in attempts):
        return None
    if not all(k in KNOWN_CODES and _natural(v) for k, v in codes.items()):
        return None
    return int(data["revision"]), {k: data[k] for k in (*SET_COUNTS, *TALLIES, "attempts")}


def overlay(status: Mapping[str, Any], state: State) -> dict[str, Any] | None:
    """The status in full form: its sets, tallies and retry shards from `state`. None when
    an attempt of the status has no shards in either (the state is not this status')."""
    full = dict(status)
    for name in (*SET_COUNTS, *TALLIES):
        full[name] = state[name]
    attempts = []
    for entry in status.get("attempts") or []:
        entry = dict(entry)
        if _needs_shards(entry):
            shards = state["attempts"].get(str(entry["attempt"]))
            if shards is None:
                return None
            entry["shards"] = shards
        attempts.append(entry)
    full["attempts"] = attempts
    return full


def _needs_shards(entry: Mapping[str, Any]) -> bool:
    """A retry attempt whose shards the status left out (its count only)."""
    has = entry.get("shards") is not None or entry.get("indexes") is not None
    return entry.get("shardCount") is not None and not has


def rebuilt(
    status: Mapping[str, Any],
    jobs: Iterable[Mapping[str, Any]],
    summaries: Iterable[int],
) -> dict[str, Any]:
    """The status in full form when the object it names is lost. A set the status holds in
    full is kept; of the others:

    - completed: the shards with a final summary under `_shards/` (a worker writes it once
      every record of its shard is written); the Jobs' completed indexes are added by
      `progress.progress_of` as on every pass;
    - counted: none, with the tallies at zero: the summaries are folded again (at most
      `tally.FOLD_PER_PASS` a pass), so no shard is counted twice;
    - failed for good: none; the latest attempt's failed shards are found again when it
      finishes (`oom.decide_retry`), and a batch whose attempts all finished with shards
      not done fails as before;
    - a retry's shards: those of its Jobs (`OCR_SHARD_INDEXES`), then every shard above them
      neither completed nor failed (a superset: the parts already made keep their shards,
      a completed shard is never run again; workers skip the inputs with a record)."""
    full = dict(status)
    completed = parse_index_ranges(status.get("completedShards")) | set(summaries)
    full["completedShards"] = format_index_ranges(completed)
    if status.get("failedShards") is None:
        full["failedShards"] = ""
    if status.get("countedShards") is None:
        full.update(countedShards="", talliedSucceeded=0, talliedFailed=0, errorCodes={})
    failed = parse_index_ranges(full["failedShards"])
    shard_count = int(status.get("shardCount") or 0)
    by_attempt: dict[str, set[int]] = {}
    for job in jobs:
        label = str(((job.get("metadata") or {}).get("labels") or {}).get(LABEL_ATTEMPT, ""))
        by_attempt.setdefault(label, set()).update(job_shards(job) or ())
    attempts = []
    for entry in status.get("attempts") or []:
        entry = dict(entry)
        if _needs_shards(entry):
            known = by_attempt.get(str(entry["attempt"]), set())
            above = max(known, default=-1)
            rest = set(range(above + 1, shard_count)) - completed - failed
            entry["shards"] = format_index_ranges(known | rest)
            entry["shardCount"] = len(known | rest)
        attempts.append(entry)
    full["attempts"] = attempts
    return full
