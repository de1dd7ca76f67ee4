"""Every kopf registration of the operator, thin. Every event of an OcrBatch or of one of
its Jobs pokes the batch's reconcile pass (`batch/reconcile.py`); a resync loop pokes every
batch now and then. Every event of an OcrIntake, or of a batch it made, pokes the intake's
pass (`intake/reconcile.py`); its poll loop (`intake/runtime.py`) asks for polls when due.

No finalizer: deletion is left to owner references (the Jobs, then their pods, are garbage
collected), so deleting a batch never hangs while the operator is down. That is also why
there is no kopf timer (kopf puts a finalizer for timers and daemons).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf

from ocr_operator.batch.reconcile import Reconciler, StorageFactory
from ocr_operator.batch.storage import S3BatchStorage
from ocr_operator.cluster import Cluster, KubeCluster, OperatorCluster, load_api_client
from ocr_operator.config import OperatorConfig
from ocr_operator.intake.runtime import IntakeRuntime
from ocr_operator.kopf_settings import configure
from ocr_operator.kube import (
    GROUP,
    INTAKE_KIND,
    INTAKE_PLURAL,
    LABEL_BATCH,
    LABEL_INTAKE,
    LABEL_MANAGED_BY,
    MANAGER,
    PLURAL,
    VERSION,
)
from ocr_operator.metrics import Metrics
from ocr_operator.scheduler import Scheduler

log = logging.getLogger(__name__)


@dataclass
class OperatorState:
    """What the handlers share; one per operator (tests make one per run)."""

    config: OperatorConfig = field(default_factory=OperatorConfig.from_env)
    namespaces: list[str] | None = None
    metrics_port: int | None = None
    cluster_factory: Callable[[], OperatorCluster] | None = None
    storage_factory: StorageFactory = S3BatchStorage
    metrics: Metrics = field(default_factory=lambda: Metrics(None))
    reconciler: Reconciler | None = None
    scheduler: Scheduler | None = None
    resync: asyncio.Task[None] | None = None
    #: The OcrIntake side, made at startup.
    intake: IntakeRuntime | None = None

    def make_cluster(self) -> OperatorCluster:
        if self.cluster_factory is not None:
            return self.cluster_factory()
        return KubeCluster(load_api_client(), self.namespaces)

    def poke(self, namespace: str | None, name: str | None) -> None:
        if self.scheduler is not None and namespace and name:
            self.scheduler.poke(namespace, name)


async def _resync_loop(state: OperatorState, cluster: Cluster) -> None:
    while True:
        await asyncio.sleep(state.config.resync_seconds)
        try:
            batches = await asyncio.to_thread(cluster.list_batches)
        except Exception as exc:
            log.warning("resync listing failed: %s", exc)
            continue
        for namespace, name in batches:
            state.poke(namespace, name)


def register(registry: kopf.OperatorRegistry, state: OperatorState) -> None:
    """Register the handlers of one operator on `registry`."""

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure(settings)
        cluster = state.make_cluster()
        state.reconciler = Reconciler(
            cluster, state.config, storage_factory=state.storage_factory, metrics=state.metrics
        )
        state.scheduler = Scheduler(state.reconciler.reconcile, min_interval=state.config.min_pass_seconds)
        state.resync = asyncio.get_running_loop().create_task(_resync_loop(state, cluster))
        if state.metrics_port is not None:
            state.metrics.serve(state.metrics_port)

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        if state.resync is not None:
            state.resync.cancel()
        if state.scheduler is not None:
            await state.scheduler.close()

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    async def batch_event(type: str | None, name: str | None, namespace: str | None, **_: Any) -> None:
        if type != "DELETED":
            state.poke(namespace, name)

    @kopf.on.event("batch", "v1", "jobs", labels={LABEL_MANAGED_BY: MANAGER}, registry=registry)
    async def job_event(labels: kopf.Labels, namespace: str | None, **_: Any) -> None:
        state.poke(namespace, labels.get(LABEL_BATCH))

    register_intake(registry, state)


def _owner_intake(meta: Mapping[str, Any]) -> str | None:
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == INTAKE_KIND and str(ref.get("apiVersion", "")).startswith(GROUP):
            return str(ref.get("name"))
    return None


def register_intake(registry: kopf.OperatorRegistry, state: OperatorState) -> None:
    """The OcrIntake handlers: drop folders in a bucket become batches (docs/intake.md)."""

    @kopf.on.startup(registry=registry)
    async def intake_startup(**_: Any) -> None:
        runtime = IntakeRuntime(state.make_cluster(), state.config)
        runtime.task = asyncio.get_running_loop().create_task(runtime.run())
        state.intake = runtime

    @kopf.on.cleanup(registry=registry)
    async def intake_cleanup(**_: Any) -> None:
        if state.intake is not None:
            await state.intake.close()

    @kopf.on.event(GROUP, VERSION, INTAKE_PLURAL, registry=registry)
    async def intake_event(
        type: str | None, body: kopf.Body, name: str | None, namespace: str | None, **_: Any
    ) -> None:
        runtime = state.intake
        if runtime is None or not namespace or not name:
            return
        if type == "DELETED":
            runtime.forget(namespace, name)
            return
        runtime.observe(body)
        runtime.poke(namespace, name)

    @kopf.on.event(GROUP, VERSION, PLURAL, labels={LABEL_INTAKE: kopf.PRESENT}, registry=registry)
    async def intake_batch_event(meta: kopf.Meta, namespace: str | None, **_: Any) -> None:
        if state.intake is not None:
            state.intake.poke(namespace, _owner_intake(meta))
