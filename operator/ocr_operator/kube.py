"""What every part of the operator says to Kubernetes the same way: the API group, kinds
and plurals, the labels of the objects it creates, the timestamp format, the index-range
format of Indexed Jobs, and the status diff (only changed fields are patched).

A leaf module: it imports nothing of the operator, so any module may import it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

GROUP = "ocrbatch.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
#: OcrBatch: one batch of inputs -> Indexed Jobs of workers (`ocr_operator.batch`).
PLURAL = "ocrbatches"
KIND = "OcrBatch"
#: OcrIntake: drop folders in a bucket -> OcrBatches (`ocr_operator.intake`).
INTAKE_PLURAL = "ocrintakes"
INTAKE_KIND = "OcrIntake"

#: Labels on every object the operator creates.
LABEL_NAME = "app.kubernetes.io/name"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_BATCH = f"{GROUP}/batch"
LABEL_ATTEMPT = f"{GROUP}/attempt"
#: Which of an attempt's Jobs (0, 1, …) a pod belongs to (`batch/jobs.py`, "parts").
LABEL_PART = f"{GROUP}/part"
LABEL_INTAKE = f"{GROUP}/intake"
LABEL_QUEUE = "kueue.x-k8s.io/queue-name"
#: The operator's name: the managed-by label value and the Events' reporting component.
MANAGER = "ocr-operator"

#: Set by the Job controller on the pods of an Indexed Job.
COMPLETION_INDEX_KEY = "batch.kubernetes.io/job-completion-index"

#: RFC 3339 in UTC with whole seconds, as the API server writes its own timestamps.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def iso(now: datetime) -> str:
    """`now` as a Kubernetes timestamp."""
    return now.astimezone(UTC).strftime(TIME_FORMAT) if now.tzinfo else now.strftime(TIME_FORMAT)


def parse_iso(text: str | None) -> datetime | None:
    """A Kubernetes timestamp back to an aware datetime; None when absent or malformed."""
    if not text:
        return None
    try:
        return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_index_ranges(indexes: Iterable[int]) -> str:
    """{1, 3, 4, 5} -> "1,3-5" (an Indexed Job's `completedIndexes` format)."""
    ordered = sorted(set(indexes))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def parse_index_ranges(text: str | None) -> set[int]:
    """ "1,3-5" -> {1, 3, 4, 5}; empty or None -> set()."""
    result: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            result.update(range(int(lo), int(hi) + 1))
        else:
            result.add(int(part))
    return result


def status_diff(status: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `patch` whose value differs from `status` (what a pass must write)."""
    return {k: v for k, v in patch.items() if status.get(k) != v}
