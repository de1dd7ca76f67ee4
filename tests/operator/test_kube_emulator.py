"""The emulator's own semantics that the operator tests rely on."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import watch

from tests.support.kube import JOBS, KubeServer
from tests.support.kube_rules import field_selector_matches, label_selector_matches, merge_patch

BATCHES = ("ocrbatch.io", "v1alpha1", "ocrbatches")
BODY: dict[str, Any] = {
    "metadata": {"name": "b", "namespace": "ocr"},
    "spec": {"source": {"bucket": "scans"}, "output": {"bucket": "results"}},
}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("a=1", True),
        ("a==1,b=2", True),
        ("a=2", False),
        ("a!=2", True),
        ("c", False),
        ("!c", True),
        ("a in (1,3)", True),
        ("a notin (1,3)", False),
        ("a in (1,3),b", True),
    ],
)
def test_label_selectors(selector: str, expected: bool) -> None:
    assert label_selector_matches(selector, {"a": "1", "b": "2"}) is expected


def test_field_selectors() -> None:
    obj = {"metadata": {"name": "x", "namespace": "ns"}}
    assert field_selector_matches("metadata.name=x", obj)
    assert not field_selector_matches("metadata.name!=x", obj)


def test_merge_patch_replaces_lists_and_deletes_nulls() -> None:
    assert merge_patch({"a": [1, 2], "b": {"c": 1, "d": 2}}, {"a": [3], "b": {"c": None}}) == {
        "a": [3],
        "b": {"d": 2},
    }


def test_resource_versions_generation_and_the_status_subresource(kube: KubeServer) -> None:
    created = kube.create(BATCHES, BODY)
    rv0 = int(created["metadata"]["resourceVersion"])
    assert created["metadata"]["generation"] == 1
    spec = kube.patch(BATCHES, "ocr", "b", {"spec": {"parallelism": 2}, "status": {"phase": "X"}})
    assert spec["metadata"]["generation"] == 2 and "status" not in spec
    assert int(spec["metadata"]["resourceVersion"]) > rv0
    status = kube.patch(
        BATCHES,
        "ocr",
        "b",
        {"spec": {"parallelism": 9}, "status": {"phase": "Running"}},
        subresource="status",
    )
    assert status["status"] == {"phase": "Running"}
    assert status["spec"]["parallelism"] == 2 and status["metadata"]["generation"] == 2
    same = kube.patch(BATCHES, "ocr", "b", {"status": {"phase": "Running"}}, subresource="status")
    assert same["metadata"]["resourceVersion"] == status["metadata"]["resourceVersion"]


def test_finalizers_hold_deletion_until_removed(kube: KubeServer) -> None:
    body = json.loads(json.dumps(BODY))
    body["metadata"]["finalizers"] = ["x/y"]
    kube.create(BATCHES, body)
    deleting = kube.delete(BATCHES, "ocr", "b")
    assert deleting["metadata"]["deletionTimestamp"]
    assert kube.find(BATCHES, "ocr", "b") is not None
    kube.patch(BATCHES, "ocr", "b", {"metadata": {"finalizers": None}})
    assert kube.find(BATCHES, "ocr", "b") is None


def test_watch_streams_existing_then_live_events(kube: KubeServer, api: k8s.ApiClient) -> None:
    kube.create(JOBS, {"metadata": {"name": "j1", "namespace": "ocr", "labels": {"a": "1"}}})
    seen: list[tuple[str, str]] = []

    def consume() -> None:
        stream = watch.Watch().stream(
            k8s.BatchV1Api(api).list_namespaced_job,
            "ocr",
            label_selector="a=1",
            timeout_seconds=2,
            _preload_content=False,
        )
        for event in stream:
            seen.append((event["type"], event["raw_object"]["metadata"]["name"]))
            if len(seen) == 2:
                break

    thread = threading.Thread(target=consume)
    thread.start()
    kube.create(JOBS, {"metadata": {"name": "other", "namespace": "ocr", "labels": {"a": "2"}}})
    kube.create(JOBS, {"metadata": {"name": "j2", "namespace": "ocr", "labels": {"a": "1"}}})
    thread.join(5)
    assert seen == [("ADDED", "j1"), ("ADDED", "j2")]


def test_the_request_log_stays_bounded_and_serving_goes_on(kube: KubeServer, api: k8s.ApiClient) -> None:
    custom = k8s.CustomObjectsApi(api)
    kube.create(BATCHES, BODY)
    for n in range(60):  # over HTTP: each request is logged, then routed
        got = custom.patch_namespaced_custom_object_status(
            *BATCHES[:2], "ocr", BATCHES[2], "b", {"status": {"total": n}}
        )
        assert got["status"]["total"] == n
    assert len(kube.api._requests) <= type(kube.api).KEEP_REQUESTS
    assert kube.get(BATCHES, "ocr", "b")["status"]["total"] == 59
