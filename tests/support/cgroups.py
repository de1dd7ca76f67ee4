"""Memory cgroups for the tests' child processes: a child cgroup of this process's own
(v1 or v2) with a hard limit, its OOM-kill counter and peak usage, and a process's peak RSS.

The pod runner (`tests/support/podrunner.py`) runs every pod in one; scenario 7's fuzzer
runs in one too. Every cgroup made here is named `CGROUP_PREFIX…`, so leftovers are
recognisable.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import signal
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
#: Prefix of every cgroup this module creates (so leftovers are recognisable).
CGROUP_PREFIX = "ocrbatch-pod-"


class CgroupError(RuntimeError):
    pass


def own_memory_cgroup(proc_self: Path = Path("/proc/self/cgroup")) -> tuple[int, Path]:
    """(cgroup version, directory) of this process's memory cgroup."""
    lines = proc_self.read_text().splitlines()
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            directory = CGROUP_ROOT / "memory" / path.lstrip("/")
            if directory.is_dir():
                return 1, directory
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            directory = CGROUP_ROOT / path.lstrip("/")
            if (directory / "cgroup.controllers").is_file():
                return 2, directory
    raise CgroupError("no memory cgroup found for this process")


class MemoryCgroup:
    """A child memory cgroup of ours with a hard limit; `procs` takes a pid."""

    def __init__(self, name: str, limit_bytes: int | None) -> None:
        self.version, parent = own_memory_cgroup()
        if self.version == 2:
            controls = parent / "cgroup.subtree_control"
            if "memory" not in controls.read_text().split():
                try:
                    controls.write_text("+memory")
                except OSError as exc:
                    raise CgroupError(f"cannot enable the memory controller below {parent}: {exc}") from exc
        self.path = parent / name
        try:
            self.path.mkdir()
        except OSError as exc:
            raise CgroupError(f"cannot create the cgroup {self.path}: {exc}") from exc
        self.limit_bytes = limit_bytes
        if limit_bytes is not None:
            name = "memory.limit_in_bytes" if self.version == 1 else "memory.max"
            (self.path / name).write_text(str(limit_bytes))
            if self.version == 1:
                # No swap escape hatch either (where swap accounting exists).
                with contextlib.suppress(OSError):
                    (self.path / "memory.memsw.limit_in_bytes").write_text(str(limit_bytes))

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    def _counter(self, filename: str, key: str) -> int:
        try:
            text = (self.path / filename).read_text()
        except OSError:
            return 0
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
        return 0

    def oom_kills(self) -> int:
        if self.version == 1:
            return self._counter("memory.oom_control", "oom_kill")
        return self._counter("memory.events", "oom_kill")

    def peak_bytes(self) -> int | None:
        name = "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"
        try:
            return int((self.path / name).read_text().strip())
        except (OSError, ValueError):
            return None

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in self.procs.read_text().split()]
        except OSError:
            return []

    def remove(self, timeout_s: float = 10.0) -> None:
        """Kill whatever is left in it, then rmdir (retried while the kernel lets go)."""
        deadline = time.monotonic() + timeout_s
        while True:
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError as exc:
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def vm_hwm(pid: int) -> int:
    """The peak RSS of a live process (VmHWM, bytes); 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def reachable_by_others(path: Path) -> bool:
    """Whether a user other than the owner can traverse to and execute `path` (its real
    location; a venv's python is often a link into a 0700 home)."""
    real = path.resolve()
    return all(p.stat().st_mode & 0o001 for p in [real, *real.parents])


def cgroups_unavailable() -> str | None:
    """Why memory cgroups cannot be used here, or None when they can."""
    if os.geteuid() != 0:
        return "memory cgroups need root"
    try:
        group = MemoryCgroup(f"{CGROUP_PREFIX}probe-{secrets.token_hex(3)}", 64 << 20)
    except (CgroupError, OSError) as exc:
        return f"cannot create a memory cgroup: {exc}"
    group.remove()
    return None
