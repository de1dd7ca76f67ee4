"""Kubernetes quantities: memory to bytes and back, cpu to cores."""

from __future__ import annotations

import math
import re

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_MEMORY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_CPU = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m)?$")


def memory_bytes(quantity: str | int) -> int:
    """`512Mi` -> 536870912. Raises ValueError on anything else."""
    if isinstance(quantity, int):
        return quantity
    match = _MEMORY.fullmatch(quantity.strip())
    if not match:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    number, unit = match.groups()
    scale = _BINARY.get(unit or "") or _DECIMAL.get(unit or "", 1)
    return math.ceil(float(number) * scale)


def format_memory(n_bytes: int) -> str:
    """Bytes as the largest binary unit that is exact, else whole Mi rounded up."""
    for unit in ("Ti", "Gi", "Mi", "Ki"):
        if n_bytes % _BINARY[unit] == 0 and n_bytes >= _BINARY[unit]:
            return f"{n_bytes // _BINARY[unit]}{unit}"
    return f"{math.ceil(n_bytes / _BINARY['Mi'])}Mi"


def scale_memory(quantity: str, factor: float, ceiling: str) -> str | None:
    """The memory of a retry: `quantity * factor` rounded up to Mi, capped at `ceiling`.

    None when `quantity` is already at (or above) the ceiling: no retry can get more.
    """
    current = memory_bytes(quantity)
    cap = memory_bytes(ceiling)
    if current >= cap:
        return None
    mib = _BINARY["Mi"]
    wanted = math.ceil(current * factor / mib) * mib
    return format_memory(min(max(wanted, current + mib), cap))


def cpu_cores(quantity: str | int | float) -> float:
    """`500m` -> 0.5, `"2"` -> 2.0."""
    if isinstance(quantity, int | float):
        return float(quantity)
    match = _CPU.fullmatch(quantity.strip())
    if not match:
        raise ValueError(f"not a cpu quantity: {quantity!r}")
    number, milli = match.groups()
    return float(number) / (1000 if milli else 1)


def threads_for_cpu(quantity: str | int | float) -> int:
    """Engine threads for a cpu limit: rounded, at least 1."""
    return max(1, round(cpu_cores(quantity)))
