"""The operator tests' hands (tests/operator/): the API, the S3 output, the Job controller
and the workers of `test_operator_flow.py` and `test_boundaries.py`, and the batches they
submit. The `world` fixture is in conftest.py."""

from __future__ import annotations

import io
import json
from typing import Any

from kubernetes import client as k8s

from ocr_job.records import ErrorCode, ResultRecord, ShardPhase, ShardStatus
from ocr_job.status import StatusReporter, summary_name
from ocr_job.storage.s3 import S3Sink, make_client, read_manifest
from tests.support.kube import EVENTS, JOBS, JobController, KubeServer
from tests.support.s3server import S3Server
from tests.support.waiting import wait_for

NAMESPACE = "ocr"
GROUP, VERSION, PLURAL = "ocrbatch.io", "v1alpha1", "ocrbatches"
BATCHES = (GROUP, VERSION, PLURAL)
SECRET_MARKER = "ID-440101199001011234"  # stands for personal data in keys: never in events


def put_images(s3: S3Server, bucket: str, count: int, prefix: str = "scans") -> list[str]:
    client = s3.client()
    keys = [f"{prefix}/{SECRET_MARKER}-{i:03d}.jpg" for i in range(count)]
    for key in keys:
        client.put_object(bucket, key, io.BytesIO(b"jpeg"), 4)
    client.put_object(bucket, f"{prefix}/notes.txt", io.BytesIO(b"x"), 1)  # not an image
    return keys


def batch_body(name: str, src: str, out: str, secret: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "OcrBatch",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "source": {"bucket": src, "prefix": "scans", "credentialsSecret": secret},
            "output": {"bucket": out, "prefix": "results"},
            "shardSize": 3,
            **spec,
        },
    }


class World:
    """The test's hands: the API, the S3 output, the Job controller, the workers."""

    def __init__(self, kube: KubeServer, api: k8s.ApiClient, s3: S3Server, out: str) -> None:
        self.kube = kube
        self.api = api
        self.custom = k8s.CustomObjectsApi(api)
        self.jobs = JobController(kube)
        self.s3 = s3
        self.sink = S3Sink(make_client(s3.settings()), out, "results")

    def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, body)

    def batch(self, name: str) -> dict[str, Any]:
        return self.kube.get(BATCHES, NAMESPACE, name)

    def status(self, name: str) -> dict[str, Any]:
        return self.batch(name).get("status") or {}

    def wait_phase(self, name: str, phase: str, timeout: float = 20) -> dict[str, Any]:
        return wait_for(
            f"phase {phase}",
            lambda: self.status(name) if self.status(name).get("phase") == phase else None,
            timeout,
        )

    def job(self, name: str) -> dict[str, Any]:
        return wait_for(f"Job {name}", lambda: self.kube.find(JOBS, NAMESPACE, name))

    def reporter(self, batch: str, index: int) -> StatusReporter:
        """The worker's live progress of one shard (written to the output, not the API)."""
        return StatusReporter(self.sink, index, 0.0)

    def work_shard(self, batch: str, index: int, *, errors: int = 0) -> None:
        """What a worker does for one shard: one record per input, its shard summary, then
        a final progress report."""
        status = self.status(batch)
        manifest = status["manifests"].format(index=index)
        keys = read_manifest(manifest, self.s3.settings())
        for n, key in enumerate(keys):
            if n < errors:
                record = ResultRecord.failure(key, ErrorCode.NO_CARD_FOUND, "no card found")
            else:
                record = ResultRecord(source=key, status="ok", side="front")
            self.sink.write_record(record)
        summary = {
            "index": index,
            "total": len(keys),
            "processed": len(keys),
            "succeeded": len(keys) - errors,
            "failed": errors,
            "errors": {ErrorCode.NO_CARD_FOUND.value: errors} if errors else {},
        }
        self.sink.write_text(summary_name(index), json.dumps(summary))
        self.reporter(batch, index).update(
            ShardStatus(
                index=index,
                phase=ShardPhase.SUCCEEDED,
                total=len(keys),
                processed=len(keys),
                succeeded=len(keys) - errors,
                failed=errors,
            )
        )

    def events(self, batch: str) -> list[dict[str, Any]]:
        return [e for e in self.kube.list(EVENTS, NAMESPACE) if e["involvedObject"]["name"] == batch]
