"""bench.profile --memory: a step's peak is reset before it and read after it."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from bench.profile import memory_table, watch_memory


class _Engine:
    """A stand-in whose `read_line` holds 64 MiB for a moment, and `reread` nothing."""

    def read_line(self, image: Any, quad: Any) -> tuple[str, float]:
        block = np.ones(64 * 2**20, np.uint8)  # touched: resident while the step runs
        return ("", float(block[-1]) - 1.0)

    def reread(self, *args: Any) -> None:
        return None


def _peaks_of_the_stand_in() -> dict[str, list[tuple[int, int]]]:
    engine = _Engine()
    peaks: dict[str, list[tuple[int, int]]] = {}
    watch_memory(engine, peaks)
    engine.read_line(None, None)
    engine.reread()
    return peaks


def test_each_step_reports_its_own_peak_above_the_rss_before_it() -> None:
    # In a fresh process: the kernel's peak of a process that has run the test suite's
    # hundreds of modules and engines did not always take the stand-in's 64 MiB.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        peaks = pool.submit(_peaks_of_the_stand_in).result()
    ((before, peak),) = peaks["read_line"]
    assert peak - before >= 60
    ((before, peak),) = peaks["reread"]
    assert peak - before < 60  # its peak was reset when it started
    table = memory_table([("x.jpg", peaks)])
    assert "| read_line | +" in table and "(x.jpg)" in table
