#!/usr/bin/env python3
"""Stop the process groups a test run wrote down (tests/support/started.py), and only them.

    scripts/stop-started.py FILE

A line whose pid now belongs to another process (another start time) is skipped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.started import start_ticks


def main(path: str) -> int:
    try:
        lines = Path(path).read_text(encoding="ascii").split("\n")
    except FileNotFoundError:
        return 0
    stopped = 0
    for line in filter(None, lines):
        pid, ticks = (int(part) for part in line.split())
        if start_ticks(pid) != ticks:
            continue  # ended, or the pid was reused
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
            stopped += 1
    if stopped:
        print(f"stopped {stopped} process group(s) the tests left running", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
