"""What a batch may ask of the cluster (ocr_operator/policy.py): allowlists and maxima."""

from __future__ import annotations

from typing import Any

import pytest
from ocr_operator.batch.model import MAX_MEMORY, BatchSpec
from ocr_operator.batch.policy import (
    PolicyViolation,
    check_batch,
    endpoint_allowed,
    normalize_endpoint,
)
from ocr_operator.config import OperatorConfig


def spec(**change: Any) -> BatchSpec:
    return BatchSpec.parse({"source": {"bucket": "in"}, "output": {"bucket": "out"}, **change})


@pytest.mark.parametrize(
    ("endpoint", "normal"),
    [
        ("minio:9000", "minio:9000"),
        ("http://MinIO:9000/", "minio:9000"),
        ("https://s3.example", "s3.example"),
        ("[::1]:9000", "::1:9000"),
        ("http://user:pw@minio:9000", None),
        ("http://minio:9000/path", None),
        ("http://minio:9000?x=1", None),
        ("ftp://minio:9000", None),
        ("minio:99999", None),
        ("", None),
    ],
)
def test_endpoints_are_compared_as_host_and_port(endpoint: str, normal: str | None) -> None:
    assert normalize_endpoint(endpoint) == normal


def test_endpoint_allowlist() -> None:
    assert endpoint_allowed("https://minio:9000", ["http://minio:9000"])
    assert not endpoint_allowed("minio:9001", ["minio:9000"])
    assert not endpoint_allowed("minio.evil:9000", ["minio:9000"])
    assert not endpoint_allowed("minio:9000", [])
    assert endpoint_allowed("anything:1", ["*"])
    assert not endpoint_allowed("http://u:p@anything:1", ["*"])


def test_the_default_allowlists_are_the_operators_own() -> None:
    config = OperatorConfig(s3_endpoint="http://minio:9000")
    check_batch(spec(), config)  # nothing named: the operator's own
    check_batch(spec(source={"bucket": "in", "endpoint": "minio:9000"}), config)
    check_batch(spec(serviceAccountName="ocrbatch-worker"), config)
    for change, reason in (
        ({"source": {"bucket": "in", "endpoint": "kubernetes.default:443"}}, "EndpointNotAllowed"),
        ({"serviceAccountName": "default"}, "ServiceAccountNotAllowed"),
    ):
        with pytest.raises(PolicyViolation) as caught:
            check_batch(spec(**change), config)
        assert caught.value.reason == reason
        assert "kubernetes.default" not in caught.value.message
    with pytest.raises(PolicyViolation, match="endpoint"):
        check_batch(spec(source={"bucket": "in", "endpoint": "minio:9000"}), OperatorConfig())


def test_allowlists_from_the_environment() -> None:
    config = OperatorConfig.from_env(
        {
            "OCRBATCH_S3_ENDPOINT": "minio:9000",
            "OCRBATCH_ALLOWED_S3_ENDPOINTS": "minio:9000, archive:443",
            "OCRBATCH_WORKER_SERVICE_ACCOUNTS": "a,b",
        }
    )
    assert config.allowed_s3_endpoints == ("minio:9000", "archive:443")
    assert config.worker_service_accounts == ("a", "b")
    check_batch(spec(serviceAccountName="b", source={"bucket": "in", "endpoint": "archive:443"}), config)
    defaults = OperatorConfig.from_env({"OCRBATCH_S3_ENDPOINT": "minio:9000"})
    assert defaults.allowed_s3_endpoints == ("minio:9000",)
    assert defaults.worker_service_accounts == ("ocrbatch-worker",)


@pytest.mark.parametrize(
    "change",
    [
        {"resources": {"memory": "33Gi"}},
        {"resources": {"memory": "40G"}},
        {"resources": {"cpu": "33"}},
        {"resources": {"cpu": 33}},
        {"resources": {"cpu": "32001m"}},
        {"retry": {"maxMemory": "1Ti"}},
    ],
)
def test_over_the_maxima(change: dict[str, Any]) -> None:
    with pytest.raises(PolicyViolation) as caught:
        check_batch(spec(**change), OperatorConfig())
    assert caught.value.reason == "LimitExceeded"


def test_at_the_maxima() -> None:
    check_batch(
        spec(resources={"memory": MAX_MEMORY, "cpu": "32"}, retry={"maxMemory": MAX_MEMORY}),
        OperatorConfig(),
    )


@pytest.mark.parametrize(
    "change",
    [
        {"ttlSecondsAfterFinished": 2592001},
        {"resources": {"memory": "lots"}},
        {"resources": {"cpu": "0"}},
        {"parallelism": 1001},
    ],
)
def test_the_model_refuses_what_the_crd_refuses(change: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        spec(**change)


def test_model_maxima_match_the_crd(crd: dict[str, Any]) -> None:
    from ocr_operator.batch import model

    props = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert props["ttlSecondsAfterFinished"]["maximum"] == model.MAX_TTL_SECONDS
    assert props["parallelism"]["maximum"] == model.MAX_PARALLELISM
    assert props["shardSize"]["maximum"] == model.MAX_SHARD_SIZE
    assert props["resources"]["properties"]["cpu"]["maximum"] == model.MAX_CPU_CORES
    assert MAX_MEMORY in props["resources"]["properties"]["memory"]["description"]
    assert MAX_MEMORY in props["retry"]["properties"]["maxMemory"]["description"]
