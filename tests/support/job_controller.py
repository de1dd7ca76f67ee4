"""The Job controller's part of the pod runner: one Indexed Job's state and its rules.

`IndexedJob` holds what the controller knows about one Job (pending, active, completed and
failed indexes, pod counts, suspension, the verdict) and applies the rules of an Indexed Job
to each pod that ends: `backoffLimitPerIndex`, `backoffLimit`, `maxFailedIndexes`,
`podFailurePolicy` (FailJob, Count, Ignore, FailIndex on exit codes and pod conditions),
`suspend`, and the pod-retry delay (a fixed `retry_delay_s` instead of the exponential
one). `status()` is the Job status it would write. The pods themselves (`PodRun`) are the
kubelet's (`tests/support/kubelet.py`).

An `IndexedJob` does no locking and no I/O: the pod runner calls it under its own lock and
cancels the pods its methods return.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocr_operator.kube import COMPLETION_INDEX_KEY as INDEX_KEY
from ocr_operator.kube import format_index_ranges as format_ranges
from ocr_operator.kube import iso, utcnow
from ocr_operator.quantities import memory_bytes

from tests.support.pods import PodRun


def now() -> str:
    return iso(utcnow())


def _matches_exit_codes(rule: Mapping[str, Any], container: str, code: int) -> bool:
    spec = rule.get("onExitCodes")
    if not spec or code == 0:
        return False
    if spec.get("containerName") and spec["containerName"] != container:
        return False
    inside = code in (spec.get("values") or [])
    return inside if spec.get("operator", "In") == "In" else not inside


def _matches_conditions(rule: Mapping[str, Any], conditions: Iterable[Mapping[str, Any]]) -> bool:
    wanted = rule.get("onPodConditions") or []
    have = {(c.get("type"), c.get("status", "True")) for c in conditions}
    return any((w.get("type"), w.get("status", "True")) in have for w in wanted)


def failure_action(
    rules: Iterable[Mapping[str, Any]],
    container: str,
    exit_code: int,
    conditions: Iterable[Mapping[str, Any]] = (),
) -> tuple[str, int | None]:
    """The podFailurePolicy action for a failed pod ("Count" when no rule matches) and the
    matching rule's position."""
    conditions = list(conditions)
    for position, rule in enumerate(rules):
        if _matches_exit_codes(rule, container, exit_code) or _matches_conditions(rule, conditions):
            return str(rule.get("action", "Count")), position
    return "Count", None


