"""An intake's status: its folders (each folder's state and what is known of it, to and
from the status, the counters) and its conditions. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from ocr_operator.batch.status import set_condition
from ocr_operator.intake.model import IntakeSpec

COND_READY = "Ready"
COND_SUSPENDED = "Suspended"
#: Finished folders kept in status.folders (the counters keep the totals).
MAX_FINISHED_ENTRIES = 50


class FolderState(StrEnum):
    WAITING = "Waiting"  # seen, not ready yet
    CLAIMED = "Claimed"  # claim marker written, batch not confirmed
    RUNNING = "Running"  # batch exists, not finished
    DONE = "Done"  # batch succeeded; onSuccess applied
    FAILED = "Failed"  # batch failed; folder kept
    TAKEN = "ClaimedElsewhere"  # another intake's claim (this or a nested folder)


ACTIVE = frozenset({FolderState.CLAIMED, FolderState.RUNNING})
FINISHED = frozenset({FolderState.DONE, FolderState.FAILED})


@dataclass(slots=True)
class FolderEntry:
    name: str
    state: FolderState
    batch: str | None = None
    objects: int | None = None
    fingerprint: str | None = None
    since: str | None = None
    phase: str | None = None
    late_objects: int | None = None
    claimed_at: str | None = None
    finished_at: str | None = None
    message: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "state": str(self.state)}
        for key, value in (
            ("batch", self.batch),
            ("objects", self.objects),
            ("fingerprint", self.fingerprint),
            ("since", self.since),
            ("phase", self.phase),
            ("lateObjects", self.late_objects),
            ("claimedAt", self.claimed_at),
            ("finishedAt", self.finished_at),
            ("message", self.message),
        ):
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_status(cls, entry: Mapping[str, Any]) -> FolderEntry | None:
        try:
            state = FolderState(entry["state"])
            return cls(
                name=str(entry["name"]),
                state=state,
                batch=entry.get("batch"),
                objects=entry.get("objects"),
                fingerprint=entry.get("fingerprint"),
                since=entry.get("since"),
                phase=entry.get("phase"),
                late_objects=entry.get("lateObjects"),
                claimed_at=entry.get("claimedAt"),
                finished_at=entry.get("finishedAt"),
                message=entry.get("message"),
            )
        except (KeyError, ValueError, TypeError):
            return None


def folders_from_status(status: Mapping[str, Any]) -> dict[str, FolderEntry]:
    result: dict[str, FolderEntry] = {}
    for raw in status.get("folders") or []:
        if isinstance(raw, Mapping) and (entry := FolderEntry.from_status(raw)) is not None:
            result[entry.name] = entry
    return result


def folders_to_status(folders: Mapping[str, FolderEntry]) -> list[dict[str, Any]]:
    """Active and waiting folders by name, then the latest finished ones (bounded)."""
    live = sorted((f for f in folders.values() if f.state not in FINISHED), key=lambda f: f.name)
    finished = sorted(
        (f for f in folders.values() if f.state in FINISHED),
        key=lambda f: (f.finished_at or "", f.name),
    )[-MAX_FINISHED_ENTRIES:]
    return [f.to_status() for f in (*live, *finished)]


def counts(folders: Mapping[str, FolderEntry]) -> dict[str, int]:
    states = [f.state for f in folders.values()]
    return {
        "waiting": states.count(FolderState.WAITING),
        "claimed": states.count(FolderState.CLAIMED),
        "running": states.count(FolderState.RUNNING),
        "claimedElsewhere": states.count(FolderState.TAKEN),
    }


def ready_patch(
    status: Mapping[str, Any], spec: IntakeSpec, now: datetime, generation: int | None
) -> dict[str, Any]:
    """The status of a successful poll: Ready, Suspended as the spec says, no message."""
    conds = set_condition(
        status.get("conditions") or [],
        type=COND_READY,
        status=True,
        reason="Polling",
        message=f"polling every {spec.poll_interval_seconds}s",
        now=now,
        generation=generation,
    )
    patch: dict[str, Any] = {
        "conditions": set_condition(
            conds,
            type=COND_SUSPENDED,
            status=spec.suspend,
            reason="Suspended" if spec.suspend else "NotSuspended",
            message="spec.suspend is true: no new folder is claimed" if spec.suspend else "",
            now=now,
            generation=generation,
        ),
        "message": None,
    }
    if generation is not None:
        patch["observedGeneration"] = generation
    return patch


def folder_patch(folders: Mapping[str, FolderEntry], totals: Mapping[str, int]) -> dict[str, Any]:
    return {"folders": folders_to_status(folders), **counts(folders), **totals}


def spec_message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"invalid spec: {where}: {first['msg']}"[:500]
    return f"invalid spec: {exc}"[:500]
