"""Several pictures read at once (`ocr_job.lanes`), and the deadline that holds in a lane."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ocr_job.config import EngineName, JobConfig
from ocr_job.deadlines import deadline
from ocr_job.engines import Engine, OcrResult, load_engine
from ocr_job.lanes import LANE_BYTES, lanes_for, run_in_lanes
from ocr_job.pipeline import run
from ocr_job.reporting import Reporters
from ocr_job.storage.local import LocalSink, LocalSource
from ocr_job.synth import generate_set

MiB = 1024 * 1024


def test_every_input_is_handled_once_across_the_lanes() -> None:
    handled: list[tuple[int, str]] = []
    both_busy = threading.Barrier(2)  # each lane holds an input at the same time once

    def handle(item: int, worker: str) -> None:
        if item < 2:
            both_busy.wait(timeout=60)
        handled.append((item, worker))

    run_in_lanes(iter(range(40)), ["a", "b"], handle)
    assert sorted(item for item, _ in handled) == list(range(40))
    assert {worker for _, worker in handled} == {"a", "b"}


def test_a_lane_that_fails_stops_the_others_and_its_error_is_raised() -> None:
    taken: list[int] = []

    def handle(item: int, worker: str) -> None:
        taken.append(item)
        if item == 3:
            raise OSError("the output is gone")

    with pytest.raises(OSError, match="gone"):
        run_in_lanes(iter(range(1000)), ["a", "b"], handle)
    assert len(taken) < 1000  # no lane went on through the rest


class _Interrupted(Exception):
    pass


def test_an_interrupted_caller_stops_the_lanes() -> None:
    """Ctrl-C reaches the waiting main thread, not a lane: the lanes end their inputs and
    stop (they are not left running through the rest)."""
    taken: list[int] = []
    never = threading.Event()

    def interrupted(signum: int, frame: object) -> None:
        raise _Interrupted

    def handle(item: int, worker: str) -> None:
        taken.append(item)
        if item == 0:
            os.kill(os.getpid(), signal.SIGUSR1)  # handled by the main thread
        never.wait(0.01)

    previous = signal.signal(signal.SIGUSR1, interrupted)
    try:
        with pytest.raises(_Interrupted):
            run_in_lanes(iter(range(100_000)), ["a", "b"], handle)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert len(taken) < 100_000


def test_lanes_are_what_the_memory_limit_holds() -> None:
    need = 448 * MiB
    assert lanes_for(2, None, need) == 2  # no limit known
    assert lanes_for(2, 512 * MiB, need) == 1
    assert lanes_for(2, need + LANE_BYTES, need) == 2
    assert lanes_for(4, need + 2 * LANE_BYTES, need) == 3
    assert lanes_for(1, 8192 * MiB, need) == 1
    assert lanes_for(2, 100 * MiB, need) == 1  # below the need: one (the CLI refuses it earlier)


def test_the_deadline_holds_in_a_lane_and_nothing_is_left_pending() -> None:
    outcome: list[str] = []
    never = threading.Event()

    def lane() -> None:
        try:
            with deadline(0.2):
                while not never.wait(0.01):  # a Python loop that would run forever
                    pass
            outcome.append("finished")
        except TimeoutError:
            outcome.append("timed out")
        for _ in range(20):  # a deadline met leaves no exception to land later
            with deadline(0.05):
                pass
            never.wait(0.01)
        outcome.append("went on")

    worker = threading.Thread(target=lane)
    worker.start()
    worker.join(timeout=60)
    assert outcome == ["timed out", "went on"]


@pytest.fixture(scope="module")
def cards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lanes-cards")
    generate_set(folder, 8, seed=41, levels=("clean", "photo"))
    (folder / "junk.jpg").write_bytes(b"\xff\xd8 not a picture")
    return folder


def _records(dest: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for record in LocalSink(dest).iter_records():
        assert record.source not in out, f"two records for {record.source!r}"
        # timings vary; sharpness moves in its 3rd decimal between runs
        out[record.source] = record.model_dump(mode="json", exclude={"timings_ms", "quality"})
    return out


def _run(cards: Path, dest: Path, engines: Sequence[Engine], **config: Any) -> dict[str, dict[str, Any]]:
    job = JobConfig(source=str(cards), output=str(dest), **config)
    source = LocalSource(cards)
    summary = run(list(source.list()), source, LocalSink(dest), engines, job, Reporters([]))
    assert summary.processed == summary.total == 9
    return _records(dest)


def test_two_lanes_read_the_cards_as_one_does(cards: Path, tmp_path: Path) -> None:
    engine = load_engine(EngineName.ONNX, 1)
    one = _run(cards, tmp_path / "one", [engine])
    two = _run(cards, tmp_path / "two", [engine, engine.lane()])  # type: ignore[attr-defined]
    assert len(two) == 9 and two == one
    assert two["junk.jpg"]["status"] == "error"
    assert sum(r["status"] == "ok" for r in two.values()) >= 7


class _Stalls:
    """The real engine, except that the first recognition asked of any lane never finishes."""

    def __init__(self, engine: Any, first: threading.Lock, release: threading.Event) -> None:
        self.name, self._engine, self._first, self._release = engine.name, engine, first, release

    def recognise(self, image: np.ndarray) -> OcrResult:
        if self._first.acquire(blocking=False):  # held for good: only one call stalls
            while not self._release.wait(0.01):
                pass
        return self._engine.recognise(image)  # type: ignore[no-any-return]


def test_a_picture_past_its_deadline_in_a_lane_gets_a_timeout_record(cards: Path, tmp_path: Path) -> None:
    engine = load_engine(EngineName.ONNX, 1, second_opinion=False)
    first, release = threading.Lock(), threading.Event()
    lanes = [_Stalls(engine, first, release), _Stalls(engine.lane(), first, release)]  # type: ignore[attr-defined]
    try:
        records = _run(cards, tmp_path / "out", lanes, item_timeout_s=20.0, second_opinion=False)
    finally:
        release.set()
    codes = sorted(r["error"]["code"] for r in records.values() if r["status"] == "error")
    assert codes == ["timeout", "unreadable_image"]
    assert sum(r["status"] == "ok" for r in records.values()) == 7


class _WrapsItsTimeout:
    """An engine whose library wraps the deadline's TimeoutError in an error of its own, as
    rapidocr does with anything raised inside a model run."""

    name = "onnx"

    def recognise(self, image: np.ndarray) -> OcrResult:
        try:
            raise TimeoutError
        except TimeoutError as exc:
            raise RuntimeError("the model run failed") from exc


def test_a_deadline_wrapped_by_a_library_is_still_a_timeout(cards: Path) -> None:
    from ocr_job.pipeline import Fetched, process
    from ocr_job.storage.base import InputItem

    picture = sorted(cards.rglob("*-front.jpg"))[0]
    data = picture.read_bytes()
    config = JobConfig(source=str(cards), output=str(cards))
    record = process(Fetched(InputItem(picture.name, len(data)), data=data), _WrapsItsTimeout(), config)
    assert record.error is not None and record.error.code.value == "timeout"
