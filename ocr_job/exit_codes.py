"""Exit codes of `ocr-job run`: a contract with the operator, whose worker Jobs fail fast on
`USAGE` (podFailurePolicy). Imports nothing, so the operator can import it."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  #: every input got a record (error records included)
    CANNOT_PROCEED = 1  #: unreadable source or destination, storage outage, engine failed to load
    USAGE = 2  #: bad flags or configuration, or a memory limit below the engine's need
