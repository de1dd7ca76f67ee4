"""A local Job controller and kubelet for the end-to-end suite: real worker processes under
real memory limits, against the in-process Kubernetes API of `tests/support/kube.py`.

For every Job in the API (polled), `PodRunner` does what the Job controller and a kubelet do
for an Indexed Job:

* one Pod object per completion index, at most `parallelism` per Job and `max_processes` in
  all (the node's capacity), with the labels and annotations Kubernetes sets
  (`batch.kubernetes.io/job-completion-index`, `job-name`, `controller-uid`, …) and an owner
  reference to the Job (so deleting the Job deletes its pods);
* the pod's container runs as a local process: `command` resolved in this venv's `bin/`,
  `args` as given, the env resolved (`value`, `secretKeyRef` from Secrets in the API,
  `fieldRef`), `JOB_COMPLETION_INDEX`, `KUBECONFIG` pointing at the API (so the worker's
  status patches reach it), every `emptyDir` mount mapped to a fresh directory (so `HOME=/tmp`
  lands in the pod's own temp dir), `runAsUser`/`runAsGroup` honoured when we are root;
* the process runs in a memory cgroup of its own (a child of this process's cgroup, v1 or
  v2) limited to the container's `limits.memory`: above it the kernel OOM-kills it, and the
  pod reports `OOMKilled` because the cgroup's `oom_kill` counter rose, as a kubelet does;
* the outcome goes back as Pod status (`containerStatuses[0].state.terminated` with
  `exitCode` and `reason` Completed/Error/OOMKilled) and Job status (`active`, `succeeded`,
  `failed`, `completedIndexes`, `failedIndexes`, conditions `Complete`/`Failed`), applying
  `backoffLimitPerIndex`, `backoffLimit`, `maxFailedIndexes`, `podFailurePolicy` (FailJob,
  Count, Ignore, FailIndex on exit codes and pod conditions) and `suspend`.

Like a cluster's mutating admission policy (a MutatingAdmissionPolicy or webhook), `add_env`
sets env vars in the container of every pod created afterwards whose labels match (e.g. the
pods of one batch), over the Job template's own; the Job and the operator do not see it.

Not emulated: `ttlSecondsAfterFinished`, `activeDeadlineSeconds`, image pulls, the exponential
pod-retry delay (a fixed `retry_delay_s` instead), node-level eviction.

Use it as a context manager; `stop()` kills every child process group and removes every
cgroup it made.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kmock
from ocr_operator.kube import COMPLETION_INDEX_KEY as INDEX_KEY
from ocr_operator.kube import format_index_ranges as format_ranges
from ocr_operator.kube import iso, utcnow
from ocr_operator.quantities import memory_bytes

from tests.support import started
from tests.support.kube import JOBS, PODS, SECRETS, KubeServer

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
#: Prefix of every cgroup this module creates (so leftovers are recognisable).
CGROUP_PREFIX = "ocrbatch-pod-"
_UNLIMITED = 1 << 60


def _now() -> str:
    return iso(utcnow())


# ---------------------------------------------------------------------------- cgroups


class CgroupError(RuntimeError):
    pass


def own_memory_cgroup(proc_self: Path = Path("/proc/self/cgroup")) -> tuple[int, Path]:
    """(cgroup version, directory) of this process's memory cgroup."""
    lines = proc_self.read_text().splitlines()
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            directory = CGROUP_ROOT / "memory" / path.lstrip("/")
            if directory.is_dir():
                return 1, directory
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            directory = CGROUP_ROOT / path.lstrip("/")
            if (directory / "cgroup.controllers").is_file():
                return 2, directory
    raise CgroupError("no memory cgroup found for this process")