@dataclass
class IndexedJob:
    """One Indexed Job as the controller tracks it (see the module docstring)."""

    uid: str
    namespace: str
    name: str
    body: dict[str, Any]
    completions: int
    parallelism: int
    backoff_per_index: int | None
    backoff_limit: int
    max_failed_indexes: int | None
    rules: list[dict[str, Any]]
    retry_delay_s: float = 1.0
    suspended: bool = False
    pending: deque[int] = field(default_factory=deque)
    not_before: dict[int, float] = field(default_factory=dict)
    active: dict[int, PodRun] = field(default_factory=dict)
    failures: dict[int, int] = field(default_factory=dict)
    completed: set[int] = field(default_factory=set)
    failed: set[int] = field(default_factory=set)
    succeeded_pods: int = 0
    failed_pods: int = 0
    fail_reason: str | None = None
    fail_message: str | None = None
    finished: str | None = None  # "Complete" / "Failed"
    start_time: str | None = None
    completion_time: str | None = None
    suspend_changed: str | None = None
    dirty: bool = True
    last_written: dict[str, Any] | None = None

    @classmethod
    def from_job(cls, job: Mapping[str, Any], retry_delay_s: float) -> IndexedJob:
        spec = job["spec"]
        completions = int(spec.get("completions") or 1)
        per_index = spec.get("backoffLimitPerIndex")
        default_backoff = 2**31 - 1 if per_index is not None else 6
        return cls(
            uid=job["metadata"]["uid"],
            namespace=job["metadata"]["namespace"],
            name=job["metadata"]["name"],
            body=dict(job),
            completions=completions,
            parallelism=int(spec.get("parallelism") or 1),
            backoff_per_index=int(per_index) if per_index is not None else None,
            backoff_limit=int(spec.get("backoffLimit", default_backoff)),
            max_failed_indexes=spec.get("maxFailedIndexes"),
            rules=list((spec.get("podFailurePolicy") or {}).get("rules") or []),
            retry_delay_s=retry_delay_s,
            pending=deque(range(completions)),
        )

    # ------------------------------------------------------------------ scheduling

    def sync_suspend(self, suspend: bool) -> list[PodRun]:
        """Follow the Job's `spec.suspend`; the active pods to stop (suspending deletes
        them; that is not a failure)."""
        if suspend == self.suspended or self.finished:
            return []
        self.suspended = suspend
        self.suspend_changed = now()
        self.dirty = True
        if not suspend:
            self.start_time = now()
            return []
        stopped = []
        for index, pod in list(self.active.items()):
            stopped.append(pod)
            self.pending.appendleft(index)
            del self.active[index]
        return stopped

    def runnable(self) -> bool:
        """Whether pods may start now (not finished, suspended or failing); marks the start."""
        if self.finished or self.suspended or self.fail_reason:
            return False
        if self.start_time is None:
            self.start_time = now()
            self.dirty = True
        return True

    def next_index(self, monotonic_now: float) -> int | None:
        """The first pending index whose retry delay is over, taken off the queue."""
        if len(self.active) >= self.parallelism:
            return None
        ready = [i for i in self.pending if self.not_before.get(i, 0.0) <= monotonic_now]
        if not ready:
            return None
        self.pending.remove(ready[0])
        return ready[0]

    def new_pod(self, index: int, workdir: Path) -> PodRun:
        """The pod of `index` (its name, memory limit, log file), counted active."""
        container = self.body["spec"]["template"]["spec"]["containers"][0]
        limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
        name = f"{self.name}-{index}-{secrets.token_hex(3)}"[:63]
        pod = PodRun(
            name=name,
            namespace=self.namespace,
            job=self.name,
            job_uid=self.uid,
            index=index,
            memory_limit=memory_bytes(str(limit)) if limit else None,
            log_path=workdir / f"{name}.log",
            container=str(container.get("name", "worker")),
        )
        self.active[index] = pod
        self.dirty = True
        return pod

    def pod_object(self, pod: PodRun) -> dict[str, Any]:
        """The Pod the controller creates for `pod` from the Job's template."""
        template = self.body["spec"]["template"]
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        labels.update(
            {
                "batch.kubernetes.io/controller-uid": self.uid,
                "batch.kubernetes.io/job-name": self.name,
                INDEX_KEY: str(pod.index),
                "controller-uid": self.uid,
                "job-name": self.name,
            }
        )
        annotations = dict((template.get("metadata") or {}).get("annotations") or {})
        annotations[INDEX_KEY] = str(pod.index)
        spec = json.loads(json.dumps(template["spec"]))
        spec.update(nodeName="local", hostname=f"{self.name}-{pod.index}")
        owner = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
        return {
            "metadata": {
                "name": pod.name,
                "namespace": self.namespace,
                "labels": labels,
                "annotations": annotations,
                "ownerReferences": [owner],
                "finalizers": [],
            },
            "spec": spec,
            "status": {"phase": "Pending", "qosClass": "Guaranteed"},
        }

    # ------------------------------------------------------------------ outcomes

    def pod_done(self, pod: PodRun) -> list[PodRun]:
        """Count a pod that ended; the other active pods to stop (the Job failed)."""
        if self.active.get(pod.index) is pod:
            del self.active[pod.index]
        self.dirty = True
        stop: list[PodRun] = []
        if not (pod.cancelled or self.finished):
            if pod.exit_code == 0:
                self.succeeded_pods += 1
                self.completed.add(pod.index)
            else:
                self.failed_pods += 1
                stop = self._failed(pod)
        self._maybe_finish()
        return stop

    def _fail(self, reason: str, message: str) -> list[PodRun]:
        self.fail_reason, self.fail_message = reason, message
        return list(self.active.values())

    def _failed(self, pod: PodRun) -> list[PodRun]:
        code = pod.exit_code if pod.exit_code is not None else 128
        action, position = failure_action(self.rules, pod.container, code)
        if action == "FailJob" and not self.fail_reason:
            return self._fail(
                "PodFailurePolicy",
                f"Container worker for pod {pod.namespace}/{pod.name} failed with exit code "
                f"{code} matching FailJob rule at index {position}",
            )
        if action == "Ignore":
            self.pending.append(pod.index)
            return []
        stop: list[PodRun] = []
        if action == "FailIndex":
            self.failed.add(pod.index)
        else:
            stop = self._count_failure(pod.index)
        if self.max_failed_indexes is not None and len(self.failed) > int(self.max_failed_indexes):
            stop = self._fail(
                "MaxFailedIndexesExceeded",
                "Job has exceeded the specified maximal number of failed indexes",
            )
        return stop

    def _count_failure(self, index: int) -> list[PodRun]:
        self.failures[index] = self.failures.get(index, 0) + 1
        if self.backoff_per_index is not None:
            if self.failures[index] > self.backoff_per_index:
                self.failed.add(index)
            else:
                self._requeue(index)
        elif self.failed_pods > self.backoff_limit:
            return self._fail("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        else:
            self._requeue(index)
        return []

    def _requeue(self, index: int) -> None:
        self.pending.append(index)
        self.not_before[index] = time.monotonic() + self.retry_delay_s

    def _maybe_finish(self) -> None:
        if self.finished or self.active:
            return
        if self.fail_reason:
            self.finished = "Failed"
        elif len(self.completed) + len(self.failed) >= self.completions:
            if self.failed:
                self.finished = "Failed"
                self.fail_reason = "FailedIndexes"
                self.fail_message = "Job has failed indexes"
            else:
                self.finished = "Complete"
                self.completion_time = now()
        self.dirty = True

    # ------------------------------------------------------------------ status

    def status(self) -> dict[str, Any]:
        """The Job's status as the controller writes it."""
        status: dict[str, Any] = {
            "active": len(self.active),
            "ready": sum(1 for p in self.active.values() if p.running),
            "terminating": 0,
            "succeeded": self.succeeded_pods,
            "failed": self.failed_pods,
            "completedIndexes": format_ranges(self.completed),
        }
        if self.backoff_per_index is not None:
            status["failedIndexes"] = format_ranges(self.failed)
        if self.start_time:
            status["startTime"] = self.start_time
        conditions = self._conditions()
        if self.finished == "Complete":
            status["completionTime"] = self.completion_time
        if conditions:
            status["conditions"] = conditions
        return status

    def _conditions(self) -> list[dict[str, Any]]:
        conditions: list[dict[str, Any]] = []
        if self.suspend_changed:
            suspended = self.suspended
            conditions.append(
                {
                    "type": "Suspended",
                    "status": "True" if suspended else "False",
                    "reason": "JobSuspended" if suspended else "JobResumed",
                    "message": "Job suspended" if suspended else "Job resumed",
                    "lastTransitionTime": self.suspend_changed,
                }
            )
        if self.finished == "Complete":
            done = "Reached expected number of succeeded pods"
            for kind in ("SuccessCriteriaMet", "Complete"):
                conditions.append(
                    {"type": kind, "status": "True", "reason": "CompletionsReached", "message": done}
                )
        elif self.finished == "Failed":
            for kind in ("FailureTarget", "Failed"):
                conditions.append(
                    {
                        "type": kind,
                        "status": "True",
                        "reason": self.fail_reason,
                        "message": self.fail_message,
                    }
                )
        return conditions
