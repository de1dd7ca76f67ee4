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
def operator(real_cluster: RealCluster, namespace: str, tmp_path: Path, s3: S3Server) -> Iterator[Operator]:
    """The operator watching `namespace`, as a subprocess (stopped by PID afterwards); the
    test S3 server is its only allowed endpoint."""
    log_path = tmp_path / "operator.log"
    env = real_cluster.env()
    env.update(
        OCRBATCH_RESYNC_SECONDS="3",
        OCRBATCH_ALLOWED_S3_ENDPOINTS=s3.endpoint,
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "operator")]),
    )
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*operator_command(), "--standalone", "--namespace", namespace, "--verbose"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
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
            "bucket": bucket,
            "prefix": "in/",
            "endpoint": s3.endpoint,
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
                .get("status", {})
                .get("jobs")
                and b["status"]
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
        events = core.list_namespaced_event(namespace, field_selector=f"involvedObject.uid={uid}").items
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


def _odd_keys(prefix: str) -> list[str]:
    """Keys with line breaks, a tab, an escape sequence, and one of 1024 bytes (the S3
    maximum; SeaweedFS caps one path segment at 255 bytes). Each holds MARKER."""
    keys = [f"{prefix}{MARKER}{odd}.jpg" for odd in ("\nnl", "\rcr", "\ttab", "\x1b[31mred")]
    head = f"{prefix}{MARKER}/"
    body = "/".join(["x" * 250] * 4)
    keys.append(head + body[: 1024 - len(head) - len(".jpg")] + ".jpg")
    assert len(keys[-1].encode()) == 1024
    return keys


MARKER = "ID-110101199003077777"  # stands for a name in a file name


def test_boundaries_on_the_real_apiserver(
    api: k8s.ApiClient,
    custom: k8s.CustomObjectsApi,
    namespace: str,
    s3: S3Server,
    operator: Operator,
) -> None:
    """Odd keys are planned and never reach the status, the Events or the log; a second batch
    on the same output prefix stops (OutputInUse); a ServiceAccount off the allowlist stops
    the batch; the per-batch identity is garbage-collected with the batch."""
    core, rbac = k8s.CoreV1Api(api), k8s.RbacAuthorizationV1Api(api)
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
    bucket = s3.make_bucket()
    keys = _odd_keys("odd/")
    for key in keys:
        s3.client().put_object(bucket, key, io.BytesIO(b"\xff\xd8fake"), 6)

    def spec(prefix: str, out: str, **more: Any) -> dict[str, Any]:
        return {
            "source": {
                "bucket": bucket,
                "prefix": prefix,
                "endpoint": s3.endpoint,
                "credentialsSecret": "s3-credentials",
            },
            "output": {"bucket": bucket, "prefix": out},
            "shardSize": 2,
            **more,
        }

    def status(name: str) -> dict[str, Any]:
        got = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        return dict(got.get("status") or {})

    def create(name: str, body: dict[str, Any]) -> str:
        made = custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, ocrbatch(name, namespace, body)
        )
        return str(made["metadata"]["uid"])

    def failed(name: str, reason: str) -> dict[str, Any]:
        got = wait_until(
            f"{name} Failed ({reason})",
            lambda: (st := status(name)).get("phase") == "Failed" and st,
            timeout_s=60,
            abort=operator.exited,
        )
        cond = next(c for c in got["conditions"] if c["type"] == "Failed")
        assert cond["reason"] == reason, cond
        return got

    def events(uid: str) -> list[Any]:
        return core.list_namespaced_event(namespace, field_selector=f"involvedObject.uid={uid}").items

    try:
        uid = create("odd", spec("odd/", "odd-out/"))
        planned = wait_until(
            "the plan",
            lambda: status("odd").get("jobs") and status("odd"),
            timeout_s=60,
            abort=operator.exited,
        )
        assert planned["total"] == len(keys) and planned["shardCount"] == 3
        from ocr_job.storage.s3 import read_manifest

        listed = [
            k for i in range(3) for k in read_manifest(planned["manifests"].format(index=i), s3.settings())
        ]
        assert sorted(listed) == sorted(keys)

        thief_uid = create("thief", spec("elsewhere/", "odd-out/"))
        stopped = failed("thief", "OutputInUse")
        assert "the batch odd" in stopped["message"]
        wait_until("the OutputInUse Event", lambda: "OutputInUse" in {e.reason for e in events(thief_uid)})

        create("admin", spec("odd/", "admin-out/", serviceAccountName="default"))
        failed("admin", "ServiceAccountNotAllowed")

        name = "odd-ocr-worker"
        account = core.read_namespaced_service_account(name, namespace)
        assert account.metadata.owner_references[0].uid == uid
        assert account.automount_service_account_token is False
        # Workers make no API call (issue 18): the batch's identity holds no Role.
        with pytest.raises(ApiException) as missing:
            rbac.read_namespaced_role(name, namespace)
        assert missing.value.status == 404
        seen = "\n".join(
            [
                json.dumps(custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "odd")),
                *(f"{e.reason} {e.message}" for e in events(uid)),
                operator.log.read_text(errors="replace"),
            ]
        )
        assert MARKER not in seen and "\x1b" not in seen
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- operator log:\n{_tail(operator.log)}") from None

    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "odd")

    def identity_gone() -> bool:
        try:
            core.read_namespaced_service_account(name, namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
            return True
        return False

    wait_until("the batch's identity to be garbage collected", identity_gone, timeout_s=30)
