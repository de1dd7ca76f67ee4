"""The CRD's schema: structure, defaults, validation messages, and the examples."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from ocr_operator.batch.model import BatchSpec

from ocr_job.records import ShardPhase, ShardStatus
from tests.support.kube_rules import admit, crd_schema, schema_errors

ROOT = Path(__file__).resolve().parents[2]
MINIMAL: dict[str, Any] = {
    "apiVersion": "ocrbatch.io/v1alpha1",
    "kind": "OcrBatch",
    "metadata": {"name": "b", "namespace": "ocr"},
    "spec": {"source": {"bucket": "scans"}, "output": {"bucket": "results"}},
}


@pytest.fixture(scope="module")
def schema(crd: dict[str, Any]) -> dict[str, Any]:
    return crd_schema(crd, "v1alpha1")


def with_spec(**spec: Any) -> dict[str, Any]:
    body = copy.deepcopy(MINIMAL)
    body["spec"].update(spec)
    return body


def test_names_and_columns(crd: dict[str, Any]) -> None:
    spec = crd["spec"]
    assert crd["metadata"]["name"] == "ocrbatches.ocrbatch.io"
    assert spec["group"] == "ocrbatch.io" and spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == "OcrBatch" and spec["names"]["shortNames"] == ["ocrb"]
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns == {
        "Phase": ".status.phase",
        "Progress": ".status.progress",
        "Failed": ".status.failed",
        "Age": ".metadata.creationTimestamp",
    }


def test_defaults(schema: dict[str, Any]) -> None:
    spec = admit(MINIMAL, schema)["spec"]
    assert spec["engine"] == {"name": "onnx", "secondOpinion": True}
    assert spec["resources"] == {"memory": "512Mi", "cpu": "1"}
    assert spec["shardSize"] == 200 and spec["parallelism"] == 4
    assert spec["retry"] == {"backoffLimitPerIndex": 2, "memoryFactor": 1.5, "maxMemory": "2Gi"}
    assert spec["suspend"] is False
    assert spec["source"]["prefix"] == "" and spec["output"]["prefix"] == ""
    # The operator's model applies the same defaults to an undefaulted spec.
    assert BatchSpec.parse(spec) == BatchSpec.parse(MINIMAL["spec"])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"engine": {"name": "tesseract"}}, "spec.engine.name: 'tesseract' is not one of"),
        ({"resources": {"memory": "lots"}}, "spec.resources.memory: 'lots' does not match"),
        ({"resources": {"cpu": "one"}}, "spec.resources.cpu: 'one' does not match"),
        ({"shardSize": 0}, "spec.shardSize: 0 is less than the minimum of 1"),
        ({"parallelism": -1}, "spec.parallelism: -1 is less than the minimum of 1"),
        ({"retry": {"memoryFactor": 0.5}}, "spec.retry.memoryFactor: 0.5 is less than"),
        ({"retry": {"maxMemory": "2 GB"}}, "spec.retry.maxMemory: '2 GB' does not match"),
        ({"source": {"bucket": "Bad_Bucket"}}, "spec.source.bucket: 'Bad_Bucket' does not match"),
        ({"source": {"prefix": "x"}}, "spec.source: 'bucket' is a required property"),
        ({"queueName": "Not A Queue"}, "spec.queueName: 'Not A Queue' does not match"),
    ],
)
def test_bad_specs_are_refused_with_the_field_named(
    schema: dict[str, Any], spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as info:
        admit(with_spec(**spec), schema)
    assert message in str(info.value)


def test_missing_output_is_refused(schema: dict[str, Any]) -> None:
    body = copy.deepcopy(MINIMAL)
    del body["spec"]["output"]
    assert schema_errors(body, schema) == ["spec: 'output' is a required property"]


def test_cpu_takes_integers_and_millicores(schema: dict[str, Any]) -> None:
    for cpu in (2, "500m", "1.5"):
        assert admit(with_spec(resources={"cpu": cpu}), schema)["spec"]["resources"]["cpu"] == cpu


def test_per_shard_reports_are_pruned_from_the_status(schema: dict[str, Any]) -> None:
    """An older worker's `status.shards.<index>` patch does not grow the status."""
    report = ShardStatus(index=3, phase=ShardPhase.SUCCEEDED, total=200, processed=200).to_patch()
    body = admit(MINIMAL, schema)
    body["status"] = {"phase": "Running", "shards": {"3": report}, "errorCodes": {"no_card_found": 2}}
    admitted = admit(body, schema)
    assert "shards" not in admitted["status"]
    assert admitted["status"]["errorCodes"] == {"no_card_found": 2}


def test_unknown_fields_are_pruned(schema: dict[str, Any]) -> None:
    body = with_spec(colour="blue")
    assert "colour" not in admit(body, schema)["spec"]


@pytest.mark.parametrize("path", sorted(p.name for p in (ROOT / "examples").glob("ocrbatch*.yaml")))
def test_examples_validate(schema: dict[str, Any], path: str) -> None:
    docs = list(yaml.safe_load_all((ROOT / "examples" / path).read_text()))
    assert docs
    for doc in docs:
        admitted = admit(doc, schema)
        BatchSpec.parse(admitted["spec"])


def test_the_secret_example_names_the_documented_keys() -> None:
    secret = yaml.safe_load((ROOT / "examples" / "secret.yaml").read_text())
    assert set(secret["stringData"]) == {"accessKey", "secretKey"}


def test_the_api_refuses_a_bad_batch_with_422(kube: Any, api: Any) -> None:
    from kubernetes import client as k8s

    custom = k8s.CustomObjectsApi(api)
    with pytest.raises(k8s.ApiException) as info:
        custom.create_namespaced_custom_object(
            "ocrbatch.io", "v1alpha1", "ocr", "ocrbatches", with_spec(shardSize=0)
        )
    assert info.value.status == 422
    assert "spec.shardSize" in (info.value.body or "")
