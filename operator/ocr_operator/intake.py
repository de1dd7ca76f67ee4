"""OcrIntake: drop folders in a bucket become OcrBatches by themselves (docs/intake.md).

One level-triggered pass per intake (`IntakeReconciler.reconcile`), run by the operator's
coalescing `Scheduler`, like the batches. Two kinds of work in a pass:

* **follow** (every pass, Kubernetes only): the folders the status says are claimed or
  running: create a claimed folder's batch if it is missing; when a batch has finished,
  apply `onSuccess` and record the outcome;
* **poll** (when due): list the prefix's folders; for each ready folder that nobody has
  claimed, write the claim marker (first writer wins), then create the batch.

Polling is not a kopf timer (kopf puts a finalizer on resources with timers or daemons,
so deletion would hang with the operator down): an asyncio loop (`IntakeRuntime.run`)
asks for a poll of each intake every `spec.pollIntervalSeconds` and pokes the scheduler.

Ordering that makes restarts safe: claim marker first, then the batch (deterministic name,
so a repeated create is a harmless 409). A folder whose claim names this intake but that
has no batch gets one on the next poll.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import kopf
from pydantic import ValidationError

from ocr_job.config import S3Settings
from ocr_job.storage.base import StorageError, manifest_text
from ocr_operator import GROUP, VERSION
from ocr_operator.config import OperatorConfig
from ocr_operator.intake_model import (
    ACTIVE,
    CLAIM_KEYS,
    CLAIM_MARKER,
    DONE_MARKER,
    FINISHED,
    INTAKE_KIND,
    INTAKE_PLURAL,
    LABEL_INTAKE,
    SUCCESS_PHASES,
    TERMINAL_PHASES,
    Claim,
    FolderEntry,
    FolderState,
    IntakeSpec,
    ObjectInfo,
    ancestors,
    batch_for,
    batch_name,
    counts,
    fingerprint,
    folder_of,
    folders_from_status,
    folders_to_status,
    foreign_claims_below,
    inputs_of,
    keys_hash,
    parse_claim,
    quiet_readiness,
    settle,
)
from ocr_operator.intake_storage import IntakeStorage, S3IntakeStorage, read_manifests
from ocr_operator.jobs import SECRET_ACCESS_KEY, SECRET_SECRET_KEY
from ocr_operator.policy import PolicyViolation, check_endpoint
from ocr_operator.scheduler import Scheduler
from ocr_operator.status import set_condition

if TYPE_CHECKING:
    from ocr_operator.handlers import OperatorState

log = logging.getLogger(__name__)

Key = tuple[str, str]
#: Seconds between two looks at which intakes are due for a poll (no API call).
TICK_SECONDS = 1.0
#: A folder found claimed elsewhere or finished is not looked at again for this long.
SETTLED_TTL_S = 600.0

COND_READY = "Ready"
COND_SUSPENDED = "Suspended"


class IntakeCluster(Protocol):
    def get_intake(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def list_intakes(self) -> list[dict[str, Any]]: ...

    def patch_intake_status(self, namespace: str, name: str, patch: dict[str, Any]) -> None: ...

    def get_batch(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def create_batch(self, body: dict[str, Any]) -> bool: ...

    def read_secret(self, namespace: str, name: str) -> dict[str, str]: ...

    def post_event(
        self, batch: dict[str, Any], type: str, reason: str, message: str
    ) -> None: ...


StorageFactory = Callable[[S3Settings, str], IntakeStorage]
ManifestReader = Callable[[S3Settings, str, int], set[str]]


def iso(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


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
        manifest_reader: ManifestReader = read_manifests,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.cluster = cluster
        self.config = config
        self.storage_factory = storage_factory
        self.manifest_reader = manifest_reader
        self.clock = clock
        self._poll_wanted: set[Key] = set()
        self._settled: dict[tuple[str, str, str], float] = {}

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
        poll = self._take_poll(namespace, name, status, generation)
        patch: dict[str, Any] = {}
        try:
            spec = IntakeSpec.parse(body.get("spec") or {})
        except (ValidationError, ValueError) as exc:
            self._not_ready(body, status, "InvalidSpec", _spec_message(exc), now, patch)
            return
        folders = folders_from_status(status)
        totals = {"done": int(status.get("done") or 0), "failed": int(status.get("failed") or 0)}
        try:
            settings = self.s3_settings(namespace, spec)
            store = self.storage_factory(settings, spec.source.bucket)
            self._follow(body, spec, store, settings, folders, totals, now)
            if poll:
                patch["seen"] = self._poll(body, spec, store, folders, now)
                patch["lastPollTime"] = iso(now)
        except NotReady as exc:
            patch.update(self._folder_patch(folders, totals))
            self._not_ready(body, status, exc.reason, exc.message, now, patch)
            return
        except StorageError as exc:
            patch.update(self._folder_patch(folders, totals))
            if poll:
                patch["lastPollTime"] = iso(now)
            self._not_ready(body, status, "BucketUnreachable", str(exc)[:500], now, patch)
            return
        patch.update(self._folder_patch(folders, totals))
        if poll:  # only a successful poll says the bucket is fine (a follow-only pass may
            # come right after a failed poll: it must not flip Ready back)
            conds = set_condition(
                status.get("conditions") or [], type=COND_READY, status=True,
                reason="Polling", message=f"polling every {spec.poll_interval_seconds}s",
                now=now, generation=generation,
            )
            patch["conditions"] = set_condition(
                conds, type=COND_SUSPENDED, status=spec.suspend,
                reason="Suspended" if spec.suspend else "NotSuspended",
                message="spec.suspend is true: no new folder is claimed" if spec.suspend else "",
                now=now, generation=generation,
            )
            patch["message"] = None
            if generation is not None:
                patch["observedGeneration"] = generation
        self._write(body, status, patch)

    # ------------------------------------------------------------------ helpers

    def _take_poll(
        self, namespace: str, name: str, status: Mapping[str, Any], generation: int | None
    ) -> bool:
        wanted = (namespace, name) in self._poll_wanted
        self._poll_wanted.discard((namespace, name))
        return (
            wanted
            or not status.get("lastPollTime")
            or status.get("observedGeneration") != generation
        )

    def s3_settings(self, namespace: str, spec: IntakeSpec) -> S3Settings:
        values: dict[str, Any] = {}
        src = spec.source
        try:
            check_endpoint("spec.source.endpoint", src.endpoint, self.config)
        except PolicyViolation as exc:
            raise NotReady(exc.reason, exc.message) from None
        endpoint = src.endpoint or self.config.s3_endpoint
        if endpoint:
            values["endpoint"] = endpoint
            if endpoint.startswith("https://"):
                values["secure"] = True
        if src.secure is not None:
            values["secure"] = src.secure
        if src.region:
            values["region"] = src.region
        if src.credentials_secret:
            try:
                secret = self.cluster.read_secret(namespace, src.credentials_secret)
            except Exception as exc:
                raise NotReady(
                    "CredentialsUnavailable",
                    f"the Secret {src.credentials_secret!r} cannot be read"
                    f" ({getattr(exc, 'status', None) or type(exc).__name__})",
                ) from None
            if not secret.get(SECRET_ACCESS_KEY) or not secret.get(SECRET_SECRET_KEY):
                raise NotReady(
                    "CredentialsUnavailable",
                    f"the Secret {src.credentials_secret!r} needs the keys"
                    f" {SECRET_ACCESS_KEY} and {SECRET_SECRET_KEY}",
                )
            values["access_key"] = secret[SECRET_ACCESS_KEY]
            values["secret_key"] = secret[SECRET_SECRET_KEY]
        try:
            return S3Settings(**values)
        except ValidationError as exc:
            raise NotReady("InvalidSpec", _spec_message(exc)) from None

    def _event(self, body: dict[str, Any], type: str, reason: str, message: str) -> None:
        self.cluster.post_event(body, type, reason, message)

    def _folder_patch(
        self, folders: Mapping[str, FolderEntry], totals: Mapping[str, int]
    ) -> dict[str, Any]:
        return {"folders": folders_to_status(folders), **counts(folders), **totals}

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
        previous = next(
            (c for c in status.get("conditions") or [] if c.get("type") == COND_READY), {}
        )
        patch["conditions"] = set_condition(
            status.get("conditions") or [], type=COND_READY, status=False, reason=reason,
            message=message, now=now, generation=generation,
        )
        patch["message"] = message
        if generation is not None:
            patch["observedGeneration"] = generation
        if previous.get("reason") != reason or previous.get("status") != "False":
            self._event(body, "Warning", reason, message)
        self._write(body, status, patch)
        log.warning(
            "intake %s/%s not ready: %s", body["metadata"]["namespace"],
            body["metadata"]["name"], reason,
        )

    def _write(
        self, body: dict[str, Any], status: Mapping[str, Any], patch: dict[str, Any]
    ) -> None:
        changed = {k: v for k, v in patch.items() if status.get(k) != v}
        if changed:
            meta = body["metadata"]
            self.cluster.patch_intake_status(meta["namespace"], meta["name"], changed)

    def _settled_key(self, body: Mapping[str, Any], folder: str) -> tuple[str, str, str]:
        return (body["metadata"]["namespace"], body["metadata"]["name"], folder)

    def _is_settled(self, body: Mapping[str, Any], folder: str) -> bool:
        until = self._settled.get(self._settled_key(body, folder))
        return until is not None and until > time.monotonic()

    def _settle(self, body: Mapping[str, Any], folder: str) -> None:
        self._settled[self._settled_key(body, folder)] = time.monotonic() + SETTLED_TTL_S

    # ------------------------------------------------------------------ follow

    def _follow(
        self,
        body: dict[str, Any],
        spec: IntakeSpec,
        store: IntakeStorage,
        settings: S3Settings,
        folders: dict[str, FolderEntry],
        totals: dict[str, int],
        now: datetime,
    ) -> None:
        namespace = body["metadata"]["namespace"]
        for entry in sorted(folders.values(), key=lambda f: f.name):
            if entry.state not in ACTIVE or not entry.batch:
                continue
            batch = self.cluster.get_batch(namespace, entry.batch)
            if batch is None:
                if entry.state == FolderState.CLAIMED:
                    self._create_batch(body, spec, entry)
                    continue
                # It ran and is gone: deleted by hand. Do not run the folder again.
                entry.state = FolderState.FAILED
                entry.phase = "Deleted"
                entry.message = "the batch was deleted before it finished"
                entry.finished_at = iso(now)
                totals["failed"] += 1
                self._write_done(store, spec, entry, now)
                self._event(
                    body, "Warning", "BatchDeleted",
                    f"folder {entry.name}: its batch was deleted before it finished",
                )
                continue
            entry.state = FolderState.RUNNING
            phase = (batch.get("status") or {}).get("phase")
            if phase in TERMINAL_PHASES:
                self._finish(body, spec, store, settings, entry, batch, totals, now)

    def _create_batch(self, body: dict[str, Any], spec: IntakeSpec, entry: FolderEntry) -> None:
        assert entry.batch
        built = batch_for(intake=body, spec=spec, folder=entry.name, name=entry.batch)
        if self.cluster.create_batch(built):
            log.info("created OcrBatch %s/%s", body["metadata"]["namespace"], entry.batch)
        entry.state = FolderState.RUNNING

    def _finish(
        self,
        body: dict[str, Any],
        spec: IntakeSpec,
        store: IntakeStorage,
        settings: S3Settings,
        entry: FolderEntry,
        batch: Mapping[str, Any],
        totals: dict[str, int],
        now: datetime,
    ) -> None:
        """Apply onSuccess (success only), report late objects, write `_DONE`. Every step
        is idempotent: a pass interrupted half-way is finished by the next one."""
        bstatus = batch.get("status") or {}
        phase = str(bstatus.get("phase"))
        prefix = f"{spec.source.base}{entry.name}/"
        current = [o.key for o in store.list_folder(prefix)]
        claimed_lines = store.read_lines(prefix + CLAIM_KEYS)
        claimed = set(claimed_lines) if claimed_lines is not None else None
        processed: set[str] = set()
        template, shard_count = bstatus.get("manifests"), bstatus.get("shardCount")
        if template and shard_count:
            processed = {
                k[len(prefix) :]
                for k in self.manifest_reader(settings, str(template), int(shard_count))
                if k.startswith(prefix)
            }
        plan = settle(current, claimed=claimed, processed=processed, reserved=spec.reserved_names)
        success = phase in SUCCESS_PHASES
        action = spec.on_success.action if success else "keep"
        entry.phase = phase
        entry.late_objects = len(plan.late)
        entry.finished_at = iso(now)
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
            self._write_done(store, spec, entry, now, key=dest + DONE_MARKER, action=action)
            entry.message = f"archived {len(plan.move)} object(s)"
        elif action == "delete":
            for key in plan.move:
                store.delete(prefix + key)
            if not plan.late:
                for key in plan.markers:
                    store.delete(prefix + key)
            entry.message = f"deleted {len(plan.move)} object(s)"
        else:
            entry.message = "kept in place" if success else "batch failed: the folder is kept"
        if plan.late or action == "keep":
            self._write_done(store, spec, entry, now, action=action)
        entry.state = FolderState.DONE if success else FolderState.FAILED
        totals["done" if success else "failed"] += 1
        if plan.late:
            entry.message += f"; {len(plan.late)} late object(s) left in place"
            self._event(
                body, "Warning", "LateObjects",
                f"folder {entry.name}: {len(plan.late)} object(s) arrived after the claim and"
                " were not processed; they are left in the folder",
            )
        self._event(
            body,
            "Normal" if success else "Warning",
            "FolderDone" if success else "FolderFailed",
            f"folder {entry.name}: batch {entry.batch} {phase}; {action}",
        )
        self._settle(body, entry.name)

    def _write_done(
        self,
        store: IntakeStorage,
        spec: IntakeSpec,
        entry: FolderEntry,
        now: datetime,
        *,
        key: str | None = None,
        action: str = "keep",
    ) -> None:
        record = {
            "batch": entry.batch,
            "phase": entry.phase,
            "action": action,
            "lateObjects": entry.late_objects or 0,
            "finishedAt": iso(now),
        }
        target = key or f"{spec.source.base}{entry.name}/{DONE_MARKER}"
        store.put(target, json.dumps(record, indent=1).encode())

    # ------------------------------------------------------------------ poll

    def _poll(
        self,
        body: dict[str, Any],
        spec: IntakeSpec,
        store: IntakeStorage,
        folders: dict[str, FolderEntry],
        now: datetime,
    ) -> int:
        meta = body["metadata"]
        uid = str(meta.get("uid") or "")
        base = spec.source.base
        names = [n for n in (folder_of(p, base) for p in store.list_folders(base)) if n]
        present = set(names)
        for name, entry in list(folders.items()):
            if entry.state in (FolderState.WAITING, FolderState.TAKEN) and name not in present:
                del folders[name]
        active = sum(1 for f in folders.values() if f.state in ACTIVE)
        for folder in names:
            entry = folders.get(folder)
            if entry is not None and entry.state in (*ACTIVE, *FINISHED, FolderState.TAKEN):
                continue
            if self._is_settled(body, folder):
                continue
            prefix = f"{base}{folder}/"
            text = store.read(prefix + CLAIM_MARKER)
            if text is not None:
                claim = parse_claim(text)
                if claim is not None and claim.owned_by(uid):
                    if store.exists(prefix + DONE_MARKER):
                        self._settle(body, folder)
                        folders.pop(folder, None)
                        continue
                    # Claimed by us, batch not recorded: a restart between the two.
                    folders[folder] = FolderEntry(
                        name=folder, state=FolderState.CLAIMED, batch=claim.batch,
                        objects=claim.objects, claimed_at=claim.claimed_at,
                    )
                    active += 1
                    self._create_batch(body, spec, folders[folder])
                    continue
                owner = claim.intake if claim is not None and claim.intake else "another writer"
                folders[folder] = FolderEntry(
                    name=folder, state=FolderState.TAKEN, message=f"claimed by {owner}"
                )
                continue
            ready, objects, waiting = self._readiness(spec, store, prefix, entry, now)
            if not ready:
                folders[folder] = waiting
                continue
            if spec.suspend or active >= spec.max_concurrent_batches:
                waiting.message = (
                    "intake suspended" if spec.suspend
                    else "ready; waiting for a free slot"
                    f" (maxConcurrentBatches={spec.max_concurrent_batches})"
                )
                folders[folder] = waiting
                continue
            if objects is None:
                objects = store.list_folder(prefix)
            blocker = self._nested_claim(store, base, objects)
            if blocker:
                folders[folder] = FolderEntry(
                    name=folder, state=FolderState.TAKEN, message=blocker
                )
                continue
            claim = self._claim(body, spec, store, folder, objects, now)
            if claim is None:
                folders[folder] = FolderEntry(
                    name=folder, state=FolderState.TAKEN, message="claimed by another intake"
                )
                continue
            entry = FolderEntry(
                name=folder, state=FolderState.CLAIMED, batch=claim.batch,
                objects=claim.objects, claimed_at=claim.claimed_at,
            )
            folders[folder] = entry
            active += 1
            self._event(
                body, "Normal", "Claimed",
                f"folder {folder}: {claim.objects} object(s) claimed for batch {claim.batch}",
            )
            self._create_batch(body, spec, entry)
        return len(names)

    def _readiness(
        self,
        spec: IntakeSpec,
        store: IntakeStorage,
        prefix: str,
        entry: FolderEntry | None,
        now: datetime,
    ) -> tuple[bool, list[ObjectInfo] | None, FolderEntry]:
        name = prefix.rstrip("/").rsplit("/", 1)[-1]
        readiness = spec.readiness
        if readiness.mode == "marker":
            ready = store.exists(prefix + readiness.marker)
            return ready, None, FolderEntry(
                name=name, state=FolderState.WAITING,
                message="ready" if ready else f"waiting for the marker {readiness.marker}",
            )
        objects = store.list_folder(prefix)
        inputs = inputs_of(objects, spec.reserved_names)
        decision = quiet_readiness(
            current=fingerprint(inputs),
            previous=entry.fingerprint if entry else None,
            since=parse_iso(entry.since) if entry else None,
            now=now,
            quiet_seconds=readiness.quiet_seconds,
            empty=not inputs,
        )
        waiting = FolderEntry(
            name=name, state=FolderState.WAITING, objects=len(inputs),
            fingerprint=decision.fingerprint, since=iso(decision.since),
            message=decision.message,
        )
        return decision.ready, objects, waiting

    def _nested_claim(
        self, store: IntakeStorage, base: str, objects: list[ObjectInfo]
    ) -> str | None:
        """Overlap rule, nested prefixes: a folder holding a claimed sub-folder, or inside
        a claimed folder, belongs to whoever claimed that one."""
        below = foreign_claims_below(objects)
        if below:
            return "a sub-folder is claimed by another intake"
        for parent in ancestors(base):
            if store.exists(parent + CLAIM_MARKER):
                return "an enclosing folder is claimed by another intake"
        return None

    def _claim(
        self,
        body: dict[str, Any],
        spec: IntakeSpec,
        store: IntakeStorage,
        folder: str,
        objects: list[ObjectInfo],
        now: datetime,
    ) -> Claim | None:
        """Write `_CLAIMED` if absent (If-None-Match: *), read it back (servers that ignore
        the precondition: the last writer wins the read-back), then the key list."""
        meta = body["metadata"]
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


def _spec_message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"invalid spec: {where}: {first['msg']}"[:500]
    return f"invalid spec: {exc}"[:500]


# --------------------------------------------------------------------------- the poll clock


class PollClock:
    """Which intakes are due for a poll (in memory; the status keeps lastPollTime)."""

    def __init__(self) -> None:
        self.intervals: dict[Key, float] = {}
        self.next_due: dict[Key, float] = {}

    def track(self, key: Key, interval: float, now: float) -> None:
        old = self.intervals.get(key)
        self.intervals[key] = max(1.0, float(interval))
        if old is None:
            self.next_due[key] = now  # a new intake is polled at once
        elif old != self.intervals[key]:
            self.next_due[key] = min(self.next_due.get(key, now), now + self.intervals[key])

    def forget(self, key: Key) -> None:
        self.intervals.pop(key, None)
        self.next_due.pop(key, None)

    def due(self, now: float) -> list[Key]:
        keys = sorted(k for k, t in self.next_due.items() if t <= now)
        for key in keys:
            self.next_due[key] = now + self.intervals[key]
        return keys


def _interval_of(body: Mapping[str, Any]) -> float:
    try:
        return float((body.get("spec") or {}).get("pollIntervalSeconds") or 60)
    except (TypeError, ValueError):
        return 60.0


class IntakeRuntime:
    """The intake side of one operator: reconciler, scheduler, poll clock and loop."""

    def __init__(self, cluster: IntakeCluster, config: OperatorConfig) -> None:
        self.cluster = cluster
        self.config = config
        self.reconciler = IntakeReconciler(cluster, config)
        self.scheduler = Scheduler(self.reconciler.reconcile)
        self.clock = PollClock()
        self.task: asyncio.Task[None] | None = None

    def observe(self, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace")), str(meta.get("name")))
        self.clock.track(key, _interval_of(body), time.monotonic())

    def forget(self, namespace: str, name: str) -> None:
        self.clock.forget((namespace, name))

    def poke(self, namespace: str | None, name: str | None) -> None:
        if namespace and name:
            self.scheduler.poke(namespace, name)

    async def run(self) -> None:
        last_resync = time.monotonic()
        while True:
            await asyncio.sleep(TICK_SECONDS)
            now = time.monotonic()
            if now - last_resync >= self.config.resync_seconds:
                last_resync = now
                try:  # a backstop for missed watch events
                    for body in await asyncio.to_thread(self.cluster.list_intakes):
                        self.observe(body)
                except Exception as exc:
                    log.warning("listing intakes failed: %s", exc)
            for namespace, name in self.clock.due(now):
                self.reconciler.request_poll(namespace, name)
                self.scheduler.poke(namespace, name)

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.scheduler.close()


def _owner_intake(meta: Mapping[str, Any]) -> str | None:
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == INTAKE_KIND and str(ref.get("apiVersion", "")).startswith(GROUP):
            return str(ref.get("name"))
    return None


def register_intake(registry: kopf.OperatorRegistry, state: OperatorState) -> None:
    """Register the OcrIntake handlers next to the OcrBatch ones (handlers.register)."""

    @kopf.on.startup(registry=registry)
    async def intake_startup(**_: Any) -> None:
        from ocr_operator.cluster import KubeCluster, load_api_client

        factory = state.cluster_factory or (
            lambda: KubeCluster(load_api_client(), state.namespaces)
        )
        runtime = IntakeRuntime(factory(), state.config)  # type: ignore[arg-type]
        runtime.task = asyncio.get_running_loop().create_task(runtime.run())
        state.intake = runtime

    @kopf.on.cleanup(registry=registry)
    async def intake_cleanup(**_: Any) -> None:
        if state.intake is not None:
            await state.intake.close()

    @kopf.on.event(GROUP, VERSION, INTAKE_PLURAL, registry=registry)
    async def intake_event(
        type: str | None, body: kopf.Body, name: str | None, namespace: str | None, **_: Any
    ) -> None:
        runtime = state.intake
        if runtime is None or not namespace or not name:
            return
        if type == "DELETED":
            runtime.forget(namespace, name)
            return
        runtime.observe(body)
        runtime.poke(namespace, name)

    @kopf.on.event(
        GROUP, VERSION, "ocrbatches", labels={LABEL_INTAKE: kopf.PRESENT}, registry=registry
    )
    async def intake_batch_event(meta: kopf.Meta, namespace: str | None, **_: Any) -> None:
        if state.intake is not None:
            state.intake.poke(namespace, _owner_intake(meta))
