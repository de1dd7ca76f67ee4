"""ocr-operator: reconciles OcrBatch resources into Indexed Jobs of `ocr-job` workers.

The package lives under `operator/` (which is not itself a package). Handlers are thin
(`handlers.py`); the decisions are pure functions (`planner`, `jobs`, `status`, `oom`).
"""

from __future__ import annotations

GROUP = "ocrbatch.io"
VERSION = "v1alpha1"
PLURAL = "ocrbatches"
KIND = "OcrBatch"
API_VERSION = f"{GROUP}/{VERSION}"

#: Labels on every object the operator creates.
LABEL_NAME = "app.kubernetes.io/name"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_BATCH = f"{GROUP}/batch"
LABEL_ATTEMPT = f"{GROUP}/attempt"
LABEL_QUEUE = "kueue.x-k8s.io/queue-name"
MANAGER = "ocr-operator"

#: Set by the Job controller on the pods of an Indexed Job.
COMPLETION_INDEX_KEY = "batch.kubernetes.io/job-completion-index"

__all__ = [
    "API_VERSION",
    "COMPLETION_INDEX_KEY",
    "GROUP",
    "KIND",
    "LABEL_ATTEMPT",
    "LABEL_BATCH",
    "LABEL_COMPONENT",
    "LABEL_MANAGED_BY",
    "LABEL_NAME",
    "LABEL_QUEUE",
    "MANAGER",
    "PLURAL",
    "VERSION",
]
