"""One level-triggered pass over one OcrBatch: read the batch, its Jobs and pods; plan, create
or retry Jobs, merge; write the status. Idempotent: running it twice changes nothing more,
and an operator restarted at any point picks up from the status.

Ordering that makes restarts safe: an attempt is recorded in the status *before* its Job is
created (the Job name is deterministic, so a repeated create is a harmless 409).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from ocr_job.config import S3Settings
from ocr_operator.cluster import Cluster
from ocr_operator.config import OperatorConfig
from ocr_operator.jobs import (
    SECRET_ACCESS_KEY,
    SECRET_SECRET_KEY,
    Attempt,
    build_job,
    job_name,
    worker_identity,
)
from ocr_operator.jobs import manifest_template as manifest_url
from ocr_operator.messages import SafeError, safe_error
from ocr_operator.metrics import Metrics
from ocr_operator.model import BatchSpec, spec_digest
from ocr_operator.oom import decide_retry, job_outcome, oom_kills, parse_index_ranges
from ocr_operator.planner import Plan, PlanOwner, make_plan, matches
from ocr_operator.policy import PolicyViolation, check_batch
from ocr_operator.status import (
    TERMINAL,
    Counts,
    Phase,
    aggregate,
    conditions_for,
    derive_phase,
    phase_event,
    shard_sizes,
)
from ocr_operator.storage import BatchStorage, S3BatchStorage

log = logging.getLogger(__name__)

MAX_OOM_ENTRIES = 50
#: Condition reasons (and Event reasons) of a batch that stops before its workers start.
REASON_INVALID_SPEC = "InvalidSpec"
REASON_OUTPUT_IN_USE = "OutputInUse"
REASON_IDENTITY_CONFLICT = "IdentityConflict"
StorageFactory = Callable[[BatchSpec, S3Settings], BatchStorage]


class BatchStopped(Exception):
    """The batch cannot go on (a foreign plan, an identity it does not own): it fails with
    this condition reason and message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def iso(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def format_index_ranges(indexes: Iterable[int]) -> str:
    """{1, 3, 4, 5} -> "1,3-5" (the Job's completedIndexes format)."""
    ordered = sorted(set(indexes))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def attempts_from_status(status: Mapping[str, Any]) -> list[Attempt]:
    result = []
    for entry in status.get("attempts") or []:
        indexes = entry.get("indexes")
        result.append(
            Attempt(
                number=int(entry["attempt"]),
                memory=str(entry["memory"]),
                indexes=tuple(int(i) for i in indexes) if indexes is not None else None,
                reason=entry.get("reason"),
            )
        )
    return sorted(result, key=lambda a: a.number)


def attempt_to_status(batch: str, attempt: Attempt) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "attempt": attempt.number,
        "job": job_name(batch, attempt.number),
        "memory": attempt.memory,
    }
    if attempt.indexes is not None:
        entry["indexes"] = list(attempt.indexes)
    if attempt.reason:
        entry["reason"] = attempt.reason
    return entry


