"""The process's memory: its cgroup limit (v1 or v2) and its own peak RSS."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import resource
import sys
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
#: cgroup v1 reports "no limit" as a huge page-aligned number.
_UNLIMITED = 1 << 60


def cgroup_memory_limit(root: Path = CGROUP_ROOT, proc_self: Path = Path("/proc/self/cgroup")) -> int | None:
    """The memory limit of this process's cgroup in bytes, or None when unlimited/unknown."""
    try:
        lines = proc_self.read_text().splitlines()
    except OSError:
        lines = []
    candidates: list[Path] = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        rel = path.lstrip("/")
        if controllers == "":  # v2 unified hierarchy
            candidates.append(root / rel / "memory.max")
        elif "memory" in controllers.split(","):
            candidates.append(root / "memory" / rel / "memory.limit_in_bytes")
    candidates += [root / "memory.max", root / "memory" / "memory.limit_in_bytes"]
    for candidate in candidates:
        try:
            text = candidate.read_text().strip()
        except OSError:
            continue
        if text == "max":
            return None
        try:
            value = int(text)
        except ValueError:
            continue
        return None if value >= _UNLIMITED else value
    return None


def peak_rss_bytes() -> int:
    """This process's peak resident set size (VmHWM: unlike getrusage, it never counts a
    parent's memory inherited across fork)."""
    value = _status_kib("VmHWM:")
    if value is not None:
        return value * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _status_kib(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


#: glibc's `M_MMAP_THRESHOLD` (mallopt): blocks at least this large are mapped on their own
#: and unmapped when freed. glibc's default threshold rises with every large block freed (up
#: to 32 MiB), after which tensors and images of a few MiB are carved from the heap, which
#: then stays near its high-water mark. Fixing it at 4 MiB: peak 370 → 334 MiB on the bench
#: cards, for ~9% more CPU (fresh pages for each large block). See docs/benchmarks.md.
MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024
_M_MMAP_THRESHOLD = -3


def tune_allocator(mmap_threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold for this process. False without glibc (nothing done)."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold))


def release_free_memory() -> None:
    """Hand freed heap pages back to the system after each input.

    glibc keeps freed memory in its arenas, so without this a worker's RSS creeps up
    with every new image size (measured: 361 → 556 MiB over 40 inputs; flat at
    ~280 MiB with it, at no measurable cost). A no-op without glibc.
    """
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def current_rss_bytes() -> int:
    value = _status_kib("VmRSS:")
    return value * 1024 if value is not None else peak_rss_bytes()


def mib(n: int | None) -> str:
    return "unlimited" if n is None else f"{n / 1024 / 1024:.0f} MiB"
