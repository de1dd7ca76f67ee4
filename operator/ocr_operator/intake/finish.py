"""A claimed folder whose batch has finished: which objects were processed, what `onSuccess`
does to them, and the `_DONE` record. Storage only (no Kubernetes); every step idempotent,
so a pass interrupted half-way is finished by the next one."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from ocr_job.config import S3Settings
from ocr_operator.intake.model import (
    CLAIM_KEYS,
    DONE_MARKER,
    IntakeSpec,
    Settlement,
    settle,
)
from ocr_operator.intake.status import (
    FolderEntry,
)
from ocr_operator.intake.storage import IntakeStorage
from ocr_operator.kube import iso

ManifestReader = Callable[[S3Settings, str, int], set[str]]


def folder_prefix(spec: IntakeSpec, folder: str) -> str:
    return f"{spec.source.base}{folder}/"


def settlement(
    store: IntakeStorage,
    spec: IntakeSpec,
    folder: str,
    batch_status: Mapping[str, Any],
    read_manifests: Callable[[str, int], set[str]],
) -> Settlement:
    """What to move (claimed and processed), what arrived late, which markers there are."""
    prefix = folder_prefix(spec, folder)
    current = [o.key for o in store.list_folder(prefix)]
    claimed_lines = store.read_lines(prefix + CLAIM_KEYS)
    claimed = set(claimed_lines) if claimed_lines is not None else None
    processed: set[str] = set()
    template, shard_count = batch_status.get("manifests"), batch_status.get("shardCount")
    if template and shard_count:
        processed = {
            k[len(prefix) :] for k in read_manifests(str(template), int(shard_count)) if k.startswith(prefix)
        }
    return settle(current, claimed=claimed, processed=processed, reserved=spec.reserved_names)


def apply_action(
    store: IntakeStorage,
    spec: IntakeSpec,
    entry: FolderEntry,
    plan: Settlement,
    now: datetime,
    *,
    success: bool,
) -> str:
    """Archive or delete (`onSuccess`, success only) or keep the folder's processed
    objects; the folder's message."""
    action = spec.on_success.action if success else "keep"
    prefix = folder_prefix(spec, entry.name)
    if action == "archive":
        dest = f"{spec.on_success.archive_base}{entry.name}/"
        for key in plan.move:
            store.move(prefix + key, dest + key)
        for key in plan.markers:
            if key == DONE_MARKER:
                continue
            if plan.late:  # the folder stays claimed: keep its markers
                store.copy(prefix + key, dest + key)
            else:
                store.move(prefix + key, dest + key)
        write_done(store, spec, entry, now, key=dest + DONE_MARKER, action=action)
        message = f"archived {len(plan.move)} object(s)"
    elif action == "delete":
        for key in plan.move:
            store.delete(prefix + key)
        if not plan.late:
            for key in plan.markers:
                store.delete(prefix + key)
        message = f"deleted {len(plan.move)} object(s)"
    else:
        message = "kept in place" if success else "batch failed: the folder is kept"
    if plan.late or action == "keep":
        write_done(store, spec, entry, now, action=action)
    return message


def write_done(
    store: IntakeStorage,
    spec: IntakeSpec,
    entry: FolderEntry,
    now: datetime,
    *,
    key: str | None = None,
    action: str = "keep",
) -> None:
    """The `_DONE` record: the folder is finished and is not claimed again."""
    record = {
        "batch": entry.batch,
        "phase": entry.phase,
        "action": action,
        "lateObjects": entry.late_objects or 0,
        "finishedAt": iso(now),
    }
    target = key or f"{folder_prefix(spec, entry.name)}{DONE_MARKER}"
    store.put(target, json.dumps(record, indent=1).encode())
