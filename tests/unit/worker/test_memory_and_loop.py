"""cgroup limits, and the loop's one-ahead prefetch and outage behaviour."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import cast

import pytest

from ocr_job.memory import cgroup_memory_limit, peak_rss_bytes
from ocr_job.pipeline import Fetched, prefetched
from ocr_job.storage.base import InputItem


def _cgroup(tmp_path: Path, proc: str, files: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    proc_file = tmp_path / "proc-cgroup"
    proc_file.write_text(proc)
    return root, proc_file


def test_cgroup_v1_limit(tmp_path: Path) -> None:
    root, proc = _cgroup(
        tmp_path,
        "12:memory:/kubepods/pod1\n3:cpu,cpuacct:/x\n",
        {"memory/kubepods/pod1/memory.limit_in_bytes": "536870912\n"},
    )
    assert cgroup_memory_limit(root, proc) == 512 * 1024 * 1024


def test_cgroup_v1_unlimited(tmp_path: Path) -> None:
    root, proc = _cgroup(tmp_path, "12:memory:/\n", {"memory/memory.limit_in_bytes": "9223372036854771712\n"})
    assert cgroup_memory_limit(root, proc) is None


def test_cgroup_v2_limit_and_max(tmp_path: Path) -> None:
    root, proc = _cgroup(tmp_path, "0::/pod/c\n", {"pod/c/memory.max": "314572800\n"})
    assert cgroup_memory_limit(root, proc) == 300 * 1024 * 1024
    root, proc = _cgroup(tmp_path / "b", "0::/pod/c\n", {"pod/c/memory.max": "max\n"})
    assert cgroup_memory_limit(root, proc) is None


def test_peak_rss_is_plausible() -> None:
    assert 10 * 1024 * 1024 < peak_rss_bytes() < 64 * 1024**3


def test_prefetch_runs_exactly_one_ahead() -> None:
    items = [InputItem(key=str(i)) for i in range(6)]
    started: list[int] = []
    consumed: list[int] = []
    lock = threading.Lock()

    def get(item: InputItem) -> Fetched:
        with lock:
            started.append(int(item.key))
            # never more than one item fetched beyond the one being consumed
            assert len(started) - len(consumed) <= 2
        return Fetched(item, data=item.key.encode())

    for fetched in prefetched(items, get):
        consumed.append(int(fetched.item.key))
    assert consumed == list(range(6))


def test_prefetch_propagates_an_outage() -> None:
    from ocr_job.storage.base import StorageError

    def get(item: InputItem) -> Fetched:
        if item.key == "2":
            raise StorageError("down")
        return Fetched(item)

    seen: list[str] = []
    with pytest.raises(StorageError):
        for fetched in prefetched([InputItem(key=str(i)) for i in range(5)], get):
            seen.append(fetched.item.key)
    assert seen == ["0", "1"]


def test_the_allocator_takes_the_fixed_mmap_threshold() -> None:
    import platform

    from ocr_job.memory import tune_allocator

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    assert tune_allocator() is True


def test_opencv_threads_follow_the_workers_cpu_share() -> None:
    """OpenCV's pool is sized by the machine's cores unless told: held to `--threads`."""
    import cv2

    from ocr_job.imaging import limit_threads

    before = cv2.getNumThreads()
    try:
        limit_threads(1)
        assert cv2.getNumThreads() == 1
        limit_threads(3)
        assert cv2.getNumThreads() == 3
    finally:
        cv2.setNumThreads(before)


_SMAPS = """\
7f0000000000-7f0000100000 r-xp 00000000 fe:00 11 /lib/libclean.so
Rss:                1024 kB
Anonymous:             0 kB
7f0000100000-7f0000200000 r--p 00100000 fe:00 11 /lib/libclean.so
Rss:                  64 kB
Anonymous:             8 kB
7f0000200000-7f0000300000 rw-p 00200000 fe:00 11 /lib/libclean.so
Anonymous:             0 kB
7f0000300000-7f0000400000 r--s 00000000 fe:00 12 /dev/shm/shared
Anonymous:             0 kB
7f0000400000-7f0000500000 r--p 00000000 00:00 0
Anonymous:             0 kB
7f0000500000-7f0000600000 r--p 00000000 fe:00 13 /tmp/gone.so (deleted)
Anonymous:             0 kB
7f0000600000-7f0000700000 r--p 00000000 fe:00 14 /lib/libdata.so
Rss:                  16 kB
Anonymous:             0 kB
"""


def test_only_private_read_only_file_mappings_without_a_copied_page_are_clean() -> None:
    from ocr_job.memory import _clean_file_mappings

    clean = [line.split()[0] for line in _clean_file_mappings(_SMAPS)]
    # the relocated (copied-on-write) segment, a writable one, a shared one, an anonymous
    # one and a deleted file's are kept
    assert clean == ["7f0000000000-7f0000100000", "7f0000600000-7f0000700000"]


_CHILD = r"""
import ctypes, json, mmap, sys, tempfile
import numpy as np
from ocr_job import memory

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])

