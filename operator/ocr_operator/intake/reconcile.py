"""OcrIntake: drop folders in a bucket become OcrBatches by themselves (docs/intake.md).

One level-triggered pass per intake (`IntakeReconciler.reconcile`), run by the operator's
coalescing `Scheduler`, like the batches. Two kinds of work in a pass:

* **follow** (every pass, Kubernetes only): the folders the status says are claimed or
  running: create a claimed folder's batch if it is missing; when a batch has finished,
  apply `onSuccess` and record the outcome;
* **poll** (when due): list the prefix's folders; for each ready folder that nobody has
  claimed, write the claim marker (first writer wins), then create the batch.

Polling is not a kopf timer (kopf puts a finalizer on resources with timers or daemons,
so deletion would hang with the operator down): an asyncio loop (`runtime.IntakeRuntime.run`)
asks for a poll of each intake every `spec.pollIntervalSeconds` and pokes the scheduler.

Ordering that makes restarts safe: claim marker first, then the batch (deterministic name,
so a repeated create is a harmless 409). A folder whose claim names this intake but that
has no batch gets one on the next poll.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ocr_job.config import S3Settings
from ocr_job.storage.base import StorageError
from ocr_operator.batch.policy import PolicyViolation, check_endpoint
from ocr_operator.batch.s3 import SECRET_ACCESS_KEY, SECRET_SECRET_KEY, s3_settings
from ocr_operator.batch.status import set_condition
from ocr_operator.cluster import IntakeCluster
from ocr_operator.config import OperatorConfig
from ocr_operator.intake import finish, poll
from ocr_operator.intake.model import (
    SUCCESS_PHASES,
    TERMINAL_PHASES,
    IntakeSpec,
    batch_for,
)
from ocr_operator.intake.status import (
    ACTIVE,
    COND_READY,
    FINISHED,
    FolderEntry,
    FolderState,
    folder_patch,
    folders_from_status,
    ready_patch,
    spec_message,
)
from ocr_operator.intake.storage import IntakeStorage, S3IntakeStorage, read_manifests
from ocr_operator.kube import iso, status_diff, utcnow

log = logging.getLogger(__name__)

Key = tuple[str, str]


StorageFactory = Callable[[S3Settings, str], IntakeStorage]


@dataclass
class _Pass:
    """What one pass of one intake works with: its object and spec, its bucket and S3
    settings, the done/failed counters it adds to, and its time."""

    body: dict[str, Any]
    spec: IntakeSpec
    store: IntakeStorage
    settings: S3Settings
    totals: dict[str, int]
    now: datetime


class NotReady(Exception):
    """The pass cannot poll: Ready=False with this reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class IntakeReconciler:
    def __init__(
        self,
        cluster: IntakeCluster,
        config: OperatorConfig,
        *,
        storage_factory: StorageFactory = lambda s, b: S3IntakeStorage(s, b),
        manifest_reader: finish.ManifestReader = read_manifests,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.cluster = cluster
        self.config = config
        self.storage_factory = storage_factory
        self.manifest_reader = manifest_reader
        self.clock = clock
        self._poll_wanted: set[Key] = set()
        self._settled = poll.Settled()

    # ------------------------------------------------------------------ entry points

    def request_poll(self, namespace: str, name: str) -> None:
        """The next pass of this intake lists the bucket (called when a poll is due)."""
        self._poll_wanted.add((namespace, name))

    def reconcile(self, namespace: str, name: str) -> None:
        body = self.cluster.get_intake(namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            self._poll_wanted.discard((namespace, name))
            return
        status: dict[str, Any] = dict(body.get("status") or {})
        now = self.clock()
        generation = body["metadata"].get("generation")
        wants_poll = self._take_poll(namespace, name, status, generation)
        patch: dict[str, Any] = {}
        try:
            spec = IntakeSpec.parse(body.get("spec") or {})
        except (ValidationError, ValueError) as exc:
            self._not_ready(body, status, "InvalidSpec", spec_message(exc), now, patch)
            return
        folders = folders_from_status(status)
        totals = {"done": int(status.get("done") or 0), "failed": int(status.get("failed") or 0)}
        try:
            settings = self.s3_settings(namespace, spec)
            store = self.storage_factory(settings, spec.source.bucket)
            this = _Pass(body, spec, store, settings, totals, now)
            self._follow(this, folders)
            if wants_poll:
                patch["seen"] = self._poll(this, folders)
                patch["lastPollTime"] = iso(now)
        except NotReady as exc:
            patch.update(folder_patch(folders, totals))
            self._not_ready(body, status, exc.reason, exc.message, now, patch)
            return
        except StorageError as exc:
            patch.update(folder_patch(folders, totals))
            if wants_poll:
                patch["lastPollTime"] = iso(now)
            self._not_ready(body, status, "BucketUnreachable", str(exc)[:500], now, patch)
            return
        patch.update(folder_patch(folders, totals))
        if wants_poll:  # only a successful poll says the bucket is fine (a follow-only pass
            # may come right after a failed poll: it must not flip Ready back)
            patch.update(ready_patch(status, spec, now, generation))
        self._write(body, status, patch)

    # ------------------------------------------------------------------ helpers

    def _take_poll(
        self, namespace: str, name: str, status: Mapping[str, Any], generation: int | None
    ) -> bool:
        wanted = (namespace, name) in self._poll_wanted
        self._poll_wanted.discard((namespace, name))
        return wanted or not status.get("lastPollTime") or status.get("observedGeneration") != generation

    def s3_settings(self, namespace: str, spec: IntakeSpec) -> S3Settings:
        src = spec.source
        try:
            check_endpoint("spec.source.endpoint", src.endpoint, self.config)
        except PolicyViolation as exc:
            raise NotReady(exc.reason, exc.message) from None
        secret = self._credentials(namespace, src.credentials_secret)
        try:
            return s3_settings(src, self.config, secret)
        except ValidationError as exc:
            raise NotReady("InvalidSpec", spec_message(exc)) from None

    def _credentials(self, namespace: str, name: str | None) -> dict[str, str] | None:
        if not name:
            return None
        try:
            secret = self.cluster.read_secret(namespace, name)
        except Exception as exc:
            raise NotReady(
                "CredentialsUnavailable",
                f"the Secret {name!r} cannot be read ({getattr(exc, 'status', None) or type(exc).__name__})",
            ) from None
        if not secret.get(SECRET_ACCESS_KEY) or not secret.get(SECRET_SECRET_KEY):
            raise NotReady(
                "CredentialsUnavailable",
                f"the Secret {name!r} needs the keys {SECRET_ACCESS_KEY} and {SECRET_SECRET_KEY}",
            )
        return secret

    def _event(self, body: dict[str, Any], type: str, reason: str, message: str) -> None:
        self.cluster.post_event(body, type, reason, message)

    def _not_ready(
        self,
        body: dict[str, Any],
        status: Mapping[str, Any],
        reason: str,
        message: str,
        now: datetime,
        patch: dict[str, Any],
    ) -> None:
        generation = body["metadata"].get("generation")
        previous: Mapping[str, Any] = next(
            (c for c in status.get("conditions") or [] if c.get("type") == COND_READY), {}
        )
        patch["conditions"] = set_condition(
            status.get("conditions") or [],
            type=COND_READY,
            status=False,
            reason=reason,
            message=message,
            now=now,
            generation=generation,
        )
        patch["message"] = message
        if generation is not None:
            patch["observedGeneration"] = generation
        if previous.get("reason") != reason or previous.get("status") != "False":
            self._event(body, "Warning", reason, message)
        self._write(body, status, patch)
        meta = body["metadata"]
        log.warning("intake %s/%s not ready: %s", meta["namespace"], meta["name"], reason)

    def _write(self, body: dict[str, Any], status: Mapping[str, Any], patch: dict[str, Any]) -> None:
        changed = status_diff(status, patch)
        if changed:
            meta = body["metadata"]
            self.cluster.patch_intake_status(meta["namespace"], meta["name"], changed)

    # ------------------------------------------------------------------ follow

    def _follow(self, this: _Pass, folders: dict[str, FolderEntry]) -> None:
        """The claimed and running folders: a missing batch is created (claimed) or the
        folder fails (deleted by hand); a finished batch finishes its folder."""
        namespace = this.body["metadata"]["namespace"]
        for entry in sorted(folders.values(), key=lambda f: f.name):
            if entry.state not in ACTIVE or not entry.batch:
                continue
            batch = self.cluster.get_batch(namespace, entry.batch)
            if batch is None and entry.state == FolderState.CLAIMED:
                self._create_batch(this.body, this.spec, entry)
            elif batch is None:
                self._batch_deleted(this, entry)
            else:
                entry.state = FolderState.RUNNING
                bstatus = batch.get("status") or {}
                if bstatus.get("phase") in TERMINAL_PHASES:
                    self._finish(this, entry, bstatus)

    def _create_batch(self, body: dict[str, Any], spec: IntakeSpec, entry: FolderEntry) -> None:
        assert entry.batch
        built = batch_for(intake=body, spec=spec, folder=entry.name, name=entry.batch)
        if self.cluster.create_batch(built):
            log.info("created OcrBatch %s/%s", body["metadata"]["namespace"], entry.batch)
        entry.state = FolderState.RUNNING

    def _batch_deleted(self, this: _Pass, entry: FolderEntry) -> None:
        """It ran and is gone: deleted by hand. The folder is not run again."""
        entry.state = FolderState.FAILED
        entry.phase = "Deleted"
        entry.message = "the batch was deleted before it finished"
        entry.finished_at = iso(this.now)
        this.totals["failed"] += 1
        finish.write_done(this.store, this.spec, entry, this.now)
        self._event(
            this.body,
            "Warning",
            "BatchDeleted",
            f"folder {entry.name}: its batch was deleted before it finished",
        )

    def _finish(self, this: _Pass, entry: FolderEntry, bstatus: Mapping[str, Any]) -> None:
        """Apply onSuccess (success only), report late objects, write `_DONE`."""
        body, spec, store, now = this.body, this.spec, this.store, this.now
        phase = str(bstatus.get("phase"))
        plan = finish.settlement(
            store,
            spec,
            entry.name,
            bstatus,
            lambda template, count: self.manifest_reader(this.settings, template, count),
        )
        success = phase in SUCCESS_PHASES
        entry.phase = phase
        entry.late_objects = len(plan.late)
        entry.finished_at = iso(now)
        entry.message = finish.apply_action(store, spec, entry, plan, now, success=success)
        entry.state = FolderState.DONE if success else FolderState.FAILED
        this.totals["done" if success else "failed"] += 1
        if plan.late:
            entry.message += f"; {len(plan.late)} late object(s) left in place"
            self._event(
                body,
                "Warning",
                "LateObjects",
                f"folder {entry.name}: {len(plan.late)} object(s) arrived after the claim and"
                " were not processed; they are left in the folder",
            )
        action = spec.on_success.action if success else "keep"
        self._event(
            body,
            "Normal" if success else "Warning",
            "FolderDone" if success else "FolderFailed",
            f"folder {entry.name}: batch {entry.batch} {phase}; {action}",
        )
        self._settled.add(body, entry.name)

    # ------------------------------------------------------------------ poll

    def _poll(self, this: _Pass, folders: dict[str, FolderEntry]) -> int:
        """List the prefix's folders and look at each one not already followed; the
        number of folders seen."""
        body, spec = this.body, this.spec
        names = poll.folder_names(this.store, spec.source.base)
        poll.drop_vanished(folders, set(names))
        for folder in names:
            entry = folders.get(folder)
            if entry is not None and entry.state in (*ACTIVE, *FINISHED, FolderState.TAKEN):
                continue
            if (body, folder) in self._settled:
                continue
            active = sum(1 for f in folders.values() if f.state in ACTIVE)
            new = self._poll_folder(this, folder, entry, active)
            if new is None:
                folders.pop(folder, None)
                continue
            folders[folder] = new
            if new.state == FolderState.CLAIMED:
                self._create_batch(body, spec, new)
        return len(names)

    def _poll_folder(
        self, this: _Pass, folder: str, entry: FolderEntry | None, active: int
    ) -> FolderEntry | None:
        """One folder's new entry (claimed: its batch is to be created); None: forget it."""
        body, spec, store, now = this.body, this.spec, this.store, this.now
        meta = body["metadata"]
        prefix = f"{spec.source.base}{folder}/"
        marker = poll.claim_marker(store, prefix, str(meta.get("uid") or ""))
        if marker is not None and marker.ours and marker.done:
            self._settled.add(body, folder)
            return None
        if marker is not None and marker.ours and marker.claim is not None:
            # Claimed by us, batch not recorded: a restart between the two.
            return poll.claimed_entry(folder, marker.claim)
        if marker is not None:
            return FolderEntry(name=folder, state=FolderState.TAKEN, message=f"claimed by {marker.owner()}")
        ready, objects, waiting = poll.readiness(spec, store, prefix, entry, now)
        if not ready:
            return waiting
        waiting.message = poll.no_slot(spec, active)
        if waiting.message:
            return waiting
        if objects is None:
            objects = store.list_folder(prefix)
        blocker = poll.nested_claim(store, spec.source.base, objects)
        claim = None if blocker else poll.write_claim(meta, spec, store, folder, objects, now)
        if claim is None:
            message = blocker or "claimed by another intake"
            return FolderEntry(name=folder, state=FolderState.TAKEN, message=message)
        self._event(
            body,
            "Normal",
            "Claimed",
            f"folder {folder}: {claim.objects} object(s) claimed for batch {claim.batch}",
        )
        return poll.claimed_entry(folder, claim)
