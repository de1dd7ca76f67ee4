"""Coalescing per-batch runner: many pokes of one batch make at most one pass running and
one queued, and two passes of one batch start at least `min_interval` seconds apart (however
many watch events arrive: the write-rate bound of docs/operator.md, "Progress at scale");
a failed pass is retried with backoff. Passes run in threads (blocking I/O)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from ocr_operator.messages import safe_error

log = logging.getLogger(__name__)

Key = tuple[str, str]


class Scheduler:
    def __init__(
        self,
        work: Callable[[str, str], object],
        *,
        retry_delays: tuple[float, ...] = (1, 2, 5, 10, 30),
        min_interval: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._work = work
        self._min_interval = min_interval
        self._clock = clock
        self._started: dict[Key, float] = {}
        self._retry_delays = retry_delays
        self._dirty: set[Key] = set()
        self._tasks: dict[Key, asyncio.Task[None]] = {}
        self._failures: dict[Key, int] = {}

    def poke(self, namespace: str, name: str) -> None:
        """Ask for a pass over the batch soon (cheap; call from any handler)."""
        key = (namespace, name)
        self._dirty.add(key)
        task = self._tasks.get(key)
        if task is None or task.done():
            self._tasks[key] = asyncio.get_running_loop().create_task(self._run(key))

    async def _run(self, key: Key) -> None:
        while key in self._dirty:
            last = self._started.get(key)
            if last is not None:
                wait = last + self._min_interval - self._clock()
                if wait > 0:
                    await asyncio.sleep(wait)  # pokes meanwhile join this one pass
            self._dirty.discard(key)
            self._started[key] = self._clock()
            try:
                await asyncio.to_thread(self._work, *key)
            except Exception as exc:
                count = self._failures.get(key, 0)
                self._failures[key] = count + 1
                delay = self._retry_delays[min(count, len(self._retry_delays) - 1)]
                log.warning("reconcile of %s/%s failed (%s); retry in %ss", *key, safe_error(exc), delay)
                await asyncio.sleep(delay)
                self._dirty.add(key)
            else:
                self._failures.pop(key, None)

    async def idle(self) -> None:
        """Wait until no pass runs (tests)."""
        while any(not t.done() for t in self._tasks.values()):
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
