"""Kubernetes quantities: memory to bytes and back, cpu to cores. Parsing is the official
client's (`kubernetes.utils.quantity`); what is ours is the operator's policy on top: no
negative quantity, no milli-bytes (`512m` is a typo of `512Mi`, not half a byte), and the
rounding of a retry's memory."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

from kubernetes.utils.quantity import format_quantity, parse_quantity

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def _parse(quantity: str | int | float, what: str) -> Decimal:
    try:
        value = Decimal(parse_quantity(quantity))  # type: ignore[no-untyped-call]  # untyped in the client
    except (ValueError, InvalidOperation, TypeError):
        raise ValueError(f"not a {what} quantity: {quantity!r}") from None
    if value < 0:
        raise ValueError(f"not a {what} quantity: {quantity!r}")
    return value


def memory_bytes(quantity: str | int) -> int:
    """`512Mi` -> 536870912 (fractions of a byte round up). Raises ValueError on anything
    else, milli-bytes included."""
    if isinstance(quantity, int):
        return quantity
    if quantity.strip().endswith("m"):
        raise ValueError(f"not a memory quantity (milli-bytes): {quantity!r}")
    return math.ceil(_parse(quantity, "memory"))


def format_memory(n_bytes: int) -> str:
    """Bytes as the largest binary unit that is exact, else whole Mi rounded up."""
    for unit in ("Ti", "Gi", "Mi", "Ki"):
        if n_bytes % _BINARY[unit] == 0 and n_bytes >= _BINARY[unit]:
            return format_quantity(Decimal(n_bytes), unit)
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
    return float(_parse(quantity, "cpu"))


def threads_for_cpu(quantity: str | int | float) -> int:
    """Engine threads for a cpu limit: rounded, at least 1."""
    return max(1, round(cpu_cores(quantity)))
