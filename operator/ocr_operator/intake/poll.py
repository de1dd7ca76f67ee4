"""The steps of one poll of an intake's prefix, each over the bucket only (no Kubernetes)
and returning a small value: the folder names, whose claim a folder carries, whether it is
ready, whether a nested claim blocks it, and the claim itself (`IntakeReconciler._poll`
ties them)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ocr_job.storage.base import manifest_text
from ocr_operator.intake.model import (
    CLAIM_KEYS,
    CLAIM_MARKER,
    DONE_MARKER,
    Claim,
    IntakeSpec,
    ObjectInfo,
    ancestors,
    batch_name,
    fingerprint,
    folder_of,
    foreign_claims_below,
    inputs_of,
    keys_hash,
    parse_claim,
    quiet_readiness,
)
from ocr_operator.intake.status import (
    FolderEntry,
    FolderState,
)
from ocr_operator.intake.storage import IntakeStorage
from ocr_operator.kube import iso, parse_iso

#: A folder found claimed elsewhere or finished is not looked at again for this long.
SETTLED_TTL_S = 600.0


class Settled:
    """Folders not to look at again for a while (in memory: a restart looks once more)."""

    def __init__(self, ttl_s: float = SETTLED_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._until: dict[tuple[str, str, str], float] = {}

    @staticmethod
    def _key(body: Mapping[str, Any], folder: str) -> tuple[str, str, str]:
        return (body["metadata"]["namespace"], body["metadata"]["name"], folder)

    def __contains__(self, item: tuple[Mapping[str, Any], str]) -> bool:
        until = self._until.get(self._key(*item))
        return until is not None and until > time.monotonic()

    def add(self, body: Mapping[str, Any], folder: str) -> None:
        self._until[self._key(body, folder)] = time.monotonic() + self.ttl_s


def folder_names(store: IntakeStorage, base: str) -> list[str]:
    """The folders directly under `base` that may be drop folders."""
    return [n for n in (folder_of(p, base) for p in store.list_folders(base)) if n]


def drop_vanished(folders: dict[str, FolderEntry], present: set[str]) -> None:
    """Waiting and taken folders that are gone from the bucket leave the status."""
    for name, entry in list(folders.items()):
        if entry.state in (FolderState.WAITING, FolderState.TAKEN) and name not in present:
            del folders[name]


@dataclass(frozen=True, slots=True)
class Marker:
    """A folder's `_CLAIMED`: None when absent; `ours` when this intake wrote it."""

    claim: Claim | None
    ours: bool
    done: bool = False

    def owner(self) -> str:
        return self.claim.intake if self.claim is not None and self.claim.intake else "another writer"


def claim_marker(store: IntakeStorage, prefix: str, uid: str) -> Marker | None:
    text = store.read(prefix + CLAIM_MARKER)
    if text is None:
        return None
    claim = parse_claim(text)
    if claim is not None and claim.owned_by(uid):
        return Marker(claim, ours=True, done=store.exists(prefix + DONE_MARKER))
    return Marker(claim, ours=False)


def readiness(
    spec: IntakeSpec,
    store: IntakeStorage,
    prefix: str,
    entry: FolderEntry | None,
    now: datetime,
) -> tuple[bool, list[ObjectInfo] | None, FolderEntry]:
    """Ready or not (marker or quiet period); the objects if listed; the waiting entry."""
    name = prefix.rstrip("/").rsplit("/", 1)[-1]
    mode = spec.readiness
    if mode.mode == "marker":
        ready = store.exists(prefix + mode.marker)
        return (
            ready,
            None,
            FolderEntry(
                name=name,
                state=FolderState.WAITING,
                message="ready" if ready else f"waiting for the marker {mode.marker}",
            ),
        )
    objects = store.list_folder(prefix)
    inputs = inputs_of(objects, spec.reserved_names)
    decision = quiet_readiness(
        current=fingerprint(inputs),
        previous=entry.fingerprint if entry else None,
        since=parse_iso(entry.since) if entry else None,
        now=now,
        quiet_seconds=mode.quiet_seconds,
        empty=not inputs,
    )
    waiting = FolderEntry(
        name=name,
        state=FolderState.WAITING,
        objects=len(inputs),
        fingerprint=decision.fingerprint,
        since=iso(decision.since),
        message=decision.message,
    )
    return decision.ready, objects, waiting


def no_slot(spec: IntakeSpec, active: int) -> str | None:
    """Why a ready folder waits: the intake is suspended or has no free batch slot."""
    if spec.suspend:
        return "intake suspended"
    if active >= spec.max_concurrent_batches:
        return f"ready; waiting for a free slot (maxConcurrentBatches={spec.max_concurrent_batches})"
    return None


def nested_claim(store: IntakeStorage, base: str, objects: list[ObjectInfo]) -> str | None:
    """Overlap rule, nested prefixes: a folder holding a claimed sub-folder, or inside
    a claimed folder, belongs to whoever claimed that one."""
    if foreign_claims_below(objects):
        return "a sub-folder is claimed by another intake"
    for parent in ancestors(base):
        if store.exists(parent + CLAIM_MARKER):
            return "an enclosing folder is claimed by another intake"
    return None


def write_claim(
    meta: Mapping[str, Any],
    spec: IntakeSpec,
    store: IntakeStorage,
    folder: str,
    objects: list[ObjectInfo],
    now: datetime,
) -> Claim | None:
    """Write `_CLAIMED` if absent (If-None-Match: *), read it back (servers that ignore
    the precondition: the last writer wins the read-back), then the key list. None: the
    folder is someone else's."""
    prefix = f"{spec.source.base}{folder}/"
    keys = [o.key for o in inputs_of(objects, spec.reserved_names)]
    claim = Claim(
        batch=batch_name(meta["name"], folder),
        intake=f"{meta['namespace']}/{meta['name']}",
        intake_uid=str(meta.get("uid") or ""),
        claimed_at=iso(now),
        objects=len(keys),
        keys_sha256=keys_hash(keys),
        nonce=secrets.token_hex(8),
    )
    if not store.create_if_absent(prefix + CLAIM_MARKER, claim.to_json().encode()):
        return None
    back = parse_claim(store.read(prefix + CLAIM_MARKER))
    if back is None or back.nonce != claim.nonce:
        return None
    store.put(prefix + CLAIM_KEYS, manifest_text(keys).encode())
    return claim


def claimed_entry(folder: str, claim: Claim) -> FolderEntry:
    return FolderEntry(
        name=folder,
        state=FolderState.CLAIMED,
        batch=claim.batch,
        objects=claim.objects,
        claimed_at=claim.claimed_at,
    )
