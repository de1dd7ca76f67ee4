"""cgroup limits, and the loop's one-ahead prefetch and outage behaviour."""

from __future__ import annotations

import threading
from pathlib import Path

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
