"""Progress: a bar on a terminal, log lines otherwise, and shard status in a cluster.

Progress shows counts only; the one free text, the shard's closing message, is scrubbed.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from ocr_job.memory import current_rss_bytes, mib
from ocr_job.privacy import scrub
from ocr_job.records import ResultRecord, ShardPhase, ShardStatus, utcnow

if TYPE_CHECKING:
    from ocr_job.pipeline import RunSummary

log = logging.getLogger("ocr_job")


class Reporter(Protocol):
    def start(self, summary: RunSummary) -> None: ...

    def advance(self, summary: RunSummary, record: ResultRecord | None) -> None: ...

    def finish(self, summary: RunSummary, *, ok: bool, message: str | None = None) -> None: ...


class Reporters:
    """Fan one progress stream out to several reporters."""

    def __init__(self, reporters: Sequence[Reporter]) -> None:
        self._reporters = list(reporters)

    def start(self, summary: RunSummary) -> None:
        for r in self._reporters:
            r.start(summary)

    def advance(self, summary: RunSummary, record: ResultRecord | None) -> None:
        for r in self._reporters:
            r.advance(summary, record)

    def finish(self, summary: RunSummary, *, ok: bool, message: str | None = None) -> None:
        for r in self._reporters:
            r.finish(summary, ok=ok, message=message)


class TerminalProgress:
    """A rich progress bar on stderr."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self._progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=True,
        )
        self._task = self._progress.add_task("OCR", total=None)

    def start(self, summary: RunSummary) -> None:
        self._progress.update(self._task, total=summary.total)
        self._progress.start()

    def advance(self, summary: RunSummary, record: ResultRecord | None) -> None:
        self._progress.update(
            self._task,
            completed=summary.processed,
            description=f"OCR ok={summary.succeeded} err={summary.failed}",
        )

    def finish(self, summary: RunSummary, *, ok: bool, message: str | None = None) -> None:
        self._progress.stop()


class LogProgress:
    """A progress log line at most every `interval_s` seconds (for non-TTY runs)."""

    def __init__(self, interval_s: float = 10.0) -> None:
        self._interval = interval_s
        self._last = 0.0

    def start(self, summary: RunSummary) -> None:
        log.info("starting: %d inputs", summary.total)
        self._last = time.monotonic()

    def advance(self, summary: RunSummary, record: ResultRecord | None) -> None:
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            # the loop hands each input's memory back before it reports: this RSS is at rest
            log.info(
                "progress: %d/%d (ok %d, error %d, skipped %d); resting RSS %s",
                summary.processed,
                summary.total,
                summary.succeeded,
                summary.failed,
                summary.skipped,
                mib(current_rss_bytes()),
            )

    def finish(self, summary: RunSummary, *, ok: bool, message: str | None = None) -> None:
        pass


class ShardStatusReporter:
    """Keeps this shard's ShardStatus and pushes it through a rate-limited patcher."""

    def __init__(self, index: int, patcher: StatusPatcher, memory_limit: int | None) -> None:
        self.status = ShardStatus(index=index, memory_limit_bytes=memory_limit)
        self._patcher = patcher

    def _sync(self, summary: RunSummary) -> None:
        from ocr_job.memory import peak_rss_bytes

        s = self.status
        s.total, s.processed, s.skipped = summary.total, summary.processed, summary.skipped
        s.succeeded, s.failed = summary.succeeded, summary.failed
        s.peak_rss_bytes = peak_rss_bytes()
        s.updated_at = utcnow()

    def start(self, summary: RunSummary) -> None:
        self.status.started_at = utcnow()
        self._sync(summary)
        self._patcher.update(self.status, force=True)

    def advance(self, summary: RunSummary, record: ResultRecord | None) -> None:
        self._sync(summary)
        self._patcher.update(self.status)

    def finish(self, summary: RunSummary, *, ok: bool, message: str | None = None) -> None:
        self._sync(summary)
        self.status.phase = ShardPhase.SUCCEEDED if ok else ShardPhase.FAILED
        # the status is read by anyone who may read the OcrBatch: no key, name or number
        self.status.message = scrub(message) if message else message
        self._patcher.update(self.status, force=True)


class StatusPatcher(Protocol):
    # object: what it answers (StatusReporter: whether a patch went out) is not read here
    def update(self, status: ShardStatus, force: bool = False) -> object: ...


def default_reporters() -> list[Reporter]:
    return [TerminalProgress() if sys.stderr.isatty() else LogProgress()]