class Reconciler:
    def __init__(
        self,
        cluster: Cluster,
        config: OperatorConfig,
        *,
        storage_factory: StorageFactory = S3BatchStorage,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.cluster = cluster
        self.config = config
        self.storage_factory = storage_factory
        self.metrics = metrics or Metrics(None)
        self.clock = clock

    # ------------------------------------------------------------------ helpers

    def s3_settings(self, namespace: str, spec: BatchSpec) -> S3Settings:
        values: dict[str, Any] = {}
        endpoint = spec.source.endpoint or self.config.s3_endpoint
        if endpoint:
            values["endpoint"] = endpoint
            if endpoint.startswith("https://"):
                values["secure"] = True
        if spec.source.secure is not None:
            values["secure"] = spec.source.secure
        if spec.source.region:
            values["region"] = spec.source.region
        if spec.source.credentials_secret:
            secret = self.cluster.read_secret(namespace, spec.source.credentials_secret)
            values["access_key"] = secret.get(SECRET_ACCESS_KEY)
            values["secret_key"] = secret.get(SECRET_SECRET_KEY)
        return S3Settings(**values)

    def storage(self, namespace: str, spec: BatchSpec) -> BatchStorage:
        return self.storage_factory(spec, self.s3_settings(namespace, spec))

    def _event(self, body: dict[str, Any], type: str, reason: str, message: str) -> None:
        self.cluster.post_event(body, type, reason, message)

    # ------------------------------------------------------------------ the pass

    def reconcile(self, namespace: str, name: str) -> str | None:
        started = time.perf_counter()
        try:
            return self._reconcile(namespace, name)
        except Exception:
            self.metrics.reconcile_errors.inc()
            raise
        finally:
            self.metrics.reconcile_seconds.observe(time.perf_counter() - started)

    def _reconcile(self, namespace: str, name: str) -> str | None:
        body = self.cluster.get_batch(namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            self.metrics.forget(namespace, name)
            return None
        status: dict[str, Any] = dict(body.get("status") or {})
        old_phase = status.get("phase")
        if old_phase in TERMINAL:
            self.metrics.set_phase(namespace, name, old_phase)
            return str(old_phase)
        now = self.clock()
        generation = body["metadata"].get("generation")
        try:
            spec = BatchSpec.parse(body.get("spec") or {})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            message = f"invalid spec: {exc.error_count()} error(s), first: {where}: {first['msg']}"
            self._finish_failed(body, status, message, now, generation, REASON_INVALID_SPEC)
            return Phase.FAILED
        # 1. The plan: list once, write the manifests, freeze total and shard count. What
        # the batch asks of the cluster is checked before it is used: here (the source
        # endpoint) and before each Job (the spec may change in between).
        if status.get("shardCount") is None:
            try:
                check_batch(spec, self.config)
                status = self._plan(body, spec, status, now, generation)
            except (PolicyViolation, BatchStopped) as exc:
                self._finish_failed(body, status, exc.message, now, generation, exc.reason)
                return Phase.FAILED

        total = int(status["total"])
        shard_count = int(status["shardCount"])
        sizes = shard_sizes(total, spec.shard_size, shard_count)
        attempts = attempts_from_status(status)
        jobs = {j["metadata"]["name"]: j for j in self.cluster.list_jobs(namespace, name)}
        outcomes = {
            a.number: job_outcome(jobs.get(job_name(name, a.number)), a) for a in attempts
        }
        done = parse_index_ranges(status.get("completedShards"))
        for outcome in outcomes.values():
            done |= outcome.completed
        failed_for_good = parse_index_ranges(status.get("failedShards")) - done
        message: str | None = status.get("message")
        job_failed = any(o.job_failed for o in outcomes.values())
        if job_failed:
            first = next(o for o in outcomes.values() if o.job_failed)
            message = f"worker Job failed: {first.reason or 'unknown'}"
            if first.message:
                message += f": {first.message[:200]}"

        # 2. OOM kills: to the status and as Events, once per pod.
        patch: dict[str, Any] = {}
        kills = oom_kills(self.cluster.list_pods(namespace, name), attempts)
        known = {e.get("pod") for e in status.get("oomKills") or []}
        new_kills = [k for k in kills if k.pod not in known]
        if new_kills:
            for kill in new_kills:
                self._event(
                    body,
                    "Warning",
                    "OOMKilled",
                    f"shard {kill.shard} (attempt {kill.attempt}) ran out of memory"
                    f" at {kill.memory}",
                )
                self.metrics.oom_kills.inc()
            entries = list(status.get("oomKills") or []) + [k.to_status() for k in new_kills]
            patch["oomKills"] = entries[-MAX_OOM_ENTRIES:]
            patch["oomKillCount"] = int(status.get("oomKillCount") or 0) + len(new_kills)

        # 3. Retry the latest attempt's OOM-killed shards with more memory.
        latest = attempts[-1]
        retry_pending = False
        if not job_failed and shard_count:
            decision = decide_retry(latest, outcomes[latest.number], kills, spec.retry, done)
            if decision is not None:
                failed_for_good |= decision.given_up
                message = decision.message
                if decision.attempt is not None:
                    attempts.append(decision.attempt)
                    retry_pending = True
                    self._patch(
                        namespace,
                        name,
                        {
                            "attempts": [attempt_to_status(name, a) for a in attempts],
                            "jobs": [job_name(name, a.number) for a in attempts],
                            "failedShards": format_index_ranges(failed_for_good),
                            "message": message,
                        },
                    )
                    self._event(body, "Warning", "Retrying", message or "retrying")
                    latest = decision.attempt
                    outcomes[latest.number] = job_outcome(None, latest)

        # 4. The latest attempt's Job exists (with its workers' identity) and follows
        # spec.suspend.
        latest_outcome = outcomes[latest.number]
        all_done = done >= set(range(shard_count))
        if shard_count and not all_done and not job_failed and not latest_outcome.finished:
            latest_name = job_name(name, latest.number)
            job = jobs.get(latest_name)
            if job is None:
                try:
                    check_batch(spec, self.config)
                    self._ensure_identity(body, spec)
                except (PolicyViolation, BatchStopped) as exc:
                    self._finish_failed(body, status, exc.message, now, generation, exc.reason)
                    return Phase.FAILED
                built = build_job(
                    owner=body, spec=spec, shard_count=shard_count, attempt=latest,
                    config=self.config,
                )
                if self.cluster.create_job(built):
                    self.metrics.jobs_created.inc()
                    log.info("created Job %s/%s", namespace, latest_name)
            else:
                self._sync_suspend(namespace, job, spec)

        # 5. Finished: merge the records into results.jsonl / results.csv.
        stopped = all_done or (
            latest_outcome.finished and not retry_pending
        ) or job_failed
        given_up = bool(failed_for_good) or job_failed or (
            latest_outcome.finished and not retry_pending and not all_done
        )
        counts = aggregate(
            status.get("shards") or {}, total=total, shard_sizes=sizes, done=done
        )
        merged = False
        if stopped and (all_done or done):
            try:
                storage = self.storage(namespace, spec)
                summary = storage.merge()
            except Exception as exc:  # a storage outage: retried on the next pass
                if all_done and not given_up:
                    raise
                log.warning("merge of %s/%s failed: %s", namespace, name, exc)
            else:
                merged = True
                patch["results"] = storage.results()
                counts = Counts(
                    total=total,
                    processed=min(summary.records, total),
                    succeeded=summary.ok,
                    failed=summary.errors,
                )
                if all_done and summary.records < total:
                    given_up = True
                    message = f"{total - summary.records} input(s) have no record"
        elif shard_count == 0:
            all_done = True
            merged = True
            patch["results"] = self.storage(namespace, spec).results()

        phase = derive_phase(
            planned=True,
            suspended=spec.suspend,
            all_done=all_done,
            merged=merged,
            failed_items=counts.failed,
            given_up=given_up,
            retry_pending=retry_pending,
        )
        if phase == Phase.FAILED and not message:
            message = "some shards could not finish"
        patch.update(
            phase=str(phase),
            total=total,
            processed=counts.processed,
            succeeded=counts.succeeded,
            failed=counts.failed,
            progress=counts.progress,
            completedShards=format_index_ranges(done),
            failedShards=format_index_ranges(failed_for_good),
            attempts=[attempt_to_status(name, a) for a in attempts],
            jobs=[job_name(name, a.number) for a in attempts],
            conditions=conditions_for(
                status.get("conditions") or [],
                phase=phase,
                counts=counts,
                shard_count=shard_count,
                message=message,
                now=now,
                generation=generation,
            ),
        )
        if generation is not None:
            patch["observedGeneration"] = generation
        if message and phase in (Phase.FAILED, Phase.RUNNING):
            patch["message"] = message
        if phase in TERMINAL and not status.get("completionTime"):
            patch["completionTime"] = iso(now)
        self._write(body, status, patch)
        self.metrics.set_phase(namespace, name, phase)
        self.metrics.set_progress(namespace, name, counts)
        event = phase_event(old_phase, phase, counts, message)
        if event:
            self._event(body, *event)
        return str(phase)

    # ------------------------------------------------------------------ steps

    def _plan(
        self,
        body: dict[str, Any],
        spec: BatchSpec,
        status: dict[str, Any],
        now: datetime,
        generation: int | None,
    ) -> dict[str, Any]:
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        if status.get("phase") != Phase.PLANNING:
            first = {
                "phase": str(Phase.PLANNING),
                "startTime": status.get("startTime") or iso(now),
                "conditions": conditions_for(
                    status.get("conditions") or [],
                    phase=Phase.PLANNING,
                    counts=Counts(0, 0, 0, 0),
                    shard_count=None,
                    message=None,
                    now=now,
                    generation=generation,
                ),
            }
            self._patch(namespace, name, first)
            status.update(first)
            self._event(body, "Normal", "Planning", "listing the source")
        try:
            storage = self.storage(namespace, spec)
            plan = self._own_plan(storage, body, spec)
        except BatchStopped:
            raise
        except Exception as exc:
            message = f"planning failed: {safe_error(exc)}"
            self._patch(namespace, name, {"message": message})
            raise SafeError(message) from None
        first_attempt = Attempt(number=0, memory=spec.resources.memory)
        planned = {
            "total": plan.total,
            "shardCount": plan.shard_count,
            "manifests": manifest_url(spec),
            "attempts": [attempt_to_status(name, first_attempt)],
            "jobs": [job_name(name, 0)],
            "message": None,
        }
        self._patch(namespace, name, planned)
        self._event(
            body, "Normal", "Planned", f"{plan.total} inputs in {plan.shard_count} shards"
        )
        status.update({k: v for k, v in planned.items() if v is not None})
        status.pop("message", None)
        return status

    def _own_plan(self, storage: BatchStorage, body: dict[str, Any], spec: BatchSpec) -> Plan:
        """This batch's plan: reused when complete and made from this spec, else made now
        under a claim. A plan of any other batch (or one without an owner, or unreadable)
        stops the batch: its manifests are never read."""
        meta = body["metadata"]
        uid = str(meta.get("uid") or "")
        owner = PlanOwner(uid=uid, namespace=meta["namespace"], name=meta["name"])
        digest = spec_digest(spec)
        found = self._read_plan(storage, body)
        if found is not None and found.reusable_by(uid, digest):
            return found
        if found is None:
            storage.create_plan(Plan.claim(owner, digest, spec.shard_size))
        # Read back: after a lost race (or a server that ignores If-None-Match), whose is it?
        self._check_owner(self._read_plan(storage, body), body)
        plan = make_plan(
            (k for k in storage.list_keys() if matches(k, spec.source.include)),
            shard_size=spec.shard_size,
            write_manifest=storage.write_manifest,
            owner=owner,
            spec_digest=digest,
        )
        # A server that ignores If-None-Match lets two claims through: the last one wins.
        self._check_owner(self._read_plan(storage, body), body)
        storage.write_plan(plan)
        return plan

    def _read_plan(self, storage: BatchStorage, body: Mapping[str, Any]) -> Plan | None:
        try:
            return storage.read_plan()
        except ValueError:
            raise BatchStopped(
                REASON_OUTPUT_IN_USE,
                "the output prefix holds a _manifests/plan.json this batch cannot read;"
                " it is not reused: choose another output prefix or remove _manifests/",
            ) from None

    def _check_owner(self, plan: Plan | None, body: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        if plan is not None and plan.owned_by(str(meta.get("uid") or "")):
            return
        if plan is None:
            whose = "a plan that vanished while planning"
        elif plan.owner is None:
            whose = "the plan of an older batch (no owner recorded)"
        elif (plan.owner.namespace, plan.owner.name) == (meta["namespace"], meta["name"]):
            whose = f"the plan of an earlier batch of this name (uid {plan.owner.uid})"
        elif plan.owner.namespace == meta["namespace"]:
            whose = f"the plan of the batch {plan.owner.name} (uid {plan.owner.uid})"
        else:
            whose = "the plan of a batch in another namespace"
        raise BatchStopped(
            REASON_OUTPUT_IN_USE,
            f"the output prefix holds {whose}; an output prefix belongs to one batch:"
            " choose another output prefix, or remove its _manifests/ folder",
        )

    def _ensure_identity(self, body: dict[str, Any], spec: BatchSpec) -> None:
        for obj in worker_identity(body, spec):
            if not self.cluster.ensure_owned(obj):
                raise BatchStopped(
                    REASON_IDENTITY_CONFLICT,
                    f"a {obj['kind']} named {obj['metadata']['name']} exists and is not this"
                    " batch's; rename the batch or remove that object",
                )

    def _sync_suspend(self, namespace: str, job: Mapping[str, Any], spec: BatchSpec) -> None:
        current = bool((job.get("spec") or {}).get("suspend"))
        wanted = spec.suspend
        if spec.queue_name and not wanted:
            return  # Kueue owns un-suspending a queued Job
        if current != wanted:
            self.cluster.patch_job(namespace, job["metadata"]["name"], {"spec": {"suspend": wanted}})
            log.info("Job %s suspend=%s", job["metadata"]["name"], wanted)

    def _finish_failed(
        self,
        body: dict[str, Any],
        status: Mapping[str, Any],
        message: str,
        now: datetime,
        generation: int | None,
        reason: str,
    ) -> None:
        counts = Counts(int(status.get("total") or 0), 0, 0, 0)
        patch = {
            "phase": str(Phase.FAILED),
            "message": message,
            "completionTime": iso(now),
            "conditions": conditions_for(
                status.get("conditions") or [],
                phase=Phase.FAILED,
                counts=counts,
                shard_count=status.get("shardCount"),
                message=message,
                now=now,
                generation=generation,
                failed_reason=reason,
            ),
        }
        meta = body["metadata"]
        self._patch(meta["namespace"], meta["name"], patch)
        if status.get("phase") != Phase.FAILED:
            self._event(body, "Warning", reason, message)
        log.warning("batch %s/%s failed: %s", meta["namespace"], meta["name"], reason)

    def _patch(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self.cluster.patch_batch_status(namespace, name, patch)

    def _write(
        self, body: dict[str, Any], status: Mapping[str, Any], patch: dict[str, Any]
    ) -> None:
        changed = {k: v for k, v in patch.items() if status.get(k) != v}
        if changed:
            meta = body["metadata"]
            self._patch(meta["namespace"], meta["name"], changed)
