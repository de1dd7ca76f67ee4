"""bench.profile --memory: a step's peak is reset before it and read after it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bench.profile import memory_table, watch_memory
from ocr_job import imaging


class _Engine:
    """A stand-in whose `read_line` holds 64 MiB for a moment, and `reread` nothing."""

    def read_line(self, image: Any, quad: Any) -> tuple[str, float]:
        block = np.ones(64 * 2**20, np.uint8)  # touched: resident while the step runs
        return ("", float(block[-1]) - 1.0)

    def reread(self, *args: Any) -> None:
        return None


def test_each_step_reports_its_own_peak_above_the_rss_before_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("decode", "locate_card"):  # wrapped too: put back after the test
        monkeypatch.setattr(imaging, name, getattr(imaging, name))
    engine = _Engine()
    peaks: dict[str, list[tuple[int, int]]] = {}
    watch_memory(engine, peaks)
    engine.read_line(None, None)
    engine.reread()
    ((before, peak),) = peaks["read_line"]
    assert peak - before >= 60
    ((before, peak),) = peaks["reread"]
    assert peak - before < 60  # its peak was reset when it started
    table = memory_table([("x.jpg", peaks)])
    assert "| read_line | +" in table and "(x.jpg)" in table
