"""The intake side of one operator at run time: its reconciler, its scheduler, and the
asyncio loop that asks for each intake's poll when due (not a kopf timer: kopf would put a
finalizer on every intake, so deleting one would hang while the operator is down)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from ocr_operator.cluster import IntakeCluster
from ocr_operator.config import OperatorConfig
from ocr_operator.intake.reconcile import IntakeReconciler, Key
from ocr_operator.scheduler import Scheduler

log = logging.getLogger(__name__)

#: Seconds between two looks at which intakes are due for a poll (no API call).
TICK_SECONDS = 1.0


class PollClock:
    """Which intakes are due for a poll (in memory; the status keeps lastPollTime)."""

    def __init__(self) -> None:
        self.intervals: dict[Key, float] = {}
        self.next_due: dict[Key, float] = {}

    def track(self, key: Key, interval: float, now: float) -> None:
        old = self.intervals.get(key)
        self.intervals[key] = max(1.0, float(interval))
        if old is None:
            self.next_due[key] = now  # a new intake is polled at once
        elif old != self.intervals[key]:
            self.next_due[key] = min(self.next_due.get(key, now), now + self.intervals[key])

    def forget(self, key: Key) -> None:
        self.intervals.pop(key, None)
        self.next_due.pop(key, None)

    def due(self, now: float) -> list[Key]:
        keys = sorted(k for k, t in self.next_due.items() if t <= now)
        for key in keys:
            self.next_due[key] = now + self.intervals[key]
        return keys


def _interval_of(body: Mapping[str, Any]) -> float:
    try:
        return float((body.get("spec") or {}).get("pollIntervalSeconds") or 60)
    except (TypeError, ValueError):
        return 60.0


class IntakeRuntime:
    """The intake side of one operator: reconciler, scheduler, poll clock and loop."""

    def __init__(self, cluster: IntakeCluster, config: OperatorConfig) -> None:
        self.cluster = cluster
        self.config = config
        self.reconciler = IntakeReconciler(cluster, config)
        self.scheduler = Scheduler(self.reconciler.reconcile)
        self.clock = PollClock()
        self.task: asyncio.Task[None] | None = None

    def observe(self, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace")), str(meta.get("name")))
        self.clock.track(key, _interval_of(body), time.monotonic())

    def forget(self, namespace: str, name: str) -> None:
        self.clock.forget((namespace, name))

    def poke(self, namespace: str | None, name: str | None) -> None:
        if namespace and name:
            self.scheduler.poke(namespace, name)

    async def run(self) -> None:
        last_resync = time.monotonic()
        while True:
            await asyncio.sleep(TICK_SECONDS)
            now = time.monotonic()
            if now - last_resync >= self.config.resync_seconds:
                last_resync = now
                try:  # a backstop for missed watch events
                    for body in await asyncio.to_thread(self.cluster.list_intakes):
                        self.observe(body)
                except Exception as exc:
                    log.warning("listing intakes failed: %s", exc)
            for namespace, name in self.clock.due(now):
                self.reconciler.request_poll(namespace, name)
                self.scheduler.poke(namespace, name)

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.scheduler.close()
