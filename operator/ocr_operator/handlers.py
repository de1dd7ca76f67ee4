"""kopf handlers: thin. Every event of an OcrBatch or of one of its Jobs pokes the batch's
reconcile pass (`reconcile.py`); a resync loop pokes every batch now and then.

No finalizer: deletion is left to owner references (the Jobs, then their pods, are garbage
collected), so deleting a batch never hangs while the operator is down. That is also why
there is no kopf timer (kopf puts a finalizer for timers and daemons).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import kopf

from ocr_operator import GROUP, LABEL_BATCH, LABEL_MANAGED_BY, MANAGER, PLURAL, VERSION
from ocr_operator.cluster import Cluster, KubeCluster, load_api_client
from ocr_operator.config import OperatorConfig
from ocr_operator.metrics import Metrics
from ocr_operator.reconcile import Reconciler, StorageFactory
from ocr_operator.scheduler import Scheduler
from ocr_operator.settings import configure
from ocr_operator.storage import S3BatchStorage

log = logging.getLogger(__name__)


@dataclass
class OperatorState:
    """What the handlers share; one per operator (tests make one per run)."""

    config: OperatorConfig = field(default_factory=OperatorConfig.from_env)
    namespaces: list[str] | None = None
    metrics_port: int | None = None
    cluster_factory: Callable[[], Cluster] | None = None
    storage_factory: StorageFactory = S3BatchStorage
    metrics: Metrics = field(default_factory=lambda: Metrics(None))
    reconciler: Reconciler | None = None
    scheduler: Scheduler | None = None
    resync: asyncio.Task[None] | None = None
    #: The OcrIntake side (`intake.IntakeRuntime`), made at startup.
    intake: Any = None

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
        factory = state.cluster_factory or (
            lambda: KubeCluster(load_api_client(), state.namespaces)
        )
        cluster = factory()
        state.reconciler = Reconciler(
            cluster, state.config, storage_factory=state.storage_factory, metrics=state.metrics
        )
        state.scheduler = Scheduler(state.reconciler.reconcile)
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
    async def batch_event(
        type: str | None, name: str | None, namespace: str | None, **_: Any
    ) -> None:
        if type != "DELETED":
            state.poke(namespace, name)

    @kopf.on.event(
        "batch", "v1", "jobs", labels={LABEL_MANAGED_BY: MANAGER}, registry=registry
    )
    async def job_event(labels: kopf.Labels, namespace: str | None, **_: Any) -> None:
        state.poke(namespace, labels.get(LABEL_BATCH))

    # OcrIntake: drop folders in a bucket become batches (intake.py, docs/intake.md).
    from ocr_operator.intake import register_intake

    register_intake(registry, state)
