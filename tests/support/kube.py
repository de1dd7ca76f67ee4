"""The in-process Kubernetes API for the operator (tier 1) and end-to-end tests, as a server:
`KubeServer` runs the emulator (`tests/support/kube_emulator.py`) on 127.0.0.1 in a thread
of its own, so synchronous tests (and kopf's own thread) can use it; `JobController` lets a
test act as the Job controller and the kubelet by hand (the end-to-end suite runs real ones:
`tests/support/podrunner.py`).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import kmock

from tests.support.kube_emulator import KubeEmulator, ResKey
from tests.support.kube_rules import load_crd, now

__all__ = ["EVENTS", "JOBS", "PODS", "SECRETS", "JobController", "KubeServer", "ResKey", "load_crd"]

# ------------------------------------------------------------------ a threaded server


class KubeServer:
    """The emulator on 127.0.0.1:<free port>, in a thread with its own event loop."""

    def __init__(self, crds: Iterable[Mapping[str, Any]] = ()) -> None:
        # One access-log line per request was a cost of its own (the kopf and worker logs
        # the tests read say what was asked).
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
        self.api = KubeEmulator()
        for crd in crds:
            self.api.add_crd(crd)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name="kube-emulator", daemon=True)
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._url: str | None = None
        self._failure: BaseException | None = None

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # surfaced by start()
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with self.api, kmock.Server(self.api) as server:
            self._url = str(server.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()

    def start(self) -> KubeServer:
        self._thread.start()
        self._ready.wait(30)
        if self._failure or not self._url:
            raise RuntimeError(f"the Kubernetes emulator did not start: {self._failure!r}")
        return self

    def stop(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)

    def __enter__(self) -> KubeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._url is not None
        return self._url

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run `fn(*args)` in the server's loop (the store is not thread-safe) and return."""
        future: Future[Any] = Future()

        def run() -> None:
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(10)

    # ---------------------------------------------------------------- convenience

    def kubeconfig(self, path: Path) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "emulator-token"}}],
            "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "tester"}}],
            "current-context": "emulator",
        }
        path.write_text(json.dumps(config))
        return path

    def create(self, res: ResKey, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.call(self.api.create, res, body.get("metadata", {}).get("namespace"), body)

    def get(self, res: ResKey, namespace: str | None, name: str) -> dict[str, Any]:
        return self.call(self.api.get, res, namespace, name)

    def find(self, res: ResKey, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            return self.get(res, namespace, name)
        except kmock.KubernetesError:
            return None

    def list(
        self, res: ResKey, namespace: str | None = None, labels: str | None = None
    ) -> list[dict[str, Any]]:
        return self.call(self.api.list, res, namespace, labels)

    def patch(
        self,
        res: ResKey,
        namespace: str | None,
        name: str,
        patch: Any,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        return self.call(self.api.patch, res, namespace, name, patch, subresource=subresource)

    def delete(self, res: ResKey, namespace: str | None, name: str) -> dict[str, Any]:
        return self.call(self.api.delete, res, namespace, name)


JOBS: ResKey = ("batch", "v1", "jobs")
PODS: ResKey = ("", "v1", "pods")
SECRETS: ResKey = ("", "v1", "secrets")
EVENTS: ResKey = ("", "v1", "events")


class JobController:
    """What a test does in place of the Job controller and the kubelet."""

    def __init__(self, server: KubeServer) -> None:
        self.server = server

    def run_pod(
        self,
        job: Mapping[str, Any],
        index: int,
        *,
        exit_code: int = 0,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """A finished pod of `job` at completion `index` (exit 137 + OOMKilled, etc.)."""
        meta = job["metadata"]
        template = job["spec"]["template"]
        name = f"{meta['name']}-{index}-{secrets.token_hex(3)}"
        pod = {
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "labels": {
                    **template["metadata"]["labels"],
                    "batch.kubernetes.io/job-completion-index": str(index),
                    "job-name": meta["name"],
                },
                "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                    }
                ],
            },
            "spec": copy.deepcopy(template["spec"]),
        }
        self.server.create(PODS, pod)
        terminated = {
            "exitCode": exit_code,
            "reason": reason or ("Completed" if exit_code == 0 else "Error"),
            "finishedAt": now(),
        }
        status = {
            "phase": "Succeeded" if exit_code == 0 else "Failed",
            "containerStatuses": [{"name": "worker", "state": {"terminated": terminated}, "ready": False}],
        }
        return self.server.patch(PODS, meta["namespace"], name, {"status": status}, "status")

    def set_status(self, job: Mapping[str, Any], **status: Any) -> dict[str, Any]:
        meta = job["metadata"]
        return self.server.patch(JOBS, meta["namespace"], meta["name"], {"status": status}, "status")

    def finish(
        self,
        job: Mapping[str, Any],
        *,
        completed: str,
        failed: str = "",
        reason: str | None = None,
    ) -> dict[str, Any]:
        """Mark the Job finished: Complete, or Failed (FailedIndexes unless `reason`)."""
        if failed or reason:
            cond = {"type": "Failed", "status": "True", "reason": reason or "FailedIndexes"}
        else:
            cond = {"type": "Complete", "status": "True", "reason": "CompletionsReached"}
        return self.set_status(
            job, completedIndexes=completed, failedIndexes=failed, active=0, conditions=[cond]
        )
