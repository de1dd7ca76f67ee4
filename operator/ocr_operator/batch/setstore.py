"""The shard-sets object on the batch's storage (`batch/shardsets.py` says what it holds):
read back at the start of a pass, written before the status that names its revision."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any, Protocol

from ocr_operator.batch.model import BatchSpec, s3_url
from ocr_operator.batch.progress import Pass
from ocr_operator.batch.shardsets import (
    MAX_OBJECT_BYTES,
    SETS_NAME,
    Book,
    overlay,
    parse_object,
    plan_write,
    rebuilt,
)

log = logging.getLogger(__name__)

#: The Warning Event's message when the sets are rebuilt (counts and names of none).
REBUILT = "the shard sets object is missing, unreadable or older than the status: rebuilt"


class SetsStorage(Protocol):
    def read_text(self, name: str, limit: int) -> str | None: ...

    def write_text(self, name: str, text: str) -> None: ...

    def shard_summaries(self) -> Iterator[int]: ...


def sets_url(spec: BatchSpec) -> str:
    return s3_url(spec.output.bucket, spec.output.prefix, SETS_NAME)


def _uid(p: Pass) -> str:
    return str(p.body["metadata"].get("uid") or "")


def load_sets(
    p: Pass, spec: BatchSpec, storage: Callable[[], SetsStorage], jobs: Iterable[Mapping[str, Any]]
) -> tuple[Pass, bool]:
    """The pass with its status in full form, and whether the sets had to be rebuilt: from
    the status while it holds every set (no storage call), else from the object it names;
    rebuilt (`shardsets.rebuilt`) when that object is lost. A storage error comes through
    (the pass is retried): a status that names the object cannot be used without it."""
    book = Book(url=sets_url(spec))
    marker = p.status.get("shardSets")
    if not isinstance(marker, Mapping):
        return replace(p, stored=p.status, sets=book), False
    store = storage()
    text = store.read_text(SETS_NAME, MAX_OBJECT_BYTES)
    found = parse_object(text, _uid(p), int(p.status.get("shardCount") or 0))
    wanted = int(marker.get("revision") or 0)
    if found is not None and found[0] >= wanted:
        full = overlay(p.status, found[1])
        if full is not None:
            book.revision, book.state = found
            return replace(p, status=full, stored=p.status, sets=book), False
    full = rebuilt(p.status, list(jobs), store.shard_summaries())
    book.revision = max(wanted, found[0] if found else 0)
    log.warning("batch %s/%s: %s", p.namespace, p.name, REBUILT)
    return replace(p, status=full, stored=p.status, sets=book), True


def save_sets(p: Pass, storage: Callable[[], SetsStorage], patch: Mapping[str, Any]) -> dict[str, Any]:
    """The status fields of `patch` (full form) as the status stores them, the sets object
    written first when the status is to name a new revision of it (`shardsets.plan_write`)."""
    write = plan_write(p.sets, p.status, patch, _uid(p))
    if write.text is not None:
        storage().write_text(SETS_NAME, write.text)
    p.sets.revision, p.sets.state = write.revision, write.state
    return write.fields
