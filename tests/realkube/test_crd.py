"""crds/ocrbatches.yaml on a real kube-apiserver 1.20: accepted, Established, defaulted,
validated (422 with the field path), printed by kubectl, and its status subresource."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from tests.realkube.helpers import ALL_CRDS, CRD_PATH, GROUP, PLURAL, VERSION, ocrbatch
from tests.support.realkube import KUBE_VERSION, RealCluster


def test_cluster_is_the_built_version(real_cluster: RealCluster) -> None:
    version = real_cluster.server_version()
    assert version["gitVersion"] == f"v{KUBE_VERSION}"
    assert real_cluster.startup_seconds is not None  # it started (how fast is no test's business)
    assert set(real_cluster.pids()) == {"etcd", "kube-apiserver", "kube-controller-manager"}


@pytest.mark.parametrize("path", ALL_CRDS, ids=[p.name for p in ALL_CRDS])
def test_every_crd_is_established(real_cluster: RealCluster, path: Path) -> None:
    name = yaml.safe_load(path.read_text())["metadata"]["name"]
    status, crd = real_cluster.request(
        "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
    )
    assert status == 200, crd
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions.get("Established") == "True", conditions
    assert conditions.get("NonStructuralSchema") is None


def test_crd_is_established(real_cluster: RealCluster) -> None:
    status, crd = real_cluster.request(
        "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/ocrbatches.ocrbatch.io"
    )
    assert status == 200
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions.get("Established") == "True"
    assert conditions.get("NamesAccepted") == "True"
    assert conditions.get("NonStructuralSchema") is None  # a structural schema
    accepted = crd["status"]["acceptedNames"]
    assert accepted["kind"] == "OcrBatch" and accepted["shortNames"] == ["ocrb"]
    assert accepted["categories"] == ["all"]
    # kubectl 1.35 (client-side apply, as `kubectl apply -f crds/` in the docs) works too.
    out = real_cluster.kubectl("apply", "--server-side=false", "-f", str(CRD_PATH)).stdout
    assert "ocrbatches.ocrbatch.io" in out
    # The resource is discoverable under the group, with its short name and subresource.
    status, resources = real_cluster.request("GET", f"/apis/{GROUP}/{VERSION}")
    assert status == 200
    by_name = {r["name"]: r for r in resources["resources"]}
    assert by_name[PLURAL]["shortNames"] == ["ocrb"]
    assert f"{PLURAL}/status" in by_name


def test_defaults_apply_on_create(custom: k8s.CustomObjectsApi, namespace: str) -> None:
    created = custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, ocrbatch("defaults", namespace)
    )
    spec = created["spec"]
    assert spec["shardSize"] == 200 and spec["parallelism"] == 4
    assert spec["engine"] == {"name": "onnx", "secondOpinion": True}
    assert spec["resources"] == {"memory": "512Mi", "cpu": "1"}
    assert spec["retry"] == {"backoffLimitPerIndex": 2, "memoryFactor": 1.5, "maxMemory": "2Gi"}
    assert spec["suspend"] is False
    assert spec["source"]["prefix"] == "" and spec["output"]["prefix"] == ""
    # Persisted, not only in the response; unknown fields pruned.
    body = ocrbatch("pruned", namespace)
    body["spec"]["bogus"] = 1
    body["spec"]["engine"] = {"name": "paddle", "threads": 2}
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    stored = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "pruned")
    assert "bogus" not in stored["spec"]
    assert stored["spec"]["engine"] == {"name": "paddle", "threads": 2, "secondOpinion": True}
    # cpu is int-or-string: an integer is kept as given.
    body = ocrbatch("intcpu", namespace)
    body["spec"]["resources"] = {"cpu": 2}
    stored = custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    assert stored["spec"]["resources"] == {"cpu": 2, "memory": "512Mi"}


BAD: list[tuple[str, dict[str, Any] | None, list[str]]] = [
    (
        "bad-enum",
        {"engine": {"name": "tesseract"}},
        ["spec.engine.name", 'Unsupported value: "tesseract"', '"onnx"', '"paddle"'],
    ),
    ("negative-parallelism", {"parallelism": -1}, ["spec.parallelism", "greater than or equal to 1"]),
    ("zero-shard-size", {"shardSize": 0}, ["spec.shardSize", "greater than or equal to 1"]),
    ("missing-output", {"output": None}, ["spec.output", "Required value"]),
    ("missing-bucket", {"source": {"prefix": "x"}}, ["spec.source.bucket", "Required value"]),
    ("bad-bucket", {"source": {"bucket": "Not_A_Bucket"}}, ["spec.source.bucket", "should match"]),
    ("bad-memory", {"resources": {"memory": "lots"}}, ["spec.resources.memory", "should match"]),
    ("bad-type", {"parallelism": "four"}, ["spec.parallelism", "Invalid value", "integer"]),
    ("no-spec", None, ["spec", "Required value"]),
    # Maxima (docs/operator.md, "Cluster surface"): what a 1.20 schema can state.
    (
        "ttl-over-max",
        {"ttlSecondsAfterFinished": 10**9},
        ["spec.ttlSecondsAfterFinished", "less than or equal to 2592000"],
    ),
    ("cpu-int-over-max", {"resources": {"cpu": 100}}, ["spec.resources.cpu", "less than or equal to 32"]),
    (
        "memory-too-long",
        {"resources": {"memory": "1" * 40}},
        ["spec.resources.memory", "should be at most 16 chars long"],
    ),
    (
        "max-memory-too-long",
        {"retry": {"maxMemory": "9" * 20 + "Gi"}},
        ["spec.retry.maxMemory", "should be at most 16 chars long"],
    ),
    (
        "endpoint-too-long",
        {"source": {"bucket": "scans", "endpoint": "a" * 300}},
        ["spec.source.endpoint", "should be at most 255 chars long"],
    ),
]


@pytest.mark.parametrize(("case", "change", "expected"), BAD, ids=[c[0] for c in BAD])
def test_invalid_batches_are_refused_with_422(
    custom: k8s.CustomObjectsApi,
    namespace: str,
    case: str,
    change: dict[str, Any] | None,
    expected: list[str],
) -> None:
    body = ocrbatch(case, namespace)
    if change is None:
        del body["spec"]
    else:
        for key, value in change.items():
            if value is None:
                del body["spec"][key]
            else:
                body["spec"][key] = value
    with pytest.raises(ApiException) as info:
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    assert info.value.status == 422, info.value.body
    message = json.loads(info.value.body)["message"]
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert f'OcrBatch.ocrbatch.io "{case}" is invalid' in message


def _table(text: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in text.strip().splitlines()]


@pytest.mark.parametrize("resource", ["ocrbatches", "ocrb", "ocrbatch", "ocrbatches.ocrbatch.io"])
def test_printer_columns_in_kubectl_get(
    real_cluster: RealCluster, custom: k8s.CustomObjectsApi, namespace: str, resource: str
) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, ocrbatch("cols", namespace))
    custom.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        "cols",
        {"status": {"phase": "Running", "progress": "12/500", "failed": 3, "total": 500}},
    )
    rows = _table(real_cluster.kubectl("get", resource, "-n", namespace).stdout)
    assert rows[0] == ["NAME", "PHASE", "PROGRESS", "FAILED", "AGE"]
    assert rows[1][:4] == ["cols", "Running", "12/500", "3"]
    assert re.fullmatch(r"\d+s", rows[1][4])
    # `kubectl get all` includes the batches (categories: [all]).
    everything = real_cluster.kubectl("get", "all", "-n", namespace).stdout
    assert "ocrbatch.ocrbatch.io/cols" in everything


def test_status_subresource_semantics(custom: k8s.CustomObjectsApi, namespace: str) -> None:
    name = "sub"
    created = custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, ocrbatch(name, namespace)
    )
    assert created["metadata"]["generation"] == 1
    assert "status" not in created

    # A status write changes status only: spec in the same body is ignored, generation stays.
    after_status = custom.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        name,
        {"spec": {"parallelism": 99}, "status": {"phase": "Planning", "total": 7}},
    )
    assert after_status["status"] == {"phase": "Planning", "total": 7}
    assert after_status["spec"]["parallelism"] == 4
    assert after_status["metadata"]["generation"] == 1

    # A write to the main resource ignores status; a spec change bumps the generation.
    after_spec = custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        name,
        {"spec": {"parallelism": 8}, "status": {"phase": "Succeeded"}},
    )
    assert after_spec["spec"]["parallelism"] == 8
    assert after_spec["status"] == {"phase": "Planning", "total": 7}
    assert after_spec["metadata"]["generation"] == 2

    # Metadata-only and status-only writes leave the generation alone.
    after_label = custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name, {"metadata": {"labels": {"a": "b"}}}
    )
    assert after_label["metadata"]["generation"] == 2
    after_status2 = custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, name, {"status": {"phase": "Running"}}
    )
    assert after_status2["metadata"]["generation"] == 2
    assert after_status2["status"]["phase"] == "Running"

    # A full replace (PUT) of the main resource keeps the stored status too.
    current = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    current["status"] = {"phase": "Failed"}
    current["spec"]["shardSize"] = 10
    replaced = custom.replace_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, current)
    assert replaced["status"]["phase"] == "Running"
    assert replaced["metadata"]["generation"] == 3

    # The status is validated too: a phase outside the enum is a 422.
    with pytest.raises(ApiException) as info:
        custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, name, {"status": {"phase": "Exploded"}}
        )
    assert info.value.status == 422
    assert "status.phase" in json.loads(info.value.body)["message"]


def test_empty_strings_are_values_not_null(custom: k8s.CustomObjectsApi, namespace: str) -> None:
    """ "" is a string, not null (a Go >= 1.19 build of 1.20 needs a patch for that; see
    scripts/build-kube.sh): the operator writes empty condition messages all the time."""
    body = ocrbatch("empty", namespace)
    body["spec"]["source"]["region"] = ""
    created = custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    assert created["spec"]["source"]["region"] == ""
    condition = {"type": "Failed", "status": "False", "reason": "NoFailure", "message": ""}
    patched = custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, "empty", {"status": {"conditions": [condition]}}
    )
    assert patched["status"]["conditions"] == [condition]
