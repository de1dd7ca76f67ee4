"""Waiting on observable progress instead of a fixed time (a loaded machine only makes the
wait longer, never the test wrong)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

#: Generous: a wait returns as soon as its condition holds, so only a failure waits this
#: long; a shared 2-core CI machine can take many seconds for a pass or a poll.
DEFAULT_TIMEOUT_S = 120.0


def wait_for(what: str, fn: Callable[[], Any], timeout: float = DEFAULT_TIMEOUT_S) -> Any:
    """The first truthy value of `fn()`; AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def wait_for_advances(
    what: str, fn: Callable[[], Any], count: int, timeout: float = DEFAULT_TIMEOUT_S
) -> list[Any]:
    """Wait until `fn()` (e.g. an intake's lastPollTime, a counter of passes) has taken
    `count` new values after the current one; the values seen, oldest first."""
    seen = [fn()]

    def advanced() -> bool:
        value = fn()
        if value != seen[-1]:
            seen.append(value)
        return len(seen) > count

    wait_for(f"{count} more {what} (seen {seen})", advanced, timeout)
    return seen