# a private copy of a file's page, written, then made read-only: its page is no longer the
# file's bytes, and must survive
libc = ctypes.CDLL(None, use_errno=True)
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
with tempfile.NamedTemporaryFile() as f:
    f.write(b"file" * 1024)
    f.flush()
    copy = mmap.mmap(f.fileno(), 4096, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    copy[:7] = b"written"
    address = ctypes.addressof(ctypes.c_char.from_buffer(copy))
    assert libc.mprotect(address, 4096, mmap.PROT_READ) == 0
    a = np.random.default_rng(0).random((512, 512))
    before_file, before = status("RssFile:"), (a @ a).sum()
    released = memory.release_library_pages()
    after_file = status("RssFile:")
    known = memory.release_known_library_pages()
    same = bool((a @ a).sum() == before)  # numpy's pages used again
    touched = status("RssFile:")
    memory.pictures_in_flight(2)
    memory.settle_before_models()
    in_lanes = status("RssFile:")
    memory.pictures_in_flight(1)
    memory.settle_before_models()
    alone = status("RssFile:")
    (a @ a).sum()  # numpy's pages again, then an input's end
    memory.pictures_in_flight(2)
    memory.settle(2)
    settled_in_lanes = status("RssFile:")
    memory.pictures_in_flight(1)
    memory.settle(3)
    settled_alone = status("RssFile:")
    print(json.dumps({
        "released": released, "known": known, "before_file": before_file, "after_file": after_file,
        "same": same, "copy": copy[:7].decode(), "touched": touched, "in_lanes": in_lanes, "alone": alone,
        "settled_in_lanes": settled_in_lanes, "settled_alone": settled_alone,
    }))
"""


def test_library_pages_are_handed_back_and_what_was_written_is_kept() -> None:
    """In a real process: the clean pages of the libraries it loaded (numpy's) leave RSS,
    the libraries work on (the same product), and a private copy of a file's page that
    was written and made read-only keeps what was written. Before a model's step they are
    handed back again only while one picture is in flight, and so after an input."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True)
    seen = json.loads(done.stdout)
    assert seen["released"] > 0 and seen["known"] > 0
    assert seen["after_file"] < seen["before_file"]
    assert seen["same"] is True
    assert seen["copy"] == "written"
    # before a model's step: nothing while two pictures are in flight, the pages when one is
    assert seen["in_lanes"] >= seen["touched"] > seen["after_file"]
    assert seen["alone"] < seen["in_lanes"]
    # after an input (not the first nor a hundredth): the same, the resting RSS alike
    assert seen["settled_alone"] < seen["settled_in_lanes"]


def test_each_input_is_reported_after_its_memory_is_handed_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The progress log's "resting RSS" is read in `advance`: after the input's `settle`."""
    from ocr_job import pipeline
    from ocr_job.config import JobConfig
    from ocr_job.engines.base import Engine
    from ocr_job.records import ResultRecord
    from ocr_job.storage.local import LocalSink, LocalSource

    src, dest = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(3):
        (src / f"{i}.jpg").write_bytes(b"not a picture %d" % i)  # a record without the engine
    events: list[str] = []
    monkeypatch.setattr(pipeline, "settle", lambda done: events.append(f"settle {done}"))

    class Recorder:
        def start(self, summary: pipeline.RunSummary) -> None:
            events.append("start")

        def advance(self, summary: pipeline.RunSummary, record: ResultRecord | None) -> None:
            events.append(f"advance {summary.processed}")

        def finish(self, summary: pipeline.RunSummary, *, ok: bool, message: str | None = None) -> None:
            events.append("finish")

    source = LocalSource(src)
    config = JobConfig(source=str(src), output=str(dest))
    unused = cast(Engine, object())  # undecodable bytes never reach the engine
    summary = pipeline.run(list(source.list()), source, LocalSink(dest), unused, config, Recorder())
    assert summary.failed == 3
    assert events == ["start"] + [e for i in (1, 2, 3) for e in (f"settle {i}", f"advance {i}")]
