"""The kubelet's part of the pod runner with podman: a pod's container run as a container of
the image the pod names (`OCRBATCH_E2E_RUNTIME=podman`; `PodRunner(runtime="podman")`).

`PodmanKubelet.run` does what `Kubelet.run` does (emptyDir folders, the env resolved and
waited for, the outcome reported as Pod status), but the container is a podman container
(tests/support/containers.py: what it is given, and why it is started from its bundle
directory). Its cgroup's parent is a memory cgroup of ours without a limit of its own (the
container has the pod's `--memory`), so its peak is read after the container is gone; the
reason is `OOMKilled` when podman's state says so. The pod's pid is the container's init
process as the host sees it (a session leader): the runner's signals reach it like a
kubelet's, and its peak RSS is sampled from /proc like a process pod's.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.support import started
from tests.support.cgroups import CGROUP_PREFIX, MemoryCgroup, vm_hwm
from tests.support.containers import (
    Container,
    ContainerSpec,
    relative_cgroup,
    remove_cgroup_trees,
    security_context,
)
from tests.support.kubelet import Kubelet
from tests.support.pods import PodRun, running_status


class PodmanKubelet(Kubelet):
    """Runs pods as podman containers (see the module docstring)."""

    def run(self, pod: PodRun, obj: Mapping[str, Any]) -> None:
        spec = obj["spec"]
        container = spec["containers"][0]
        pod_dir = Path(tempfile.mkdtemp(prefix=f"{pod.name}-", dir=self.workdir))
        mounts = self._mount_empty_dirs(spec, container, pod_dir)
        for local in mounts.values():  # an emptyDir is 0777, as a kubelet makes it
            local.chmod(0o777)
        # A container sees its mounts at their own paths: no env value is rewritten.
        env = self._wait_for_env(pod, container, obj, {})
        if env is None:
            shutil.rmtree(pod_dir, ignore_errors=True)
            return
        env = {**env, "JOB_COMPLETION_INDEX": str(pod.index), **self.extra_env}
        group = MemoryCgroup(f"{CGROUP_PREFIX}{pod.name}", None)
        self._cgroups.add(group)
        self.cgroup_paths.append(group.path)
        parent = relative_cgroup(group.path, group.version)
        box: Container | None = None
        try:
            box_spec = ContainerSpec.from_pod(
                spec, container, env=env, mounts=mounts, memory_bytes=pod.memory_limit,
                hostname=str(spec.get("hostname") or pod.name), kubeconfig=self.kubeconfig,
            )  # fmt: skip
            run_as_non_root = bool(security_context(spec, container).get("runAsNonRoot"))
            box_spec.check_non_root(run_as_non_root, Container.image_user(box_spec.image))
            box = Container(pod.name, box_spec, pod_dir, parent)
            oom = self._run_box(pod, box)
        finally:
            if box is not None:
                box.remove()
            pod.peak_bytes = group.peak_bytes()
            # runc made the parent in every cgroup hierarchy: each must go.
            for left in remove_cgroup_trees(parent):
                if left not in self.cgroup_paths:
                    self.cgroup_paths.append(left)
            with contextlib.suppress(OSError):
                group.remove()
            self._cgroups.discard(group)
            shutil.rmtree(pod_dir, ignore_errors=True)
        self._report(pod, oom)

    def _run_box(self, pod: PodRun, box: Container) -> bool:
        """Start the container attached, follow it to its end; whether podman says it was
        OOM-killed."""
        with pod.log_path.open("ab") as out:
            with pod._lock:
                if pod.cancelled or self._stop.is_set():
                    pod.cancelled = True
                    return False
                client = box.start(out)
            pid = box.host_pid(client)
            with pod._lock:
                pod.pid, pod._alive, pod.started = pid, pid is not None, time.monotonic()
            if pid is not None:
                started.remember(pid)
                self.patch_pod(pod, running_status(pod))
                if pod.cancelled:  # cancelled while it started
                    pod.signal(signal.SIGKILL)
            hwm = 0
            while client.poll() is None:
                if pid is not None:
                    hwm = max(hwm, vm_hwm(pid))
                time.sleep(0.1)
        with pod._lock:
            pod._alive = False
        pod.finished = time.monotonic()
        pod.max_rss_bytes = hwm or None
        outcome = box.outcome()
        pod.exit_code = outcome.exit_code
        return outcome.oom_killed
