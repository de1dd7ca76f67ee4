"""The Job builder: a pure function of the batch, its spec, the plan and the attempt."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ocr_operator.batch.jobs import (
    Attempt,
    build_job,
    identity_name,
    job_name,
    shard_of,
    worker_identity,
)
from ocr_operator.batch.model import BatchSpec, spec_digest
from ocr_operator.config import OperatorConfig

OWNER = {
    "apiVersion": "ocrbatch.io/v1alpha1",
    "kind": "OcrBatch",
    "metadata": {"name": "cards", "namespace": "ocr", "uid": "uid-1"},
}
SECRET_VALUE = "s3cr3t-value"


def spec(**overrides: Any) -> BatchSpec:
    base: dict[str, Any] = {
        "source": {"bucket": "scans", "prefix": "2024/", "credentialsSecret": "s3-creds"},
        "output": {"bucket": "results", "prefix": "run1"},
    }
    base.update(overrides)
    return BatchSpec.parse(base)


def build(s: BatchSpec | None = None, attempt: Attempt | None = None, **cfg: Any) -> dict[str, Any]:
    return build_job(
        owner=OWNER,
        spec=s or spec(),
        shard_count=5,
        attempt=attempt or Attempt(number=0, memory="512Mi"),
        config=OperatorConfig(**cfg),
    )


def container(job: dict[str, Any]) -> dict[str, Any]:
    return job["spec"]["template"]["spec"]["containers"][0]


def env(job: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(job)["env"]}


def test_indexed_job_shape() -> None:
    job = build()
    s = job["spec"]
    assert job["metadata"]["name"] == "cards-0"
    assert s["completionMode"] == "Indexed"
    assert s["completions"] == 5
    assert s["parallelism"] == 4
    assert s["backoffLimitPerIndex"] == 2
    assert s["podReplacementPolicy"] == "Failed"
    assert s["template"]["spec"]["restartPolicy"] == "Never"
    rules = s["podFailurePolicy"]["rules"]
    by_code = {r["onExitCodes"]["values"][0]: r["action"] for r in rules if "onExitCodes" in r}
    assert by_code == {2: "FailJob", 137: "Count"}
    assert {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]} in rules
    assert "ttlSecondsAfterFinished" not in s


def test_parallelism_never_above_completions() -> None:
    job = build(spec(parallelism=50))
    assert job["spec"]["parallelism"] == 5


def test_the_second_opinion_reaches_the_worker_and_is_on_unless_turned_off() -> None:
    assert env(build(spec()))["OCR_SECOND_OPINION"] == "True"
    assert env(build(spec(engine={"secondOpinion": False})))["OCR_SECOND_OPINION"] == "False"


def test_crops_reach_the_worker_only_when_asked_for() -> None:
    assert env(build(spec()))["OCR_CROPS"] == "False"
    asked = spec(output={"bucket": "results", "prefix": "run1", "crops": True})
    assert env(build(asked))["OCR_CROPS"] == "True"
    assert spec_digest(asked) == spec_digest(spec())  # the same plan and output


def test_resources_requests_equal_limits_and_threads_follow_cpu() -> None:
    # The memory is the attempt's (the first attempt takes spec.resources.memory).
    job = build(spec(resources={"memory": "1Gi", "cpu": "2500m"}), Attempt(0, "1Gi"))
    res = container(job)["resources"]
    assert res["requests"] == res["limits"] == {"memory": "1Gi", "cpu": "2500m"}
    assert env(job)["OCR_THREADS"] == "2"  # round(2.5) -> 2, min 1
    assert env(build(spec(resources={"cpu": "250m"})))["OCR_THREADS"] == "1"
    assert env(build(spec(engine={"name": "paddle", "threads": 6})))["OCR_THREADS"] == "6"
    assert env(build(spec(engine={"name": "paddle"})))["OCR_ENGINE"] == "paddle"


def test_security_context() -> None:
    job = build()
    pod = job["spec"]["template"]["spec"]
    c = container(job)["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert isinstance(pod["securityContext"]["runAsUser"], int)
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["readOnlyRootFilesystem"] is True
    assert c["allowPrivilegeEscalation"] is False
    assert c["capabilities"] == {"drop": ["ALL"]}
    assert c["runAsNonRoot"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in container(job)["volumeMounts"]
    assert any(v["name"] == "tmp" and "emptyDir" in v for v in pod["volumes"])
    assert env(job)["HOME"] == "/tmp"


def test_credentials_only_through_secret_refs() -> None:
    job = build()
    e = env(job)
    assert e["OCR_S3_ACCESS_KEY"] == {"secretKeyRef": {"name": "s3-creds", "key": "accessKey"}}
    assert e["OCR_S3_SECRET_KEY"] == {"secretKeyRef": {"name": "s3-creds", "key": "secretKey"}}
    assert SECRET_VALUE not in json.dumps(job)
    no_secret = build(spec(source={"bucket": "scans"}))
    assert "OCR_S3_ACCESS_KEY" not in env(no_secret)


def test_worker_command_and_status_target() -> None:
    job = build(worker_image="registry.invalid/worker:9")
    c = container(job)
    assert c["image"] == "registry.invalid/worker:9"
    assert c["command"] == ["ocr-job"]
    assert c["args"] == [
        "run",
        "s3://scans/2024",
        "--output",
        "s3://results/run1",
        "--manifest",
        "s3://results/run1/_manifests/shard-{index:04d}.txt",
    ]
    assert env(job)["OCR_STATUS_TARGET"] == "ocr/cards"


def test_s3_endpoint_from_spec_or_config() -> None:
    e = env(build(spec(source={"bucket": "scans", "endpoint": "https://s3.example:9000/"})))
    assert e["OCR_S3_ENDPOINT"] == "s3.example:9000"
    assert e["OCR_S3_SECURE"] == "true"
    e = env(build(s3_endpoint="minio.storage:9000"))
    assert e["OCR_S3_ENDPOINT"] == "minio.storage:9000"


def test_labels_owner_and_service_account() -> None:
    job = build(service_account="custom-sa")  # the shared account is used only when named
    labels = job["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "ocrbatch"
    assert labels["app.kubernetes.io/component"] == "worker"
    assert labels["app.kubernetes.io/managed-by"] == "ocr-operator"
    assert labels["ocrbatch.io/batch"] == "cards"
    assert job["spec"]["template"]["metadata"]["labels"]["ocrbatch.io/batch"] == "cards"
    (ref,) = job["metadata"]["ownerReferences"]
    assert ref["uid"] == "uid-1" and ref["kind"] == "OcrBatch" and ref["controller"] is True
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "cards-ocr-worker" == identity_name("cards")
    assert pod["automountServiceAccountToken"] is False  # workers make no API call
    own = build(spec(serviceAccountName="batch-sa"))
    assert own["spec"]["template"]["spec"]["serviceAccountName"] == "batch-sa"


def test_worker_identity_is_an_account_without_permission() -> None:
    (account,) = worker_identity(OWNER, spec())
    assert account["kind"] == "ServiceAccount"
    assert account["automountServiceAccountToken"] is False
    assert account["metadata"]["name"] == "cards-ocr-worker"
    assert account["metadata"]["namespace"] == "ocr"
    (ref,) = account["metadata"]["ownerReferences"]
    assert ref["uid"] == "uid-1" and ref["controller"] is True
    # A named (allowlisted) account is used as it is: nothing is made.
    assert worker_identity(OWNER, spec(serviceAccountName="shared-sa")) == []
    long = {**OWNER, "metadata": {**OWNER["metadata"], "name": "b" * 63}}
    assert worker_identity(long, spec())[0]["metadata"]["name"] == identity_name("b" * 63)
    assert len(identity_name("b" * 63)) <= 63


def test_suspend_queue_and_ttl() -> None:
    assert build(spec(suspend=True))["spec"]["suspend"] is True
    assert build()["spec"]["suspend"] is False
    queued = build(spec(queueName="team-a"))
    assert queued["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    assert queued["spec"]["suspend"] is True  # Kueue admits it
    assert build(spec(ttlSecondsAfterFinished=600))["spec"]["ttlSecondsAfterFinished"] == 600


def test_retry_job_runs_only_the_listed_shards() -> None:
    job = build(attempt=Attempt(number=1, memory="768Mi", indexes=(3, 7), reason="OOMKilled"))
    assert job["metadata"]["name"] == "cards-1"
    assert job["spec"]["completions"] == 2
    assert env(job)["OCR_SHARD_INDEXES"] == "3,7"
    assert container(job)["resources"]["limits"]["memory"] == "768Mi"
    assert "OCR_SHARD_INDEXES" not in env(build())
    assert shard_of(1, (3, 7)) == 7
    assert shard_of(4, None) == 4


def test_build_is_deterministic() -> None:
    assert build() == build()


@pytest.mark.parametrize("length", [10, 61, 62, 63, 200])
def test_job_name_fits_and_stays_unique(length: int) -> None:
    batch = "b" * length
    name = job_name(batch, 12)
    assert len(name) <= 63
    assert name.endswith("-12")
    assert job_name(batch, 12) == name
    if length + 3 > 63:
        assert job_name("b" * length + "x", 12) != name
    else:
        assert name == f"{batch}-12"
