"""Prometheus metrics of the operator (served by `ocr-operator --metrics-port`)."""

from __future__ import annotations

import contextlib
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from ocr_operator.batch.status import Counts, Phase


class Metrics:
    """All metrics on one registry (a fresh one per operator, so tests do not collide)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.registry = registry or CollectorRegistry()
        self.reconcile_seconds = Histogram(
            "ocrbatch_reconcile_seconds", "Duration of one reconcile pass.", registry=self.registry
        )
        self.reconcile_errors = Counter(
            "ocrbatch_reconcile_errors", "Reconcile passes that raised.", registry=self.registry
        )
        self.jobs_created = Counter("ocrbatch_jobs_created", "Worker Jobs created.", registry=self.registry)
        self.oom_kills = Counter("ocrbatch_oom_kills", "Worker pods seen OOM-killed.", registry=self.registry)
        self.phase = Gauge(
            "ocrbatch_phase",
            "1 for the current phase of each batch.",
            ["namespace", "batch", "phase"],
            registry=self.registry,
        )
        self.inputs = Gauge(
            "ocrbatch_inputs",
            "Inputs of each batch by state (total, processed, failed).",
            ["namespace", "batch", "state"],
            registry=self.registry,
        )

    def set_phase(self, namespace: str, batch: str, phase: Any) -> None:
        for p in Phase:
            self.phase.labels(namespace, batch, str(p)).set(1 if str(p) == str(phase) else 0)

    def set_progress(self, namespace: str, batch: str, counts: Counts) -> None:
        self.inputs.labels(namespace, batch, "total").set(counts.total)
        self.inputs.labels(namespace, batch, "processed").set(counts.processed)
        self.inputs.labels(namespace, batch, "failed").set(counts.failed)

    def forget(self, namespace: str, batch: str) -> None:
        for p in Phase:
            with contextlib.suppress(KeyError):
                self.phase.remove(namespace, batch, str(p))
        for state in ("total", "processed", "failed"):
            with contextlib.suppress(KeyError):
                self.inputs.remove(namespace, batch, state)

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        start_http_server(port, addr=addr, registry=self.registry)
