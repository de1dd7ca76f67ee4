"""A batch of 5,000 shards keeps its status small (issue 18): the reconciler, the Kubernetes
emulator (the CRD's schema, the status subresource) and a real S3 server, in the worst
shape for index ranges: every other shard done, every other one OOM-killed and retried."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client as k8s
from ocr_operator.batch.reconcile import Reconciler
from ocr_operator.cluster import KubeCluster
from ocr_operator.config import OperatorConfig

from tests.operator.conftest import NAMESPACE
from tests.support.kube import JOBS, JobController, KubeServer
from tests.support.s3server import S3Server

pytestmark = pytest.mark.timeout(300)

BATCHES = ("ocrbatch.io", "v1alpha1", "ocrbatches")
SHARDS = 5000
SHARD_SIZE = 200
LIMIT = 64 * 1024


def object_size(kube: KubeServer, name: str) -> int:
    """The OcrBatch as `kubectl get -o json` prints it, in bytes."""
    return len(json.dumps(kube.get(BATCHES, NAMESPACE, name), indent=4).encode())


def stored_sets(s3: S3Server, out: str, status: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The shard-sets object the status names, read from the S3 server."""
    url = status["shardSets"]["object"]
    assert url == "/".join(p for p in (f"s3://{out}", prefix, "_shards/sets.json") if p)
    key = url.removeprefix(f"s3://{out}/")
    data: dict[str, Any] = json.loads(s3.client().get_object(out, key).read())
    assert data["revision"] == status["shardSets"]["revision"]
    return data


def planned(kube: KubeServer, name: str, src: str, out: str, secret: str, shards: int = SHARDS) -> None:
    """A batch whose plan of `shards` shards is frozen in its status (as planning leaves it)."""
    kube.create(
        BATCHES,
        {
            "apiVersion": "ocrbatch.io/v1alpha1",
            "kind": "OcrBatch",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {
                "source": {"bucket": src, "credentialsSecret": secret},
                "output": {"bucket": out},
                "shardSize": SHARD_SIZE,
                "parallelism": 200,
            },
        },
    )
    kube.patch(
        BATCHES,
        NAMESPACE,
        name,
        {
            "status": {
                "phase": "Running",
                "total": shards * SHARD_SIZE,
                "shardCount": shards,
                "startTime": "2026-12-06T07:00:00Z",
                "manifests": f"s3://{out}/_manifests/shard-{{index:04d}}.txt",
                "attempts": [{"attempt": 0, "job": f"{name}-0", "memory": "512Mi"}],
                "jobs": [f"{name}-0"],
            }
        },
        "status",
    )


def test_a_batch_of_5000_shards_keeps_its_status_under_64_kib(
    kube: KubeServer,
    api: k8s.ApiClient,
    s3_server: S3Server,
    buckets: tuple[str, str],
    s3_secret: str,
) -> None:
    src, out = buckets
    config = OperatorConfig(s3_endpoint=s3_server.endpoint, worker_image="worker:test")
    reconciler = Reconciler(KubeCluster(api, [NAMESPACE]), config)
    jobs = JobController(kube)
    planned(kube, "big", src, out, s3_secret)
    sizes = [object_size(kube, "big")]

    assert reconciler.reconcile(NAMESPACE, "big") == "Running"
    first = kube.find(JOBS, NAMESPACE, "big-0")
    assert first is not None and first["spec"]["completions"] == SHARDS
    evens = ",".join(str(i) for i in range(0, SHARDS, 2))
    odds = ",".join(str(i) for i in range(1, SHARDS, 2))
    for index in range(1, 120, 2):  # OOM kills, more than the status keeps
        jobs.run_pod(first, index, exit_code=137, reason="OOMKilled")
    jobs.finish(first, completed=evens, failed=odds)
    assert reconciler.reconcile(NAMESPACE, "big") == "Running"
    sizes.append(object_size(kube, "big"))
    # the retried shards run; those that failed otherwise are given up: the batch fails
    assert reconciler.reconcile(NAMESPACE, "big") == "Failed"
    sizes.append(object_size(kube, "big"))
    assert kube.find(JOBS, NAMESPACE, "big-1") is not None

    status = kube.get(BATCHES, NAMESPACE, "big")["status"]
    # 2,500 separate ranges, the worst shape: the status holds the counts, the output the sets
    assert "completedShards" not in status and status["completedShardCount"] == SHARDS // 2
    assert status["oomKillCount"] == 60 and len(status["oomKills"]) == 50
    retry = status["attempts"][1]
    assert retry["memory"] == "768Mi" and "indexes" not in retry
    assert "shards" not in retry and retry["shardCount"] == 60  # in the sets object
    assert "failedShards" not in status and status["failedShardCount"] == SHARDS // 2 - 60
    sets = stored_sets(s3_server, out, status)
    assert sets["completedShards"] == evens
    assert sets["failedShards"] == ",".join(str(i) for i in range(121, SHARDS, 2))
    assert sets["attempts"] == {"1": ",".join(str(i) for i in range(1, 120, 2))}
    assert "shards" not in status
    print(f"OcrBatch of {SHARDS} shards, bytes after each step: {sizes}")
    assert max(sizes) < LIMIT, sizes


def env_of(job: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_a_batch_above_the_shards_per_job_runs_in_parts_one_after_the_other(
    kube: KubeServer,
    api: k8s.ApiClient,
    s3_server: S3Server,
    buckets: tuple[str, str],
    s3_secret: str,
) -> None:
    src, out = buckets
    config = OperatorConfig(s3_endpoint=s3_server.endpoint, worker_image="worker:test", max_shards_per_job=2)
    reconciler = Reconciler(KubeCluster(api, [NAMESPACE]), config)
    jobs = JobController(kube)
    planned(kube, "parts", src, out, s3_secret, shards=5)

    reconciler.reconcile(NAMESPACE, "parts")
    first = kube.get(JOBS, NAMESPACE, "parts-0")
    assert first["spec"]["completions"] == 2 and "OCR_SHARD_INDEXES" not in env_of(first)
    assert kube.find(JOBS, NAMESPACE, "parts-0p1") is None  # one part at a time
    jobs.finish(first, completed="0-1")

    reconciler.reconcile(NAMESPACE, "parts")
    second = kube.get(JOBS, NAMESPACE, "parts-0p1")
    assert second["spec"]["completions"] == 2 and env_of(second)["OCR_SHARD_INDEXES"] == "2-3"
    jobs.run_pod(second, 1, exit_code=137, reason="OOMKilled")  # completion 1: shard 3
    jobs.finish(second, completed="0", failed="1")

    reconciler.reconcile(NAMESPACE, "parts")
    third = kube.get(JOBS, NAMESPACE, "parts-0p2")
    assert third["spec"]["completions"] == 1 and env_of(third)["OCR_SHARD_INDEXES"] == "4"
    assert kube.find(JOBS, NAMESPACE, "parts-1") is None  # the retry waits for the attempt
    jobs.finish(third, completed="0")

    assert reconciler.reconcile(NAMESPACE, "parts") == "Running"
    status = kube.get(BATCHES, NAMESPACE, "parts")["status"]
    assert status["completedShards"] == "0-2,4"
    assert status["oomKills"][0]["index"] == 3
    assert status["attempts"][1]["shards"] == "3"
    assert status["jobs"] == ["parts-0", "parts-0p1", "parts-0p2", "parts-1"]
    retry = kube.get(JOBS, NAMESPACE, "parts-1")
    assert retry["spec"]["completions"] == 1 and env_of(retry)["OCR_SHARD_INDEXES"] == "3"
    assert retry["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "768Mi"
