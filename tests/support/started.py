"""The process groups a test run started, written down so that CI can stop exactly them.

Every server or pod the suite starts runs in a session of its own (its pid is its process
group id). When `OCRBATCH_STARTED_PIDS` names a file, each start appends one line
`<pid> <start time in clock ticks>`; `scripts/stop-started.py` ends the groups still alive
after the suite, checking the start time so that a reused pid is never signalled.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "OCRBATCH_STARTED_PIDS"


def start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat: when the process started (None once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def remember(pid: int) -> None:
    """Append `pid` to the run's list, when the run keeps one."""
    target = os.environ.get(ENV)
    ticks = start_ticks(pid)
    if not target or ticks is None:
        return
    with open(target, "a", encoding="ascii") as out:
        out.write(f"{pid} {ticks}\n")
