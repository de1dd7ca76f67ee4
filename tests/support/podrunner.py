"""A local Job controller and kubelet for the end-to-end suite: real worker processes under
real memory limits, against the in-process Kubernetes API of `tests/support/kube.py`.

For every Job in the API (polled), `PodRunner` does what the Job controller and a kubelet do
for an Indexed Job, with at most `parallelism` pods per Job and `max_processes` in all (the
node's capacity):

* the Job controller's part (`tests/support/job_controller.py`, `IndexedJob`): one Pod
  object per completion index, with the labels and annotations Kubernetes sets and an owner
  reference to the Job (so deleting the Job deletes its pods); the Job's status from its
  pods' outcomes, applying `backoffLimitPerIndex`, `backoffLimit`, `maxFailedIndexes`,
  `podFailurePolicy` and `suspend`;
* the kubelet's part (`tests/support/kubelet.py`, `Kubelet`): each pod's container as a
  local process in a memory cgroup of its own (`tests/support/cgroups.py`), its outcome as
  Pod status (Completed/Error/OOMKilled); with `OCRBATCH_E2E_RUNTIME=podman`
  (`tests/support/podman_kubelet.py`, `PodmanKubelet`) as a podman container of the pod's
  image instead (the worker image `make images` builds).

Like a cluster's mutating admission policy (a MutatingAdmissionPolicy or webhook), `add_env`
sets env vars in the container of every pod created afterwards whose labels match (e.g. the
pods of one batch), over the Job template's own; the Job and the operator do not see it.

Not emulated: `ttlSecondsAfterFinished`, `activeDeadlineSeconds`, image pulls, the exponential
pod-retry delay (a fixed `retry_delay_s` instead), node-level eviction.

Use it as a context manager; `stop()` kills every child process group and removes every
cgroup it made.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import kmock

from tests.support.cgroups import (
    CGROUP_PREFIX,
    CgroupError,
    MemoryCgroup,
    cgroups_unavailable,
    own_memory_cgroup,
    reachable_by_others,
)
from tests.support.containers import requested_runtime
from tests.support.job_controller import IndexedJob, failure_action, format_ranges
from tests.support.kube import JOBS, PODS, KubeServer
from tests.support.kubelet import Kubelet
from tests.support.podman_kubelet import PodmanKubelet
from tests.support.pods import PodRun

log = logging.getLogger(__name__)


class PodRunner:
    """The Job controller + kubelet of one node (see the module docstring)."""

    def __init__(
        self,
        kube: KubeServer,
        namespaces: Iterable[str],
        workdir: Path | None = None,
        *,
        max_processes: int = 2,
        extra_env: Mapping[str, str] | None = None,
        poll_s: float = 0.2,
        retry_delay_s: float = 1.0,
        grace_s: float = 5.0,
        honour_run_as: bool = True,
        bin_dir: Path | None = None,
        runtime: str | None = None,
    ) -> None:
        self.kube = kube
        #: "processes" (local processes, `Kubelet`) or "podman" (containers of the pod's
        #: image, `PodmanKubelet`); default: $OCRBATCH_E2E_RUNTIME, else processes.
        self.runtime = runtime or requested_runtime()
        self.namespaces = list(namespaces)
        self.max_processes = max_processes
        self.poll_s = poll_s
        self.retry_delay_s = retry_delay_s
        bin_dir = bin_dir or Path(sys.executable).parent
        # runAsUser only when we are root and that user can reach the interpreter.
        honour_run_as = honour_run_as and os.geteuid() == 0 and reachable_by_others(Path(sys.executable))
        # Outside pytest's 0700 tmp dirs, so a non-root worker can read its kubeconfig.
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="ocrbatch-pods-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o755)
        self.kubeconfig = kube.kubeconfig(self.workdir / "kubeconfig")
        self.kubeconfig.chmod(0o644)
        self.pods: list[PodRun] = []
        self.errors: list[str] = []
        self._jobs: dict[str, IndexedJob] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pod_threads: list[threading.Thread] = []
        self.kubelet = (PodmanKubelet if self.runtime == "podman" else Kubelet)(
            kube,
            self.workdir,
            self.kubeconfig,
            self._stop,
            extra_env=extra_env or {},
            bin_dir=bin_dir,
            honour_run_as=honour_run_as,
            grace_s=grace_s,
        )
        self._live: set[str] = set()
        #: (label selector, env) pairs applied to new pods: see `add_env`.
        self._admitted_env: list[tuple[dict[str, str], dict[str, str]]] = []

    @property
    def honour_run_as(self) -> bool:
        return self.kubelet.honour_run_as

    @property
    def cgroup_paths(self) -> list[Path]:
        """Every cgroup this runner made (see `leftover_cgroups`)."""
        return self.kubelet.cgroup_paths

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> PodRunner:
        self._thread = threading.Thread(target=self._loop, name="podrunner", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Kill every pod process group, wait for the pod threads, remove the cgroups."""
        self._stop.set()
        with self._lock:
            running = [p for p in self.pods if p.running]
            for pod in running:
                pod.cancelled = True
        for pod in running:
            pod.signal(signal.SIGKILL)
        if self._thread is not None:
            self._thread.join(30)
        for thread in list(self._pod_threads):
            thread.join(30)
        self.kubelet.remove_cgroups()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> PodRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ for tests

    def add_env(self, labels: Mapping[str, str], env: Mapping[str, str]) -> None:
        """Set `env` in the first container of every pod created from now on whose labels
        include `labels`, replacing variables of the same name: what a cluster's mutating
        admission policy does at pod creation (e.g. a setting raised for one batch's pods)."""
        with self._lock:
            self._admitted_env.append((dict(labels), dict(env)))

    def runs(self, job: str | None = None) -> list[PodRun]:
        with self._lock:
            return [p for p in self.pods if job is None or p.job == job]

    def running(self) -> list[PodRun]:
        with self._lock:
            return [p for p in self.pods if p.running]

    def kill(self, pod_name: str, sig: int = signal.SIGKILL) -> bool:
        """Signal a pod's process from outside (a crash, a node-level kill)."""
        with self._lock:
            pod = next((p for p in self.pods if p.name == pod_name), None)
        return pod is not None and pod.signal(sig)

    def leftover_cgroups(self) -> list[Path]:
        """Cgroups this runner made that still exist (none after `stop()`)."""
        return [path for path in self.cgroup_paths if path.exists()]

    def logs(self) -> str:
        """Every pod's output (stdout + stderr), pod by pod."""
        with self._lock:
            pods = list(self.pods)
        return "\n".join(f"--- pod {p.name}\n{p.log_text()}" for p in pods)

    # ------------------------------------------------------------------ the controller loop

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception as exc:  # keep going; the test sees it in `errors`
                log.exception("pod runner tick failed")
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self._stop.wait(self.poll_s)

    def _list_jobs(self) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = []
        for namespace in self.namespaces:
            jobs += self.kube.list(JOBS, namespace)
        return sorted(jobs, key=lambda j: int(j["metadata"]["resourceVersion"]))

    def _tick(self) -> None:
        jobs = self._list_jobs()
        seen = set()
        with self._lock:
            for job in jobs:
                uid = job["metadata"]["uid"]
                seen.add(uid)
                state = self._jobs.get(uid)
                if state is None:
                    state = self._jobs[uid] = IndexedJob.from_job(job, self.retry_delay_s)
                state.body = job
                self._cancel(state.sync_suspend(bool(job["spec"].get("suspend"))))
            for uid in list(self._jobs):
                if uid not in seen:  # the Job was deleted: its pods go (cascade) and stop
                    self._cancel(self._jobs.pop(uid).active.values())
            ordered = list(self._jobs.values())
        for state in ordered:
            self._schedule(state)
        for state in ordered:
            self._write_job_status(state)

    def _cancel(self, pods: Iterable[PodRun]) -> None:
        for pod in pods:
            self.kubelet.cancel(pod)

    def _schedule(self, state: IndexedJob) -> None:
        with self._lock:
            if self._stop.is_set() or not state.runnable():
                return
            now = time.monotonic()
            # `_live`: pods holding a slot of the node, started and not yet cleaned up.
            while len(self._live) < self.max_processes:
                index = state.next_index(now)
                if index is None:
                    return
                pod = state.new_pod(index, self.workdir)
                self.pods.append(pod)
                self._live.add(pod.name)
                thread = threading.Thread(
                    target=self._run_pod, args=(state, pod), name=f"pod-{pod.name}", daemon=True
                )
                self._pod_threads.append(thread)
                thread.start()

    # ------------------------------------------------------------------ one pod

    def _run_pod(self, state: IndexedJob, pod: PodRun) -> None:
        try:
            obj = self.kube.create(PODS, self._admit(state.pod_object(pod)))
            self.kubelet.run(pod, obj)
        except Exception as exc:
            log.exception("pod %s failed to run", pod.name)
            self.errors.append(f"pod {pod.name}: {type(exc).__name__}: {exc}")
            self.kubelet.start_error(pod, exc)
        finally:
            with self._lock:
                self._cancel(state.pod_done(pod))
                self._live.discard(pod.name)

    def _admit(self, pod_obj: dict[str, Any]) -> dict[str, Any]:
        """Apply the `add_env` policies whose selector the new pod's labels match."""
        labels = pod_obj["metadata"]["labels"]
        container = pod_obj["spec"]["containers"][0]
        with self._lock:
            policies = [
                env
                for selector, env in self._admitted_env
                if all(labels.get(k) == v for k, v in selector.items())
            ]
        for env in policies:
            kept = [var for var in container.get("env") or [] if var["name"] not in env]
            container["env"] = kept + [{"name": k, "value": v} for k, v in env.items()]
        return pod_obj

    def _write_job_status(self, state: IndexedJob) -> None:
        with self._lock:
            if not state.dirty:
                return
            state.dirty = False
            status = state.status()
        if status == state.last_written:
            return
        try:
            self.kube.patch(JOBS, state.namespace, state.name, {"status": status}, "status")
            state.last_written = status
        except kmock.KubernetesError:
            pass  # deleted meanwhile


def summary_rows(runs: Iterable[PodRun]) -> list[dict[str, Any]]:
    """One row per pod for a printed summary."""
    rows = []
    for run in runs:
        limit, rss, peak = run.memory_limit, run.max_rss_bytes, run.peak_bytes
        rows.append(
            {
                "pod": run.name,
                "index": run.index,
                "limit_mib": None if limit is None else limit // 2**20,
                "exit": run.exit_code,
                "reason": run.reason,
                "wall_s": None if run.wall_s is None else round(run.wall_s, 1),
                "peak_rss_mib": None if rss is None else round(rss / 2**20),
                "cgroup_peak_mib": None if peak is None else round(peak / 2**20),
            }
        )
    return rows


__all__ = [
    "CGROUP_PREFIX",
    "CgroupError",
    "IndexedJob",
    "Kubelet",
    "MemoryCgroup",
    "PodRun",
    "PodRunner",
    "cgroups_unavailable",
    "failure_action",
    "format_ranges",
    "own_memory_cgroup",
    "summary_rows",
]