class MemoryCgroup:
    """A child memory cgroup of ours with a hard limit; `procs` takes a pid."""

    def __init__(self, name: str, limit_bytes: int | None) -> None:
        self.version, parent = own_memory_cgroup()
        if self.version == 2:
            controls = parent / "cgroup.subtree_control"
            if "memory" not in controls.read_text().split():
                try:
                    controls.write_text("+memory")
                except OSError as exc:
                    raise CgroupError(
                        f"cannot enable the memory controller below {parent}: {exc}"
                    ) from exc
        self.path = parent / name
        try:
            self.path.mkdir()
        except OSError as exc:
            raise CgroupError(f"cannot create the cgroup {self.path}: {exc}") from exc
        self.limit_bytes = limit_bytes
        if limit_bytes is not None:
            name = "memory.limit_in_bytes" if self.version == 1 else "memory.max"
            (self.path / name).write_text(str(limit_bytes))
            if self.version == 1:
                # No swap escape hatch either (where swap accounting exists).
                with contextlib.suppress(OSError):
                    (self.path / "memory.memsw.limit_in_bytes").write_text(str(limit_bytes))

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    def _counter(self, filename: str, key: str) -> int:
        try:
            text = (self.path / filename).read_text()
        except OSError:
            return 0
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
        return 0

    def oom_kills(self) -> int:
        if self.version == 1:
            return self._counter("memory.oom_control", "oom_kill")
        return self._counter("memory.events", "oom_kill")

    def peak_bytes(self) -> int | None:
        name = "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"
        try:
            return int((self.path / name).read_text().strip())
        except (OSError, ValueError):
            return None

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in self.procs.read_text().split()]
        except OSError:
            return []

    def remove(self, timeout_s: float = 10.0) -> None:
        """Kill whatever is left in it, then rmdir (retried while the kernel lets go)."""
        deadline = time.monotonic() + timeout_s
        while True:
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError as exc:
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def _vm_hwm(pid: int) -> int:
    """The peak RSS of a live process (VmHWM, bytes); 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def reachable_by_others(path: Path) -> bool:
    """Whether a user other than the owner can traverse to and execute `path` (its real
    location; a venv's python is often a link into a 0700 home)."""
    real = path.resolve()
    return all(p.stat().st_mode & 0o001 for p in [real, *real.parents])


def cgroups_unavailable() -> str | None:
    """Why memory cgroups cannot be used here, or None when they can."""
    if os.geteuid() != 0:
        return "memory cgroups need root"
    try:
        group = MemoryCgroup(f"{CGROUP_PREFIX}probe-{secrets.token_hex(3)}", 64 << 20)
    except (CgroupError, OSError) as exc:
        return f"cannot create a memory cgroup: {exc}"
    group.remove()
    return None


# ---------------------------------------------------------------------------- pods


@dataclass
class PodRun:
    """One pod: what ran, under which limit, and how it ended."""

    name: str
    namespace: str
    job: str
    job_uid: str
    index: int
    memory_limit: int | None
    log_path: Path
    container: str = "worker"
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    pid: int | None = None
    exit_code: int | None = None
    reason: str | None = None
    #: The cgroup's peak usage (RSS + page cache charged to it), bytes.
    peak_bytes: int | None = None
    #: The process's peak resident set size (VmHWM, sampled every 0.1 s), bytes.
    max_rss_bytes: int | None = None
    #: Stopped by the controller (suspend, FailJob, Job deleted, stop): not an outcome.
    cancelled: bool = False
    _alive: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def running(self) -> bool:
        return self._alive

    @property
    def wall_s(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def signal(self, sig: int) -> bool:
        """Signal the pod's process group; False when it is not running."""
        with self._lock:
            if not self._alive or self.pid is None:
                return False
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)
            return True


@dataclass
class _JobState:
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
    rules: Iterable[Mapping[str, Any]], container: str, exit_code: int,
    conditions: Iterable[Mapping[str, Any]] = (),
) -> tuple[str, int | None]:
    """The podFailurePolicy action for a failed pod ("Count" when no rule matches) and the
    matching rule's position."""
    conditions = list(conditions)
    for position, rule in enumerate(rules):
        if _matches_exit_codes(rule, container, exit_code) or _matches_conditions(rule, conditions):
            return str(rule.get("action", "Count")), position
    return "Count", None


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
    ) -> None:
        self.kube = kube
        self.namespaces = list(namespaces)
        self.max_processes = max_processes
        self.extra_env = dict(extra_env or {})
        self.poll_s = poll_s
        self.retry_delay_s = retry_delay_s
        self.grace_s = grace_s
        self.bin_dir = bin_dir or Path(sys.executable).parent
        # runAsUser only when we are root and that user can reach the interpreter.
        self.honour_run_as = (
            honour_run_as and os.geteuid() == 0 and reachable_by_others(Path(sys.executable))
        )
        # Outside pytest's 0700 tmp dirs, so a non-root worker can read its kubeconfig.
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="ocrbatch-pods-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o755)
        self.kubeconfig = kube.kubeconfig(self.workdir / "kubeconfig")
        self.kubeconfig.chmod(0o644)
        self.pods: list[PodRun] = []
        self.errors: list[str] = []
        self._jobs: dict[str, _JobState] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pod_threads: list[threading.Thread] = []
        self._cgroups: set[MemoryCgroup] = set()
        #: Every cgroup this runner made (see `leftover_cgroups`).
        self.cgroup_paths: list[Path] = []
        self._live: set[str] = set()
        #: (label selector, env) pairs applied to new pods: see `add_env`.
        self._admitted_env: list[tuple[dict[str, str], dict[str, str]]] = []

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
        for group in list(self._cgroups):
            with contextlib.suppress(OSError):
                group.remove()
            self._cgroups.discard(group)
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
                    state = self._jobs[uid] = self._new_state(job)
                state.body = job
                self._sync_suspend(state, bool(job["spec"].get("suspend")))
            for uid in list(self._jobs):
                if uid not in seen:  # the Job was deleted: its pods go (cascade) and stop
                    state = self._jobs.pop(uid)
                    for pod in state.active.values():
                        self._cancel(pod)
            ordered = list(self._jobs.values())
        for state in ordered:
            self._schedule(state)
        for state in ordered:
            self._write_job_status(state)

    def _new_state(self, job: Mapping[str, Any]) -> _JobState:
        spec = job["spec"]
        completions = int(spec.get("completions") or 1)
        per_index = spec.get("backoffLimitPerIndex")
        default_backoff = 2**31 - 1 if per_index is not None else 6
        return _JobState(
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
            pending=deque(range(completions)),
        )

    def _sync_suspend(self, state: _JobState, suspend: bool) -> None:
        if suspend == state.suspended or state.finished:
            return
        state.suspended = suspend
        state.suspend_changed = _now()
        state.dirty = True
        if suspend:  # suspending deletes the active pods; that is not a failure
            for index, pod in list(state.active.items()):
                self._cancel(pod)
                state.pending.appendleft(index)
                del state.active[index]
        else:
            state.start_time = _now()

    def _active_total(self) -> int:
        """Pods holding a slot of the node: started and not yet cleaned up."""
        return len(self._live)

    def _schedule(self, state: _JobState) -> None:
        with self._lock:
            if state.finished or state.suspended or state.fail_reason or self._stop.is_set():
                return
            if state.start_time is None:
                state.start_time = _now()
                state.dirty = True
            now = time.monotonic()
            while (
                state.pending
                and len(state.active) < state.parallelism
                and self._active_total() < self.max_processes
            ):
                ready = [i for i in state.pending if state.not_before.get(i, 0.0) <= now]
                if not ready:
                    return
                index = ready[0]
                state.pending.remove(index)
                pod = self._new_pod(state, index)
                state.active[index] = pod
                state.dirty = True
                self.pods.append(pod)
                self._live.add(pod.name)
                thread = threading.Thread(
                    target=self._run_pod, args=(state, pod), name=f"pod-{pod.name}", daemon=True
                )
                self._pod_threads.append(thread)
                thread.start()

    def _new_pod(self, state: _JobState, index: int) -> PodRun:
        container = state.body["spec"]["template"]["spec"]["containers"][0]
        limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
        name = f"{state.name}-{index}-{secrets.token_hex(3)}"[:63]
        return PodRun(
            name=name, namespace=state.namespace, job=state.name, job_uid=state.uid, index=index,
            memory_limit=memory_bytes(str(limit)) if limit else None,
            log_path=self.workdir / f"{name}.log", container=str(container.get("name", "worker")),
        )

    # ------------------------------------------------------------------ one pod

    def _pod_object(self, state: _JobState, pod: PodRun) -> dict[str, Any]:
        template = state.body["spec"]["template"]
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        labels.update({
            "batch.kubernetes.io/controller-uid": state.uid,
            "batch.kubernetes.io/job-name": state.name,
            INDEX_KEY: str(pod.index),
            "controller-uid": state.uid,
            "job-name": state.name,
        })
        annotations = dict((template.get("metadata") or {}).get("annotations") or {})
        annotations[INDEX_KEY] = str(pod.index)
        spec = json.loads(json.dumps(template["spec"]))
        spec.update(nodeName="local", hostname=f"{state.name}-{pod.index}")
        self._admit(labels, spec["containers"][0])
        return {
            "metadata": {
                "name": pod.name,
                "namespace": state.namespace,
                "labels": labels,
                "annotations": annotations,
                "ownerReferences": [{
                    "apiVersion": "batch/v1", "kind": "Job", "name": state.name,
                    "uid": state.uid, "controller": True, "blockOwnerDeletion": True,
                }],
                "finalizers": [],
            },
            "spec": spec,
            "status": {"phase": "Pending", "qosClass": "Guaranteed"},
        }

    def _admit(self, labels: Mapping[str, str], container: dict[str, Any]) -> None:
        """Apply the `add_env` policies whose selector `labels` match to a new pod's container."""
        with self._lock:
            policies = [env for selector, env in self._admitted_env
                        if all(labels.get(k) == v for k, v in selector.items())]  # fmt: skip
        for env in policies:
            kept = [var for var in container.get("env") or [] if var["name"] not in env]
            container["env"] = kept + [{"name": k, "value": v} for k, v in env.items()]

    def _patch_pod(self, pod: PodRun, status: dict[str, Any]) -> None:
        with contextlib.suppress(kmock.KubernetesError):  # deleted (cascade, suspend)
            self.kube.patch(PODS, pod.namespace, pod.name, {"status": status}, "status")

    def _resolve_env(
        self, container: Mapping[str, Any], pod_obj: Mapping[str, Any], mounts: Mapping[str, Path]
    ) -> dict[str, str]:
        env: dict[str, str] = {}
        for var in container.get("env") or []:
            name = var["name"]
            if "value" in var:
                value = str(var["value"])
            elif "valueFrom" in var:
                value = self._value_from(var["valueFrom"], pod_obj)
            else:
                value = ""
            for mount_path, local in mounts.items():  # an emptyDir mount: the pod's own dir
                if value == mount_path or value.startswith(mount_path.rstrip("/") + "/"):
                    value = str(local) + value[len(mount_path.rstrip("/")):]
            env[name] = value
        return env

    def _value_from(self, source: Mapping[str, Any], pod_obj: Mapping[str, Any]) -> str:
        meta = pod_obj["metadata"]
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            secret = self.kube.get(SECRETS, meta["namespace"], ref["name"])  # 404 -> KubernetesError
            if ref["key"] in (secret.get("stringData") or {}):
                return str(secret["stringData"][ref["key"]])
            data = secret.get("data") or {}
            if ref["key"] not in data:
                raise KeyError(f"secret {ref['name']} has no key {ref['key']}")
            return base64.b64decode(data[ref["key"]]).decode()
        if "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            simple = {
                "metadata.name": meta["name"], "metadata.namespace": meta["namespace"],
                "metadata.uid": meta.get("uid", ""), "spec.nodeName": "local",
                "spec.serviceAccountName": pod_obj["spec"].get("serviceAccountName", ""),
                "status.podIP": "127.0.0.1", "status.hostIP": "127.0.0.1",
            }
            if path in simple:
                return str(simple[path])
            for kind in ("labels", "annotations"):
                prefix = f"metadata.{kind}['"
                if path.startswith(prefix) and path.endswith("']"):
                    return str((meta.get(kind) or {}).get(path[len(prefix):-2], ""))
            raise KeyError(f"unsupported fieldRef {path}")
        raise KeyError(f"unsupported valueFrom {sorted(source)}")

    def _run_pod(self, state: _JobState, pod: PodRun) -> None:
        try:
            self._run_pod_inner(state, pod)
        except Exception as exc:
            log.exception("pod %s failed to run", pod.name)
            self.errors.append(f"pod {pod.name}: {type(exc).__name__}: {exc}")
            if pod.exit_code is None and not pod.cancelled:
                pod.exit_code, pod.reason = 128, "StartError"
                self._patch_pod(pod, self._terminated_status(pod, [], message=str(exc)[:200]))
        finally:
            self._pod_done(state, pod)
            with self._lock:
                self._live.discard(pod.name)

    def _run_pod_inner(self, state: _JobState, pod: PodRun) -> None:
        obj = self.kube.create(PODS, self._pod_object(state, pod))
        spec = obj["spec"]
        container = spec["containers"][0]
        pod_dir = Path(tempfile.mkdtemp(prefix=f"{pod.name}-", dir=self.workdir))
        uid, gid = self._run_as(spec, container)
        mounts: dict[str, Path] = {}
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        for mount in container.get("volumeMounts") or []:
            if "emptyDir" in volumes.get(mount["name"], {}):
                local = pod_dir / mount["name"]
                local.mkdir()
                mounts[mount["mountPath"]] = local
        for path in [pod_dir, *mounts.values()]:
            if uid is not None:
                os.chown(path, uid, gid if gid is not None else -1)
        # Env that cannot be resolved yet (a missing Secret) keeps the pod waiting, as a kubelet does.
        while True:
            try:
                env = self._resolve_env(container, obj, mounts)
                break
            except (KeyError, kmock.KubernetesError) as exc:
                self._patch_pod(pod, {"phase": "Pending", "containerStatuses": [{
                    "name": container["name"], "ready": False, "restartCount": 0,
                    "state": {"waiting": {"reason": "CreateContainerConfigError",
                                          "message": str(exc)[:200]}}}]})
                if self._stop.wait(1.0) or pod.cancelled:
                    pod.cancelled = True
                    return
        env = {
            "PATH": f"{self.bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "HOSTNAME": pod.name,
            "LANG": "C.UTF-8",
            "TMPDIR": str(mounts.get("/tmp", pod_dir)),
            "HOME": str(pod_dir),
            **env,
            "JOB_COMPLETION_INDEX": str(pod.index),
            "KUBECONFIG": str(self.kubeconfig),
            **self.extra_env,
        }
        argv = [*self._command(container), *[str(a) for a in container.get("args") or []]]
        group = MemoryCgroup(f"{CGROUP_PREFIX}{pod.name}", pod.memory_limit)
        self._cgroups.add(group)
        self.cgroup_paths.append(group.path)
        if uid is not None:
            os.chown(group.procs, uid, gid if gid is not None else -1)
        try:
            self._exec(pod, group, argv, env, cwd=mounts.get("/tmp", pod_dir), uid=uid, gid=gid)
        finally:
            pod.peak_bytes = group.peak_bytes()
            oom = group.oom_kills() > 0
            with contextlib.suppress(OSError):
                group.remove()
            self._cgroups.discard(group)
            shutil.rmtree(pod_dir, ignore_errors=True)
        if pod.cancelled:
            with contextlib.suppress(kmock.KubernetesError):
                self.kube.delete(PODS, pod.namespace, pod.name)
            return
        code = pod.exit_code
        assert code is not None
        if code == 0:
            pod.reason = "Completed"
        elif oom and code == 128 + signal.SIGKILL:
            pod.reason = "OOMKilled"
        else:
            pod.reason = "Error"
        self._patch_pod(pod, self._terminated_status(pod, []))

    def _run_as(self, spec: Mapping[str, Any], container: Mapping[str, Any]) -> tuple[int | None, int | None]:
        if not self.honour_run_as:
            return None, None
        merged = {**(spec.get("securityContext") or {}), **(container.get("securityContext") or {})}
        uid, gid = merged.get("runAsUser"), merged.get("runAsGroup")
        return (int(uid) if uid is not None else None), (int(gid) if gid is not None else None)

    def _command(self, container: Mapping[str, Any]) -> list[str]:
        command = [str(c) for c in container.get("command") or []]
        if not command:
            raise ValueError("the container has no command (images are not emulated)")
        local = self.bin_dir / command[0]
        if "/" not in command[0] and local.is_file():
            command[0] = str(local)
        return command

    def _exec(
        self, pod: PodRun, group: MemoryCgroup, argv: list[str], env: dict[str, str], *,
        cwd: Path, uid: int | None, gid: int | None,
    ) -> None:
        # The shell joins the cgroup, then becomes the worker (same pid): nothing of the
        # worker ever runs outside its limit.
        wrapper = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(group.procs), *argv]
        with pod.log_path.open("ab") as out, pod._lock:
            if pod.cancelled or self._stop.is_set():
                pod.cancelled = True
                return
            proc = subprocess.Popen(
                wrapper, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                user=uid, group=gid, extra_groups=[] if uid is not None else None,
            )
            pod.pid, pod._alive, pod.started = proc.pid, True, time.monotonic()
            started.remember(proc.pid)
        self._patch_pod(pod, {
            "phase": "Running", "startTime": _now(), "podIP": "127.0.0.1", "hostIP": "127.0.0.1",
            "conditions": [{"type": t, "status": "True"} for t in
                           ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
            "containerStatuses": [{
                "name": pod.container, "ready": True, "started": True, "restartCount": 0,
                "state": {"running": {"startedAt": _now()}},
            }],
        })
        # Sample the high-water mark of the process's RSS while it runs (getrusage's
        # ru_maxrss would carry this big parent's RSS across fork and exec).
        hwm = 0
        while True:
            pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            hwm = max(hwm, _vm_hwm(proc.pid))
            time.sleep(0.1)
        with pod._lock:
            pod._alive = False
        proc.returncode = os.waitstatus_to_exitcode(status)
        pod.finished = time.monotonic()
        pod.max_rss_bytes = hwm or None
        code = proc.returncode
        pod.exit_code = 128 - code if code < 0 else code

    def _terminated_status(
        self, pod: PodRun, conditions: list[dict[str, Any]], message: str | None = None
    ) -> dict[str, Any]:
        terminated: dict[str, Any] = {
            "exitCode": pod.exit_code, "reason": pod.reason, "finishedAt": _now(),
            "containerID": f"local://{pod.pid}",
        }
        if message:
            terminated["message"] = message
        return {
            "phase": "Succeeded" if pod.exit_code == 0 else "Failed",
            "conditions": [*conditions, {"type": "Ready", "status": "False"},
                           {"type": "ContainersReady", "status": "False"}],
            "containerStatuses": [{
                "name": pod.container, "ready": False, "started": False, "restartCount": 0,
                "state": {"terminated": terminated},
            }],
        }

    def _cancel(self, pod: PodRun) -> None:
        """Stop a pod on the controller's behalf: SIGTERM, SIGKILL after the grace period."""
        pod.cancelled = True
        if not pod.signal(signal.SIGTERM):
            return

        def reap() -> None:
            deadline = time.monotonic() + self.grace_s
            while pod.running and time.monotonic() < deadline:
                time.sleep(0.05)
            pod.signal(signal.SIGKILL)

        threading.Thread(target=reap, name=f"reap-{pod.name}", daemon=True).start()

    # ------------------------------------------------------------------ outcomes

    def _pod_done(self, state: _JobState, pod: PodRun) -> None:
        with self._lock:
            if state.active.get(pod.index) is pod:
                del state.active[pod.index]
            state.dirty = True
            if pod.cancelled or state.finished:
                self._maybe_finish(state)
                return
            if pod.exit_code == 0:
                state.succeeded_pods += 1
                state.completed.add(pod.index)
            else:
                state.failed_pods += 1
                self._failed(state, pod)
            self._maybe_finish(state)

    def _failed(self, state: _JobState, pod: PodRun) -> None:
        code = pod.exit_code if pod.exit_code is not None else 128
        action, position = failure_action(state.rules, pod.container, code)
        if action == "FailJob" and not state.fail_reason:
            state.fail_reason = "PodFailurePolicy"
            state.fail_message = (
                f"Container worker for pod {pod.namespace}/{pod.name} failed with exit code "
                f"{code} matching FailJob rule at index {position}"
            )
            for other in state.active.values():
                self._cancel(other)
            return
        if action == "Ignore":
            state.pending.append(pod.index)
            return
        if action == "FailIndex":
            state.failed.add(pod.index)
        else:
            state.failures[pod.index] = state.failures.get(pod.index, 0) + 1
            if state.backoff_per_index is not None:
                if state.failures[pod.index] > state.backoff_per_index:
                    state.failed.add(pod.index)
                else:
                    self._requeue(state, pod.index)
            elif state.failed_pods > state.backoff_limit:
                state.fail_reason = "BackoffLimitExceeded"
                state.fail_message = "Job has reached the specified backoff limit"
                for other in state.active.values():
                    self._cancel(other)
            else:
                self._requeue(state, pod.index)
        if state.max_failed_indexes is not None and len(state.failed) > int(state.max_failed_indexes):
            state.fail_reason = "MaxFailedIndexesExceeded"
            state.fail_message = "Job has exceeded the specified maximal number of failed indexes"
            for other in state.active.values():
                self._cancel(other)

    def _requeue(self, state: _JobState, index: int) -> None:
        state.pending.append(index)
        state.not_before[index] = time.monotonic() + self.retry_delay_s

    def _maybe_finish(self, state: _JobState) -> None:
        if state.finished or state.active:
            return
        if state.fail_reason:
            state.finished = "Failed"
        elif len(state.completed) + len(state.failed) >= state.completions:
            if state.failed:
                state.finished = "Failed"
                state.fail_reason = "FailedIndexes"
                state.fail_message = "Job has failed indexes"
            else:
                state.finished = "Complete"
                state.completion_time = _now()
        state.dirty = True

    def _job_status(self, state: _JobState) -> dict[str, Any]:
        status: dict[str, Any] = {
            "active": len(state.active),
            "ready": sum(1 for p in state.active.values() if p.running),
            "terminating": 0,
            "succeeded": state.succeeded_pods,
            "failed": state.failed_pods,
            "completedIndexes": format_ranges(state.completed),
        }
        if state.backoff_per_index is not None:
            status["failedIndexes"] = format_ranges(state.failed)
        if state.start_time:
            status["startTime"] = state.start_time
        conditions: list[dict[str, Any]] = []
        if state.suspend_changed:
            conditions.append({
                "type": "Suspended", "status": "True" if state.suspended else "False",
                "reason": "JobSuspended" if state.suspended else "JobResumed",
                "message": "Job suspended" if state.suspended else "Job resumed",
                "lastTransitionTime": state.suspend_changed,
            })
        if state.finished == "Complete":
            conditions += [
                {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached",
                 "message": "Reached expected number of succeeded pods"},
                {"type": "Complete", "status": "True", "reason": "CompletionsReached",
                 "message": "Reached expected number of succeeded pods"},
            ]
            status["completionTime"] = state.completion_time
        elif state.finished == "Failed":
            for kind in ("FailureTarget", "Failed"):
                conditions.append({"type": kind, "status": "True", "reason": state.fail_reason,
                                   "message": state.fail_message})
        if conditions:
            status["conditions"] = conditions
        return status

    def _write_job_status(self, state: _JobState) -> None:
        with self._lock:
            if not state.dirty:
                return
            state.dirty = False
            status = self._job_status(state)
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
        rows.append({
            "pod": run.name, "index": run.index,
            "limit_mib": None if run.memory_limit is None else run.memory_limit // 2**20,
            "exit": run.exit_code, "reason": run.reason,
            "wall_s": None if run.wall_s is None else round(run.wall_s, 1),
            "peak_rss_mib": None if run.max_rss_bytes is None else round(run.max_rss_bytes / 2**20),
            "cgroup_peak_mib": None if run.peak_bytes is None else round(run.peak_bytes / 2**20),
        })
    return rows


__all__ = [
    "CgroupError",
    "MemoryCgroup",
    "PodRun",
    "PodRunner",
    "cgroups_unavailable",
    "failure_action",
    "format_ranges",
    "own_memory_cgroup",
    "summary_rows",
]
