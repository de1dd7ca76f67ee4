"""The worker's side of live progress: its shard's `ShardStatus`, written to the output
prefix as `_shards/shard-NNNN.progress.json`, never to the Kubernetes API.

Why the output and not the OcrBatch status: one entry per shard in the status grows with the
batch (5,000 shards ≈ 1.25 MB, near etcd's request limit) and every worker patch makes the
API server send the whole object to every watcher again. An object per shard in the output
costs nothing to the API; the operator samples the running shards' files at a bounded rate
and keeps only aggregates in the status (docs/operator.md, "Progress at scale").

Used only when `OCR_STATUS_TARGET` is set (a worker of an OcrBatch) and the pod has a shard
index. Rate-limited to one write per `min_interval_s` (always on `force` and on the final
report); a failed write is logged and never fails the worker.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from ocr_job.records import ShardPhase, ShardStatus
from ocr_job.sharding import resolve_shard_index
from ocr_job.storage.base import SHARDS_DIR

__all__ = [
    "StatusReporter",
    "parse_target",
    "progress_name",
    "resolve_shard_index",
    "summary_name",
]

log = logging.getLogger(__name__)


class TextWriter(Protocol):
    def write_text(self, name: str, text: str) -> None: ...


def summary_name(index: int) -> str:
    """The shard's final summary under the output (written once, when the shard is done)."""
    return f"{SHARDS_DIR}/shard-{index:04d}.json"


def progress_name(index: int) -> str:
    """The shard's live progress under the output (rewritten while it runs)."""
    return f"{SHARDS_DIR}/shard-{index:04d}.progress.json"


def parse_target(target: str) -> tuple[str, str]:
    namespace, sep, name = target.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise ValueError(f"status target must be NAMESPACE/NAME, got {target!r}")
    return namespace, name


class StatusReporter:
    """Write one shard's progress to `progress_name(index)` under the output `sink`."""

    def __init__(
        self,
        sink: TextWriter,
        index: int,
        min_interval_s: float = 5.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sink = sink
        self.index = index
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._last: float | None = None
        self._lock = threading.Lock()
        self.failures = 0

    def update(self, status: ShardStatus, force: bool = False) -> bool:
        """Write `status` unless one was written less than `min_interval_s` ago. A finished
        shard (phase Succeeded/Failed) is always written. True when a write went out."""
        with self._lock:
            now = self._clock()
            final = status.phase != ShardPhase.RUNNING
            recent = self._last is not None and now - self._last < self.min_interval_s
            if recent and not (force or final):
                return False
            report = status.model_copy(update={"index": self.index})
            try:
                self.sink.write_text(progress_name(self.index), json.dumps(report.to_patch()))
            except Exception as exc:  # never fail the worker over a progress report
                self.failures += 1
                log.warning("could not write the progress of shard %d: %s", self.index, type(exc).__name__)
                return False
            self._last = now
            return True
