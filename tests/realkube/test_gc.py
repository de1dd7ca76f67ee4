"""Owner references of OcrBatches, collected by the real kube-controller-manager's garbage
collector (the operator relies on it: no finalizer, deleting a batch deletes its Jobs)."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from tests.realkube.helpers import GROUP, PLURAL, VERSION, ocrbatch, wait_until


def _owner_ref(batch: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "OcrBatch",
        "name": batch["metadata"]["name"],
        "uid": batch["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _job(name: str, owner: dict[str, Any] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"app.kubernetes.io/managed-by": "ocr-operator"}}
    if owner is not None:
        meta["ownerReferences"] = [_owner_ref(owner)]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            "completions": 2,
            "parallelism": 1,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "w", "image": "ocrbatch-worker:0.1.0"}],
                }
            },
        },
    }


def _gone(read: Any) -> bool:
    try:
        read()
    except ApiException as exc:
        return exc.status == 404
    return False


@pytest.mark.parametrize("propagation", ["Background", "Foreground"])
def test_deleting_a_batch_collects_its_children(
    api: k8s.ApiClient, custom: k8s.CustomObjectsApi, namespace: str, propagation: str
) -> None:
    core, batch_api = k8s.CoreV1Api(api), k8s.BatchV1Api(api)
    owner = custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, ocrbatch("owner", namespace)
    )
    core.create_namespaced_config_map(
        namespace,
        {"metadata": {"name": "child", "ownerReferences": [_owner_ref(owner)]}, "data": {"a": "b"}},
    )
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "bystander"}, "data": {}})
    batch_api.create_namespaced_job(namespace, _job("owner-0", owner))
    batch_api.create_namespaced_job(namespace, _job("unowned-0", None))

    custom.delete_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "owner", propagation_policy=propagation
    )
    wait_until(
        "the owned ConfigMap to be collected",
        lambda: _gone(lambda: core.read_namespaced_config_map("child", namespace)),
    )
    wait_until(
        "the owned Job to be collected",
        lambda: _gone(lambda: batch_api.read_namespaced_job("owner-0", namespace)),
    )
    wait_until(
        "the OcrBatch itself to be gone",
        lambda: _gone(
            lambda: custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "owner")
        ),
    )
    # Objects without the owner reference stay.
    core.read_namespaced_config_map("bystander", namespace)
    batch_api.read_namespaced_job("unowned-0", namespace)


def test_orphan_propagation_keeps_children(
    api: k8s.ApiClient, custom: k8s.CustomObjectsApi, namespace: str
) -> None:
    core = k8s.CoreV1Api(api)
    owner = custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, ocrbatch("orphaner", namespace)
    )
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "kept", "ownerReferences": [_owner_ref(owner)]}}
    )
    custom.delete_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "orphaner", propagation_policy="Orphan"
    )
    wait_until(
        "the OcrBatch to be gone",
        lambda: _gone(
            lambda: custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "orphaner")
        ),
    )

    def orphaned() -> bool:
        return not core.read_namespaced_config_map("kept", namespace).metadata.owner_references

    wait_until("the owner reference to be removed", orphaned)
