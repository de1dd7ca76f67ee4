"""A deadline on one input's processing, in whichever thread processes it.

`deadline(seconds)` raises TimeoutError in the calling thread once `seconds` have passed
inside the block. Python raises it between bytecodes, so a native call (a model run, a
decoder) finishes first: each of the worker's native steps is bounded by its input's
size, so the deadline is reached soon after.

- In the main thread, SIGALRM (an interval timer) raises it.
- In another thread (a lane, `ocr_job.lanes`), signals cannot reach it: a timer thread
  raises it there with `PyThreadState_SetAsyncExc`, CPython's way to raise an exception in
  another thread, which takes effect at that thread's next bytecode. The timer fires only
  while the block runs, and an exception raised but not yet taken when the block ends is
  withdrawn, so it can never land after the block.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise TimeoutError in this thread after `seconds` (checked between native calls)."""
    if threading.current_thread() is threading.main_thread():
        with _alarm(seconds):
            yield
    else:
        with _raised_from_timer(seconds):
            yield


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def _expire(signum: int, frame: object) -> None:
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _raised_from_timer(seconds: float) -> Iterator[None]:
    target = threading.get_ident()
    lock = threading.Lock()
    state = {"inside": True, "raised": False}

    def expire() -> None:
        with lock:
            if state["inside"]:
                _raise_in(target, TimeoutError)
                state["raised"] = True

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        with lock:
            state["inside"] = False
            if state["raised"]:
                _raise_in(target, None)  # raised, not yet taken: withdrawn


def _raise_in(thread_id: int, exc: type[BaseException] | None) -> None:
    """Have thread `thread_id` raise `exc` at its next bytecode (None: withdraw one pending;
    ctypes passes None as NULL, which is what the C function takes for that)."""
    pending = None if exc is None else ctypes.py_object(exc)
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), pending)
