"""One pod of the pod runner: `PodRun` (what ran, under which limit, how it ended), shared
by the Job controller (`tests/support/job_controller.py`) and the kubelet
(`tests/support/kubelet.py`), and the Pod statuses a kubelet writes for it."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocr_operator.kube import iso, utcnow


def _now() -> str:
    return iso(utcnow())


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


def terminated_status(
    pod: PodRun, conditions: list[dict[str, Any]], message: str | None = None
) -> dict[str, Any]:
    """The Pod status of a container that ended."""
    terminated: dict[str, Any] = {
        "exitCode": pod.exit_code,
        "reason": pod.reason,
        "finishedAt": _now(),
        "containerID": f"local://{pod.pid}",
    }
    if message:
        terminated["message"] = message
    return {
        "phase": "Succeeded" if pod.exit_code == 0 else "Failed",
        "conditions": [
            *conditions,
            {"type": "Ready", "status": "False"},
            {"type": "ContainersReady", "status": "False"},
        ],
        "containerStatuses": [
            {
                "name": pod.container,
                "ready": False,
                "started": False,
                "restartCount": 0,
                "state": {"terminated": terminated},
            }
        ],
    }


def running_status(pod: PodRun) -> dict[str, Any]:
    """The Pod status of a container that started."""
    ready = ("PodScheduled", "Initialized", "ContainersReady", "Ready")
    return {
        "phase": "Running",
        "startTime": _now(),
        "podIP": "127.0.0.1",
        "hostIP": "127.0.0.1",
        "conditions": [{"type": t, "status": "True"} for t in ready],
        "containerStatuses": [
            {
                "name": pod.container,
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": _now()}},
            }
        ],
    }


def waiting_status(container: str, message: str) -> dict[str, Any]:
    """The Pod status of a container whose config cannot be resolved yet."""
    waiting = {"reason": "CreateContainerConfigError", "message": message[:200]}
    return {
        "phase": "Pending",
        "containerStatuses": [
            {"name": container, "ready": False, "restartCount": 0, "state": {"waiting": waiting}}
        ],
    }
