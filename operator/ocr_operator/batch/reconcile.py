"""One level-triggered pass over one OcrBatch: read the batch, its Jobs and pods; plan, create
or retry Jobs, merge; write the status. Idempotent: running it twice changes nothing more,
and an operator restarted at any point picks up from the status (and the shard-sets object
it names, `setstore`: written before the status).

Ordering that makes restarts safe: an attempt is recorded in the status *before* its Job is
created (the Job name is deterministic, so a repeated create is a harmless 409).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ocr_job.config import S3Settings
from ocr_operator.batch.jobs import Attempt, build_job, job_name, worker_identity
from ocr_operator.batch.jobs import manifest_template as manifest_url
from ocr_operator.batch.model import BatchSpec
from ocr_operator.batch.oom import decide_retry, job_outcome, oom_kills
from ocr_operator.batch.ownership import (
    REASON_IDENTITY_CONFLICT,
    REASON_INVALID_SPEC,
    BatchStopped,
    own_plan,
)
from ocr_operator.batch.policy import PolicyViolation, check_batch
from ocr_operator.batch.progress import (
    Ending,
    Pass,
    Progress,
    attempt_to_status,
    failed_patch,
    new_oom_kills,
    progress_of,
    status_patch,
)
from ocr_operator.batch.s3 import s3_settings
from ocr_operator.batch.setstore import REBUILT as SETS_REBUILT
from ocr_operator.batch.setstore import load_sets, save_sets
from ocr_operator.batch.status import (
    TERMINAL,
    Counts,
    Phase,
    conditions_for,
    derive_phase,
    phase_event,
)
from ocr_operator.batch.storage import BatchStorage, S3BatchStorage
from ocr_operator.batch.tally import Live, Tally, counts_of, inputs_in, read_tally
from ocr_operator.cluster import Cluster
from ocr_operator.config import OperatorConfig
from ocr_operator.kube import format_index_ranges, iso, status_diff, utcnow
from ocr_operator.messages import SafeError, safe_error
from ocr_operator.metrics import Metrics

log = logging.getLogger(__name__)

StorageFactory = Callable[[BatchSpec, S3Settings], BatchStorage]


def parse_spec(body: Mapping[str, Any]) -> BatchSpec:
    """The spec, or BatchStopped(InvalidSpec) naming the first error (never its value)."""
    try:
        return BatchSpec.parse(body.get("spec") or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"invalid spec: {exc.error_count()} error(s), first: {where}: {first['msg']}"
        raise BatchStopped(REASON_INVALID_SPEC, message) from None


class Reconciler:
    def __init__(
        self,
        cluster: Cluster,
        config: OperatorConfig,
        *,
        storage_factory: StorageFactory = S3BatchStorage,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.cluster = cluster
        self.config = config
        self.storage_factory = storage_factory
        self.metrics = metrics or Metrics(None)
        self.clock = clock

    # ------------------------------------------------------------------ helpers

    def s3_settings(self, namespace: str, spec: BatchSpec) -> S3Settings:
        secret = None
        if spec.source.credentials_secret:
            secret = self.cluster.read_secret(namespace, spec.source.credentials_secret)
        return s3_settings(spec.source, self.config, secret)

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
        if status.get("phase") in TERMINAL:
            self.metrics.set_phase(namespace, name, status["phase"])
            return str(status["phase"])
        now = self.clock()
        p = Pass(body, status, now, body["metadata"].get("generation"))
        try:
            spec = parse_spec(body)
            # What the batch asks of the cluster is checked before it is used: here (the
            # source endpoint) and before each Job (the spec may change in between).
            if status.get("shardCount") is None:
                check_batch(spec, self.config)
                p = Pass(body, self._plan(p, spec), now, p.generation)
            jobs = self.cluster.list_jobs(namespace, name)
            p = self._read_sets(p, spec, jobs)
            progress = progress_of(name, p.status, jobs, self.config.max_shards_per_job)
            pods = self.cluster.list_pods(namespace, name)
            kills = oom_kills(pods, progress.attempts, progress.shard_of_pod)
            patch = self._record_oom_kills(p, kills)
            self._retry(p, spec, progress, kills, patch)
            self._ensure_job(p, spec, progress)
        except (PolicyViolation, BatchStopped) as exc:
            self._finish_failed(p, exc.message, exc.reason)
            return Phase.FAILED
        ending = self._merge(p, spec, progress)
        return self._write_status(p, spec, progress, ending, patch)

    # ------------------------------------------------------------------ steps

    def _plan(self, p: Pass, spec: BatchSpec) -> dict[str, Any]:
        """List once, write the manifests, freeze total and shard count; the status with
        the plan recorded."""
        status = dict(p.status)
        if status.get("phase") != Phase.PLANNING:
            first = {
                "phase": str(Phase.PLANNING),
                "startTime": status.get("startTime") or iso(p.now),
                "conditions": conditions_for(
                    status.get("conditions") or [],
                    phase=Phase.PLANNING,
                    counts=Counts(0, 0, 0, 0),
                    shard_count=None,
                    message=None,
                    now=p.now,
                    generation=p.generation,
                ),
            }
            self._patch(p.namespace, p.name, first)
            status.update(first)
            self._event(p.body, "Normal", "Planning", "listing the source")
        try:
            plan = own_plan(self.storage(p.namespace, spec), p.body["metadata"], spec)
        except BatchStopped:
            raise
        except Exception as exc:
            message = f"planning failed: {safe_error(exc)}"
            self._patch(p.namespace, p.name, {"message": message})
            raise SafeError(message) from None
        first_attempt = Attempt(number=0, memory=spec.resources.memory)
        planned = {
            "total": plan.total,
            "shardCount": plan.shard_count,
            "manifests": manifest_url(spec),
            "attempts": [attempt_to_status(p.name, first_attempt)],
            "jobs": [job_name(p.name, 0)],
            "message": None,
        }
        self._patch(p.namespace, p.name, planned)
        self._event(p.body, "Normal", "Planned", f"{plan.total} inputs in {plan.shard_count} shards")
        status.update({k: v for k, v in planned.items() if v is not None})
        status.pop("message", None)
        return status

    def _record_oom_kills(self, p: Pass, kills: list[Any]) -> dict[str, Any]:
        """OOM kills to the status and as Events, once per pod; the status fields."""
        new, patch = new_oom_kills(p.status, kills)
        for kill in new:
            self._event(
                p.body,
                "Warning",
                "OOMKilled",
                f"shard {kill.shard} (attempt {kill.attempt}) ran out of memory at {kill.memory}",
            )
            self.metrics.oom_kills.inc()
        return patch

    def _retry(
        self,
        p: Pass,
        spec: BatchSpec,
        progress: Progress,
        kills: list[Any],
        oom_patch: dict[str, Any],
    ) -> None:
        """Retry the latest attempt's OOM-killed shards with more memory: the new attempt
        (and the kills that caused it) is recorded in the status before its Job exists
        (restart-safe; whoever sees the retry Job sees why)."""
        shard_count = int(p.status["shardCount"])
        if progress.job_failed or not shard_count:
            return
        latest = progress.latest
        decision = decide_retry(latest, progress.outcomes[latest.number], kills, spec.retry, progress.done)
        if decision is None:
            return
        progress.failed_for_good |= decision.given_up
        progress.message = decision.message
        if decision.attempt is None:
            return
        progress.attempts.append(decision.attempt)
        progress.outcomes[decision.attempt.number] = job_outcome(None, decision.attempt)
        progress.retry_pending = True
        patch = {**oom_patch, **progress.attempts_status(p.name), "message": progress.message}
        self._write(p, spec, {**patch, "failedShards": format_index_ranges(progress.failed_for_good)})
        self._event(p.body, "Warning", "Retrying", progress.message or "retrying")

    def _ensure_job(self, p: Pass, spec: BatchSpec, progress: Progress) -> None:
        """The latest attempt's Jobs exist (with their workers' identity) and follow
        spec.suspend, while shards remain. Its parts run one after the other: part k's Job
        is made once the parts before it finished (spec.parallelism holds for the batch)."""
        shard_count = int(p.status["shardCount"])
        if (
            not shard_count
            or progress.all_done(shard_count)
            or progress.job_failed
            or progress.latest_outcome.finished
        ):
            return
        latest = progress.latest
        outcomes = progress.part_outcomes(p.name, latest)
        for part, outcome in enumerate(outcomes):
            job = progress.jobs.get(job_name(p.name, latest.number, part))
            if job is not None or outcome.finished:  # finished: a Job gone once all was done
                if job is not None and not outcome.finished:
                    self._sync_suspend(p.namespace, job, spec)
                continue
            if not all(o.finished for o in outcomes[:part]):
                return
            self._create_job(p, spec, shard_count, latest, part)
            return

    def _create_job(self, p: Pass, spec: BatchSpec, shard_count: int, attempt: Attempt, part: int) -> None:
        check_batch(spec, self.config)
        self._ensure_identity(p.body, spec)
        built = build_job(
            owner=p.body,
            spec=spec,
            shard_count=shard_count,
            attempt=attempt,
            config=self.config,
            part=part,
        )
        if self.cluster.create_job(built):
            self.metrics.jobs_created.inc()
            log.info("created Job %s/%s", p.namespace, built["metadata"]["name"])

    def _merge(self, p: Pass, spec: BatchSpec, progress: Progress) -> Ending:
        """Once the shards stopped: merge the records into results.jsonl / results.csv."""
        total, shard_count = int(p.status["total"]), int(p.status["shardCount"])
        finished = progress.latest_outcome.finished and not progress.retry_pending
        all_done = progress.all_done(shard_count)
        given_up = bool(progress.failed_for_good) or progress.job_failed or (finished and not all_done)
        tally, live = self._tally(p, spec, progress)
        done_inputs = inputs_in(progress.done, total=total, size=spec.shard_size, shard_count=shard_count)
        counts = counts_of(total=total, done_inputs=done_inputs, tally=tally, live=live)
        message = progress.message
        stopped = all_done or finished or progress.job_failed
        if not (stopped and (all_done or progress.done)):
            return Ending(counts, all_done, False, given_up, message, None, tally, live)
        try:
            storage = self.storage(p.namespace, spec)
            summary = storage.merge()
        except Exception as exc:  # a storage outage: retried on the next pass
            if all_done and not given_up:
                raise
            log.warning("merge of %s/%s failed: %s", p.namespace, p.name, safe_error(exc))
            return Ending(counts, all_done, False, given_up, message, None, tally, live)
        counts = Counts(
            total=total,
            processed=min(summary.records, total),
            succeeded=summary.ok,
            failed=summary.errors,
        )
        if all_done and summary.records < total:
            given_up = True
            message = f"{total - summary.records} input(s) have no record"
        return Ending(counts, all_done, True, given_up, message, storage.results(), tally, live)

    def _tally(self, p: Pass, spec: BatchSpec, progress: Progress) -> tuple[Tally, Live]:
        """The shard files' part of the counts (`batch/tally.py`); on a storage error, what
        the status had (the next pass reads again)."""
        try:
            storage = self.storage(p.namespace, spec)
            finished = progress.latest_outcome.finished
            return read_tally(
                p.status,
                shard_size_=spec.shard_size,
                parallelism=spec.parallelism,
                done=progress.done,
                given_up=progress.failed_for_good,
                running=() if finished else progress.latest.indexes,
                read=storage.read_json,
            )
        except Exception as exc:
            log.warning("reading the shard files of %s/%s failed: %s", p.namespace, p.name, safe_error(exc))
            return Tally.from_status(p.status), Live()

    def _write_status(
        self,
        p: Pass,
        spec: BatchSpec,
        progress: Progress,
        ending: Ending,
        patch: dict[str, Any],
    ) -> str:
        """The phase, counts and conditions of this pass to the status, metrics, Events."""
        phase = derive_phase(
            planned=True,
            suspended=spec.suspend,
            all_done=ending.all_done,
            merged=ending.merged,
            failed_items=ending.counts.failed,
            given_up=ending.given_up,
            retry_pending=progress.retry_pending,
        )
        patch = {**patch, **status_patch(p, phase, progress, ending)}
        self._write(p, spec, patch)
        self.metrics.set_phase(p.namespace, p.name, phase)
        self.metrics.set_progress(p.namespace, p.name, ending.counts)
        message = patch.get("message", ending.message)
        event = phase_event(p.status.get("phase"), phase, ending.counts, message)
        if event:
            self._event(p.body, *event)
        return str(phase)

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

    def _finish_failed(self, p: Pass, message: str, reason: str) -> None:
        self._patch(p.namespace, p.name, failed_patch(p, message, reason))
        if p.status.get("phase") != Phase.FAILED:
            self._event(p.body, "Warning", reason, message)
        log.warning("batch %s/%s failed: %s", p.namespace, p.name, reason)

    def _patch(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self.cluster.patch_batch_status(namespace, name, patch)

    def _read_sets(self, p: Pass, spec: BatchSpec, jobs: list[dict[str, Any]]) -> Pass:
        """The pass with its status in full form (`setstore.load_sets`)."""
        p, lost = load_sets(p, spec, lambda: self.storage(p.namespace, spec), jobs)
        if lost:
            self._event(p.body, "Warning", "ShardSetsRebuilt", SETS_REBUILT)
        return p

    def _write(self, p: Pass, spec: BatchSpec, patch: dict[str, Any]) -> None:
        """The changed fields of `patch` (full form) to the status (`setstore.save_sets`)."""
        fields = save_sets(p, lambda: self.storage(p.namespace, spec), patch)
        changed = status_diff(p.stored_status, fields)
        if changed:
            self._patch(p.namespace, p.name, changed)
