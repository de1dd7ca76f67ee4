"""kopf's startup settings for ocr-operator."""

from __future__ import annotations

import logging

import kopf

from ocr_operator.kube import GROUP


def configure(settings: kopf.OperatorSettings) -> None:
    # Handler progress and the diff-base live in annotations: the status belongs to the
    # reconciler and the workers (a kopf write there would race them).
    prefix = GROUP
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=prefix)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=prefix, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{prefix}/finalizer"
    # No cluster scanning for CRDs or namespaces: the operator is told where to look.
    settings.scanning.disabled = True
    # Events from kopf itself: warnings and errors only (ours are posted explicitly).
    settings.posting.level = logging.WARNING
    settings.posting.loggers = False
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 60
