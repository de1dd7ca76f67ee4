"""The process's memory: its cgroup limit (v1 or v2) and its own peak RSS."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import re
import resource
import sys
from collections.abc import Iterable
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


#: The inputs after which the worker looks afresh for library pages it may hand back
#: (`settle`, `release_library_pages`): the first input has run every stage once, so what
#: stays mapped after it is start-up code (imports, loading the models, each kernel's first
#: run); later rounds find the libraries a rarer path loaded (a PDF, a failure).
RELEASE_LIBRARY_PAGES_EVERY = 100
_MADV_DONTNEED = 4
_MAPPING = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ (\d+)\s*(.*)$")
#: The mappings `release_known_library_pages` hands back: those found clean by the last
#: `release_library_pages` and at least this large (43 of 300 in the worker, 255 of their
#: 279 MiB: the rest is not worth a system call each time).
KNOWN_MAPPING_MIN_BYTES = 1 << 20
#: Their header lines, as /proc/self/maps prints them.
_clean_mappings: frozenset[str] = frozenset()


def settle(done: int) -> None:
    """The worker's memory put back after its `done`-th input: freed heap handed back
    (`release_free_memory`), and after the first input and every
    RELEASE_LIBRARY_PAGES_EVERY inputs the library pages (`release_library_pages`); after
    the others, while one picture is in flight, the pages of the mappings known to be clean
    (`release_known_library_pages`, ~1 ms: the next input's detector hands them back
    anyway). So the resting RSS after every input is measured alike: with the library pages
    of one input's work left in it, it rose and fell by ~50 MiB over each hundred inputs."""
    release_free_memory()
    if done == 1 or done % RELEASE_LIBRARY_PAGES_EVERY == 0:
        release_library_pages()
    elif _settling_before_models:
        release_known_library_pages()


#: Whether `settle_before_models` acts: only while one picture is read at a time
#: (`pictures_in_flight`). With two lanes, one lane's trim and unmapping handed back what
#: the other was using: +17% minor faults on the photographed set, against +4% with one.
_settling_before_models = True


def pictures_in_flight(count: int) -> None:
    """Tell `settle_before_models` how many pictures the worker reads at the same time."""
    global _settling_before_models
    _settling_before_models = count <= 1


def settle_before_models() -> None:
    """Before a model's largest step (the detector's activations, the second recogniser's
    loading): the heap freed since the last input handed back (`release_free_memory`: what
    decoding and locating the picture freed) and the library pages out of RSS
    (`release_known_library_pages`). ~1 ms; the pages used again come back by minor faults
    (+4% of them over the photographed set). Nothing while several pictures are in flight."""
    if _settling_before_models:
        release_free_memory()
        release_known_library_pages()


def release_library_pages(smaps: Path = Path("/proc/self/smaps")) -> int:
    """Unmap this process's clean pages of shared libraries; returns how many mappings.

    The code and read-only data of the libraries (OpenCV's 78 MB, ONNX Runtime's 34 MB,
    numpy...) count in RSS for every page the process touched, and on kernels that map a
    file's large folios whole (ext4 on Linux 6.18: 1-4 MiB at a time), for every folio
    around it: after the first picture ~110 MiB of the worker's RSS were such pages, ~40 MiB
    of them touched only while starting. `madvise(MADV_DONTNEED)` drops them from the page
    tables; a page used again is mapped again from the page cache on its next touch (a
    minor fault: the same bytes, the file is not read again).

    Only mappings that cannot hold anything else than the file's bytes are touched: private
    file mappings without write permission and without an anonymous (copied-on-write) page,
    so a relocated or written page is never thrown away. They are remembered for
    `release_known_library_pages`. Linux only; 0 elsewhere.
    """
    global _clean_mappings
    try:
        text = smaps.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return 0
    clean = _clean_file_mappings(text)
    _clean_mappings = frozenset(line for line in clean if _size(line) >= KNOWN_MAPPING_MIN_BYTES)
    return _release(clean)


def release_known_library_pages(maps: Path = Path("/proc/self/maps")) -> int:
    """`release_library_pages` for the mappings it found clean, those still mapped as they
    were (their line in /proc/self/maps unchanged): without reading each mapping's page
    counts, ~1 ms. Before the detector, whose activations are the largest step of a
    picture: the pages decoding and locating used are out of RSS while it runs."""
    if not _clean_mappings:
        return 0
    try:
        lines = maps.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return 0
    return _release(line for line in lines if line in _clean_mappings)


def _size(header: str) -> int:
    start, _, end = header.partition(" ")[0].partition("-")
    return int(end, 16) - int(start, 16)


def _release(headers: Iterable[str]) -> int:
    """madvise(MADV_DONTNEED) on the mappings of `headers` (maps lines); how many took it."""
    libc = _libc()
    if libc is None or not hasattr(libc, "madvise"):
        return 0
    madvise = libc.madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    released = 0
    for header in headers:
        start, _, end = header.partition(" ")[0].partition("-")
        low = int(start, 16)
        if madvise(low, int(end, 16) - low, _MADV_DONTNEED) == 0:
            released += 1
    return released


def _clean_file_mappings(smaps: str) -> list[str]:
    """The header lines of the mappings of `smaps` (the text of /proc/PID/smaps) that are
    private, read-only (no write permission) mappings of a file on disk with no anonymous
    page."""
    found: list[str] = []
    current: str | None = None
    for line in smaps.splitlines():
        head = _MAPPING.match(line)
        if head:
            _, _, perms, inode, path = head.groups()
            clean = perms[1] == "-" and perms[3] == "p" and inode != "0"
            clean = clean and path.startswith("/") and not path.endswith("(deleted)")
            current = line if clean else None
        elif current is not None and line.startswith("Anonymous:"):
            if line.split()[1] == "0":
                found.append(current)
            current = None
    return found


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
