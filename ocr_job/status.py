"""The worker's side of status reporting: merge-patch `status.shards.<index>` of its OcrBatch.

Used only when `OCR_STATUS_TARGET=<namespace>/<name>` is set (in a cluster). Rate-limited to
one patch per `min_interval_s` (always on `force`, e.g. the final report); a failed patch is
logged and never fails the worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ocr_job.records import ShardPhase, ShardStatus
from ocr_job.sharding import resolve_shard_index

__all__ = ["StatusReporter", "parse_target", "resolve_shard_index"]

log = logging.getLogger(__name__)

GROUP = "ocrbatch.io"
VERSION = "v1alpha1"
PLURAL = "ocrbatches"
#: Set by Kubernetes in the pods of an Indexed Job.
Patcher = Callable[[str, str, dict[str, Any]], None]


def parse_target(target: str) -> tuple[str, str]:
    namespace, sep, name = target.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise ValueError(f"status target must be NAMESPACE/NAME, got {target!r}")
    return namespace, name


def kubernetes_patcher() -> Patcher:
    """Patch through the official client: in-cluster config, else KUBECONFIG."""
    from kubernetes import client, config

    try:
        config.load_incluster_config()
        api_client = client.ApiClient()
    except config.ConfigException:
        api_client = config.new_client_from_config()
    api = client.CustomObjectsApi(api_client)

    def patch(namespace: str, name: str, body: dict[str, Any]) -> None:
        api.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, name, body, _request_timeout=10
        )

    return patch


class StatusReporter:
    """Report one shard's progress to `status.shards.<index>` of the OcrBatch `target`."""

    def __init__(
        self,
        target: str,
        index: int,
        min_interval_s: float = 5.0,
        *,
        patcher: Patcher | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.namespace, self.name = parse_target(target)
        self.index = index
        self.min_interval_s = min_interval_s
        self._patcher = patcher
        self._clock = clock
        self._last: float | None = None
        self._lock = threading.Lock()
        self.failures = 0

    def _patch(self, body: dict[str, Any]) -> None:
        if self._patcher is None:
            self._patcher = kubernetes_patcher()
        self._patcher(self.namespace, self.name, body)

    def update(self, status: ShardStatus, force: bool = False) -> bool:
        """Send `status` unless one was sent less than `min_interval_s` ago. A finished shard
        (phase Succeeded/Failed) is always sent. True when a patch went out."""
        with self._lock:
            now = self._clock()
            final = status.phase != ShardPhase.RUNNING
            recent = self._last is not None and now - self._last < self.min_interval_s
            if recent and not (force or final):
                return False
            report = status.model_copy(update={"index": self.index})
            body = {"status": {"shards": {str(self.index): report.to_patch()}}}
            try:
                self._patch(body)
            except Exception as exc:  # never fail the worker over a progress report
                self.failures += 1
                log.warning(
                    "could not report shard %d to %s/%s: %s",
                    self.index, self.namespace, self.name, _describe(exc),
                )
                return False
            self._last = now
            return True


def _describe(exc: BaseException) -> str:
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None)
    if status is not None:
        return f"HTTP {status} {reason or ''}".strip()
    return type(exc).__name__
