"""Several pictures read at the same time, one per lane (thread), each lane with its own
engine on the same loaded models (`OnnxEngine.lane`).

Why lanes and not more threads per model run: a picture's models are small runs (a
detector on a 640 px card, a recogniser call per line), which ONNX Runtime parallelises
poorly, and between them the picture's own work (decoding, the outline search, the
parser) runs on one core. Two pictures at once keep two cores busy; ONNX Runtime and
OpenCV release Python's lock while they run. Each picture in flight needs its own working
memory (`LANE_BYTES`), so the worker opens as many lanes as its memory limit holds
(`lanes_for`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
W = TypeVar("W")

#: The memory one more picture in flight needs: a second lane raised the worker's peak RSS
#: by 61 MiB on the 28 bench cards (233 -> 294) and 74 MiB on the 48 photographed pictures
#: of seed 77 (238 -> 312; 4,000 px phone photos, cards on printed pages), `ocr-job run
#: --threads 2` against `--threads 1`; with room for a picture heavier than those (one
#: picture's largest rise above the resting RSS was ~90 MiB). See docs/benchmarks.md.
LANE_BYTES = 96 * 1024 * 1024


def lanes_for(threads: int, limit: int | None, need: int) -> int:
    """How many pictures to read at once with `threads` CPU threads, under a memory
    `limit` (None: no limit known) of which one picture's worker takes `need`."""
    if limit is None:
        return threads
    room = max(0, limit - need) // LANE_BYTES
    return max(1, min(threads, 1 + room))


def run_in_lanes(inputs: Iterator[T], workers: Sequence[W], handle: Callable[[T, W], None]) -> None:
    """`handle(input, worker)` for every input of `inputs`, one lane per worker, each lane
    taking the next input as it finishes one. The first exception a lane raises stops
    every lane from taking another input and is raised here once the lanes are done; so
    does an exception in the calling thread while it waits (KeyboardInterrupt)."""
    taking = threading.Lock()  # a generator may be advanced by one thread at a time
    stop = threading.Event()

    def take() -> T | None:
        with taking:
            return None if stop.is_set() else next(inputs, None)

    def lane(worker: W) -> None:
        try:
            while (item := take()) is not None:
                handle(item, worker)
        except BaseException:
            stop.set()
            raise

    pool = ThreadPoolExecutor(len(workers), thread_name_prefix="lane")
    try:
        for future in [pool.submit(lane, worker) for worker in workers]:
            future.result()
    finally:  # also when this thread is interrupted (Ctrl-C): each lane ends its input
        stop.set()
        pool.shutdown(wait=True)
