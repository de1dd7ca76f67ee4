"""The CI safety net stops exactly the process groups the suite wrote down."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import started

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "stop-started.py"


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)


def test_only_the_groups_written_down_are_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listing = tmp_path / "pids"
    monkeypatch.setenv(started.ENV, str(listing))
    ours, other = _sleeper(), _sleeper()
    try:
        started.remember(ours.pid)
        subprocess.run([sys.executable, str(SCRIPT), str(listing)], check=True)
        assert ours.wait(30) != 0  # killed
        assert other.poll() is None  # not written down: left alone
    finally:
        for proc in (ours, other):
            proc.kill()
            proc.wait()


def test_a_reused_pid_is_not_signalled(tmp_path: Path) -> None:
    proc = _sleeper()
    try:
        ticks = started.start_ticks(proc.pid)
        assert ticks is not None
        (tmp_path / "pids").write_text(f"{proc.pid} {ticks + 1}\n")  # another process's start
        subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "pids")], check=True)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
