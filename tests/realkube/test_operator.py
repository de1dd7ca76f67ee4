"""`ocr-operator --standalone` as a subprocess against the real apiserver (real watches), with a
real S3 server (SeaweedFS, tests/support/s3server.py) as the batch's source.

What 1.20 can show: the operator plans the batch (status, Events) and creates its worker Job,
owned by the batch; deleting the batch collects the Job. No kubelet and no Job controller
run here, so no pod ever starts. Kubernetes 1.20 has no Indexed Jobs: it silently drops the
Job's `completionMode` (and `backoffLimitPerIndex`), which the test records.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from tests.realkube.helpers import GROUP, PLURAL, ROOT, VERSION, ocrbatch, wait_until
from tests.support.realkube import RealCluster
from tests.support.s3server import S3Server

IMAGES = 5
SHARD_SIZE = 2


def operator_command() -> list[str]:
    """The `ocr-operator` console script of the venv (or `OCRBATCH_OPERATOR_COMMAND`, split
    like a shell would, e.g. to try a patched entry point)."""
    override = os.environ.get("OCRBATCH_OPERATOR_COMMAND")
    if override:
        return shlex.split(override)
    script = Path(sys.executable).parent / "ocr-operator"
    if script.is_file():
        return [str(script)]
    found = shutil.which("ocr-operator")
    if found:
        return [found]
    pytest.fail("no ocr-operator console script: run `pip install -e . --no-deps` in the venv")


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(tmp_path_factory.mktemp("realkube-s3"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Operator:
    proc: subprocess.Popen[bytes]
    log: Path

    def exited(self) -> str | None:
        code = self.proc.poll()
        return None if code is None else f"ocr-operator exited with {code}"


@pytest.fixture
def operator(real_cluster: RealCluster, namespace: str, tmp_path: Path) -> Iterator[Operator]:
    """The operator watching `namespace`, as a subprocess (stopped by PID afterwards)."""
    log_path = tmp_path / "operator.log"
    env = real_cluster.env()
    env.update(
        OCRBATCH_RESYNC_SECONDS="3",
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "operator")]),
    )
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*operator_command(), "--standalone", "--namespace", namespace, "--verbose"],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            yield Operator(proc, log_path)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def test_operator_plans_and_creates_the_job(
    real_cluster: RealCluster,
    api: k8s.ApiClient,
    custom: k8s.CustomObjectsApi,
    namespace: str,
    s3: S3Server,
    operator: Operator,
) -> None:
    core, batch_api = k8s.CoreV1Api(api), k8s.BatchV1Api(api)
    bucket = s3.make_bucket()
    client = s3.client()
    for i in range(IMAGES):
        client.put_object(bucket, f"in/card-{i:02d}.jpg", io.BytesIO(b"\xff\xd8fake"), 6)
    core.create_namespaced_secret(
        namespace,
        {
            "metadata": {"name": "s3-credentials"},
            "data": {
                "accessKey": base64.b64encode(s3.access_key.encode()).decode(),
                "secretKey": base64.b64encode(s3.secret_key.encode()).decode(),
            },
        },
    )
    spec: dict[str, Any] = {
        "source": {
            "bucket": bucket, "prefix": "in/", "endpoint": s3.endpoint,
            "credentialsSecret": "s3-credentials",
        },
        "output": {"bucket": bucket, "prefix": "out/"},
        "shardSize": SHARD_SIZE,
        "parallelism": 2,
    }
    created = custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, ocrbatch("cards", namespace, spec)
    )
    uid = created["metadata"]["uid"]

    def job() -> Any:
        return batch_api.read_namespaced_job("cards-0", namespace)

    try:
        created_job = wait_until(
            "the operator to create Job cards-0", job, timeout_s=60, abort=operator.exited
        )
        status = wait_until(
            "the plan in the status",
            lambda: (
                (b := custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "cards"))
                .get("status", {}).get("jobs") and b["status"]
            ),
            timeout_s=30,
            abort=operator.exited,
        )
    except AssertionError as exc:
        log = operator.log.read_text(errors="replace")
        hint = ""
        if "no credentials were retrieved from the login handlers" in log:
            hint = (
                "\nocr-operator could not log in: its kopf registry has no login handler "
                "(cli.py builds a plain kopf.OperatorRegistry(), which lacks the fallback login "
                "handlers of kopf's default registry; register one, e.g. "
                "`kopf.on.login(registry=registry)(kopf.login_via_client)`)."
            )
        raise AssertionError(f"{exc}{hint}\n--- operator log:\n{_tail(operator.log)}") from None

    # The status: planned from the real listing, phase moved off empty.
    assert status["total"] == IMAGES
    assert status["shardCount"] == (IMAGES + SHARD_SIZE - 1) // SHARD_SIZE
    assert status["phase"] in {"Planning", "Pending", "Running"}
    assert status["jobs"] == ["cards-0"]
    assert status["attempts"][0]["job"] == "cards-0"

    # The Job: owned by the batch (controller reference), labelled, sized by the plan.
    refs = created_job.metadata.owner_references
    assert [(r.kind, r.name, r.uid, r.controller) for r in refs] == [("OcrBatch", "cards", uid, True)]
    assert created_job.metadata.labels["app.kubernetes.io/managed-by"] == "ocr-operator"
    assert created_job.spec.completions == status["shardCount"]
    # Kubernetes 1.20 has no Indexed Jobs: the field is dropped, not refused.
    raw = batch_api.read_namespaced_job("cards-0", namespace, _preload_content=False)
    raw_spec = json.loads(raw.data)["spec"]
    assert "completionMode" not in raw_spec, "1.20 was expected to drop completionMode"
    assert "backoffLimitPerIndex" not in raw_spec

    # Events on the batch.
    def reasons() -> set[str]:
        events = core.list_namespaced_event(
            namespace, field_selector=f"involvedObject.uid={uid}"
        ).items
        return {e.reason for e in events}

    wait_until("the Planned event", lambda: {"Planning", "Planned"} <= reasons(), timeout_s=20)

    # A spec change arrives through the watch: the next pass records the new generation.
    # (Not `spec.suspend`: Job.spec.suspend only exists from 1.21 on; 1.20 drops it too.)
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "cards", {"spec": {"parallelism": 3}}
    )

    def observed() -> Any:
        batch = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "cards")
        return batch["status"].get("observedGeneration") == batch["metadata"]["generation"] == 2

    wait_until("status.observedGeneration 2", observed, timeout_s=30)

    # Deleting the batch: the real garbage collector removes its Job.
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "cards")

    def job_gone() -> bool:
        try:
            job()
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_until("the Job to be garbage collected", job_gone, timeout_s=30)
