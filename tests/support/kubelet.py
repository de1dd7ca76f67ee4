"""The kubelet's part of the pod runner: a pod's container run as a local process.

`Kubelet.run` takes a Pod object the API accepted and runs its first container: `command`
resolved in this venv's `bin/`, `args` as given, the env resolved (`value`, `secretKeyRef`
from Secrets in the API, `fieldRef`), `JOB_COMPLETION_INDEX`, `KUBECONFIG` pointing at the
API (so the worker's status patches reach it), every `emptyDir` mount mapped to a fresh
directory (so `HOME=/tmp` lands in the pod's own temp dir), `runAsUser`/`runAsGroup`
honoured when we are root. The process runs in a memory cgroup of its own
(`tests/support/cgroups.py`) limited to the container's `limits.memory`: above it the kernel
OOM-kills it, and the pod reports `OOMKilled` because the cgroup's `oom_kill` counter rose.
The outcome goes back as Pod status (`containerStatuses[0].state.terminated` with `exitCode`
and `reason` Completed/Error/OOMKilled); `PodRun` (`tests/support/pods.py`) keeps it for the
Job controller and the tests.

Not emulated: image pulls, node-level eviction.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kmock

from tests.support import started
from tests.support.cgroups import CGROUP_PREFIX, MemoryCgroup, vm_hwm
from tests.support.kube import PODS, SECRETS, KubeServer
from tests.support.pods import PodRun, running_status, terminated_status, waiting_status


class Kubelet:
    """Runs pods as local processes in memory cgroups (see the module docstring)."""

    def __init__(
        self,
        kube: KubeServer,
        workdir: Path,
        kubeconfig: Path,
        stop: threading.Event,
        *,
        extra_env: Mapping[str, str],
        bin_dir: Path,
        honour_run_as: bool,
        grace_s: float,
    ) -> None:
        self.kube = kube
        self.workdir = workdir
        self.kubeconfig = kubeconfig
        self.extra_env = dict(extra_env)
        self.bin_dir = bin_dir
        self.honour_run_as = honour_run_as
        self.grace_s = grace_s
        self._stop = stop
        self._cgroups: set[MemoryCgroup] = set()
        #: Every cgroup this kubelet made (see `PodRunner.leftover_cgroups`).
        self.cgroup_paths: list[Path] = []

    # ------------------------------------------------------------------ one pod

    def run(self, pod: PodRun, obj: Mapping[str, Any]) -> None:
        """Run the created Pod `obj` to its end and report it (nothing when cancelled)."""
        spec = obj["spec"]
        container = spec["containers"][0]
        pod_dir = Path(tempfile.mkdtemp(prefix=f"{pod.name}-", dir=self.workdir))
        uid, gid = self._run_as(spec, container)
        mounts = self._mount_empty_dirs(spec, container, pod_dir)
        for path in [pod_dir, *mounts.values()]:
            if uid is not None:
                os.chown(path, uid, gid if gid is not None else -1)
        env = self._wait_for_env(pod, container, obj, mounts)
        if env is None:
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
        self._report(pod, oom)

    def _report(self, pod: PodRun, oom: bool) -> None:
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
        self.patch_pod(pod, terminated_status(pod, []))

    def start_error(self, pod: PodRun, exc: Exception) -> None:
        """Report a pod that could not be run (exit 128, StartError)."""
        if pod.exit_code is None and not pod.cancelled:
            pod.exit_code, pod.reason = 128, "StartError"
            self.patch_pod(pod, terminated_status(pod, [], message=str(exc)[:200]))

    @staticmethod
    def _mount_empty_dirs(
        spec: Mapping[str, Any], container: Mapping[str, Any], pod_dir: Path
    ) -> dict[str, Path]:
        mounts: dict[str, Path] = {}
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        for mount in container.get("volumeMounts") or []:
            if "emptyDir" in volumes.get(mount["name"], {}):
                local = pod_dir / mount["name"]
                local.mkdir()
                mounts[mount["mountPath"]] = local
        return mounts

    def _wait_for_env(
        self,
        pod: PodRun,
        container: Mapping[str, Any],
        obj: Mapping[str, Any],
        mounts: Mapping[str, Path],
    ) -> dict[str, str] | None:
        """The container's env; while it cannot be resolved (a missing Secret) the pod keeps
        waiting, as a kubelet does. None when the pod was cancelled meanwhile."""
        while True:
            try:
                return self._resolve_env(container, obj, mounts)
            except (KeyError, kmock.KubernetesError) as exc:
                self.patch_pod(pod, waiting_status(container["name"], str(exc)))
                if self._stop.wait(1.0) or pod.cancelled:
                    pod.cancelled = True
                    return None

    def _run_as(self, spec: Mapping[str, Any], container: Mapping[str, Any]) -> tuple[int | None, int | None]:
        if not self.honour_run_as:
            return None, None
        merged = {
            **(spec.get("securityContext") or {}),
            **(container.get("securityContext") or {}),
        }
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
        self,
        pod: PodRun,
        group: MemoryCgroup,
        argv: list[str],
        env: dict[str, str],
        *,
        cwd: Path,
        uid: int | None,
        gid: int | None,
    ) -> None:
        # The shell joins the cgroup, then becomes the worker (same pid): nothing of the
        # worker ever runs outside its limit.
        wrapper = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(group.procs), *argv]
        with pod.log_path.open("ab") as out, pod._lock:
            if pod.cancelled or self._stop.is_set():
                pod.cancelled = True
                return
            proc = subprocess.Popen(
                wrapper,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                user=uid,
                group=gid,
                extra_groups=[] if uid is not None else None,
            )
            pod.pid, pod._alive, pod.started = proc.pid, True, time.monotonic()
            started.remember(proc.pid)
        self.patch_pod(pod, running_status(pod))
        # Sample the high-water mark of the process's RSS while it runs (getrusage's
        # ru_maxrss would carry this big parent's RSS across fork and exec).
        hwm = 0
        while True:
            pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            hwm = max(hwm, vm_hwm(proc.pid))
            time.sleep(0.1)
        with pod._lock:
            pod._alive = False
        proc.returncode = os.waitstatus_to_exitcode(status)
        pod.finished = time.monotonic()
        pod.max_rss_bytes = hwm or None
        code = proc.returncode
        pod.exit_code = 128 - code if code < 0 else code

    # ------------------------------------------------------------------ env

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
                    value = str(local) + value[len(mount_path.rstrip("/")) :]
            env[name] = value
        return env

    def _value_from(self, source: Mapping[str, Any], pod_obj: Mapping[str, Any]) -> str:
        meta = pod_obj["metadata"]
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            secret = self.kube.get(SECRETS, meta["namespace"], ref["name"])  # 404: KubernetesError
            if ref["key"] in (secret.get("stringData") or {}):
                return str(secret["stringData"][ref["key"]])
            data = secret.get("data") or {}
            if ref["key"] not in data:
                raise KeyError(f"secret {ref['name']} has no key {ref['key']}")
            return base64.b64decode(data[ref["key"]]).decode()
        if "fieldRef" in source:
            return _field_ref(source["fieldRef"]["fieldPath"], pod_obj)
        raise KeyError(f"unsupported valueFrom {sorted(source)}")

    # ------------------------------------------------------------------ the API, stopping

    def patch_pod(self, pod: PodRun, status: dict[str, Any]) -> None:
        with contextlib.suppress(kmock.KubernetesError):  # deleted (cascade, suspend)
            self.kube.patch(PODS, pod.namespace, pod.name, {"status": status}, "status")

    def cancel(self, pod: PodRun) -> None:
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

    def remove_cgroups(self) -> None:
        """Remove every cgroup still there (after the pods were killed)."""
        for group in list(self._cgroups):
            with contextlib.suppress(OSError):
                group.remove()
            self._cgroups.discard(group)


def _field_ref(path: str, pod_obj: Mapping[str, Any]) -> str:
    """The value of a `fieldRef` of the Pod `pod_obj`."""
    meta = pod_obj["metadata"]
    simple = {
        "metadata.name": meta["name"],
        "metadata.namespace": meta["namespace"],
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": "local",
        "spec.serviceAccountName": pod_obj["spec"].get("serviceAccountName", ""),
        "status.podIP": "127.0.0.1",
        "status.hostIP": "127.0.0.1",
    }
    if path in simple:
        return str(simple[path])
    for kind in ("labels", "annotations"):
        prefix = f"metadata.{kind}['"
        if path.startswith(prefix) and path.endswith("']"):
            return str((meta.get(kind) or {}).get(path[len(prefix) : -2], ""))
    raise KeyError(f"unsupported fieldRef {path}")
