"""The Kubernetes API as the reconciler needs it (a Protocol), and its implementation over
the official `kubernetes` client. Objects are plain dicts with the API's camelCase keys."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any, Protocol

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException

from ocr_operator.kube import (
    API_VERSION,
    GROUP,
    INTAKE_PLURAL,
    KIND,
    LABEL_BATCH,
    LABEL_MANAGED_BY,
    MANAGER,
    PLURAL,
    VERSION,
    iso,
    utcnow,
)
from ocr_operator.messages import printable

log = logging.getLogger(__name__)


class Cluster(Protocol):
    def get_batch(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def list_batches(self) -> list[tuple[str, str]]: ...

    def patch_batch_status(self, namespace: str, name: str, patch: dict[str, Any]) -> None: ...

    def list_jobs(self, namespace: str, batch: str) -> list[dict[str, Any]]: ...

    def create_job(self, job: dict[str, Any]) -> bool:
        """Create; False when it exists already (409)."""
        ...

    def patch_job(self, namespace: str, name: str, patch: dict[str, Any]) -> None: ...

    def list_pods(self, namespace: str, batch: str) -> list[dict[str, Any]]:
        """The batch's failed worker pods (where OOM kills are: restartPolicy Never). Not
        the succeeded ones, which a large batch keeps by the thousand."""
        ...

    def read_secret(self, namespace: str, name: str) -> dict[str, str]: ...

    def ensure_owned(self, obj: dict[str, Any]) -> bool:
        """Create a namespaced object (ServiceAccount, Role, RoleBinding) unless it exists;
        True when it is ours: created now, or existing with our controller reference."""
        ...

    def post_event(self, batch: dict[str, Any], type: str, reason: str, message: str) -> None: ...


class IntakeCluster(Protocol):
    """What the intake reconciler calls (`intake.reconcile`)."""

    def get_intake(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def list_intakes(self) -> list[dict[str, Any]]: ...

    def patch_intake_status(self, namespace: str, name: str, patch: dict[str, Any]) -> None: ...

    def get_batch(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def create_batch(self, body: dict[str, Any]) -> bool: ...

    def read_secret(self, namespace: str, name: str) -> dict[str, str]: ...

    def post_event(self, batch: dict[str, Any], type: str, reason: str, message: str) -> None: ...


class OperatorCluster(Cluster, IntakeCluster, Protocol):
    """Both: what one operator's handlers are given (`KubeCluster`, the tests' emulator)."""


def load_api_client() -> k8s.ApiClient:
    """In-cluster config when in a pod, else KUBECONFIG / ~/.kube/config."""
    try:
        k8s_config.load_incluster_config()
        return k8s.ApiClient()
    except k8s_config.ConfigException:
        return k8s_config.new_client_from_config()


def _selector(batch: str) -> str:
    return f"{LABEL_BATCH}={batch},{LABEL_MANAGED_BY}={MANAGER}"


def _json(response: Any) -> Any:
    return json.loads(response.data or b"null")


class KubeCluster:
    def __init__(self, api: k8s.ApiClient, namespaces: list[str] | None = None) -> None:
        self.api = api
        self.custom = k8s.CustomObjectsApi(api)
        self.batch = k8s.BatchV1Api(api)
        self.core = k8s.CoreV1Api(api)
        self.namespaces = namespaces

    # ---------------------------------------------------------------- custom resources

    def _get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return _json(
                self.custom.get_namespaced_custom_object(
                    GROUP, VERSION, namespace, plural, name, _preload_content=False
                )
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _list(self, plural: str) -> list[dict[str, Any]]:
        """Every object of `plural` in the watched namespaces (or cluster-wide)."""
        if not self.namespaces:
            return list(
                _json(
                    self.custom.list_cluster_custom_object(GROUP, VERSION, plural, _preload_content=False)
                ).get("items", [])
            )
        items: list[dict[str, Any]] = []
        for ns in self.namespaces:
            items += _json(
                self.custom.list_namespaced_custom_object(GROUP, VERSION, ns, plural, _preload_content=False)
            ).get("items", [])
        return items

    def _patch_status(self, plural: str, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, plural, name, {"status": patch}, _preload_content=False
        )

    def get_batch(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get(PLURAL, namespace, name)

    def list_batches(self) -> list[tuple[str, str]]:
        return [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in self._list(PLURAL)]

    def patch_batch_status(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self._patch_status(PLURAL, namespace, name, patch)

    def list_jobs(self, namespace: str, batch: str) -> list[dict[str, Any]]:
        data = _json(
            self.batch.list_namespaced_job(namespace, label_selector=_selector(batch), _preload_content=False)
        )
        return list(data.get("items") or [])

    def create_job(self, job: dict[str, Any]) -> bool:
        try:
            self.batch.create_namespaced_job(job["metadata"]["namespace"], job, _preload_content=False)
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def patch_job(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self.batch.patch_namespaced_job(name, namespace, patch, _preload_content=False)

    def list_pods(self, namespace: str, batch: str) -> list[dict[str, Any]]:
        data = _json(
            self.core.list_namespaced_pod(
                namespace,
                label_selector=_selector(batch),
                field_selector="status.phase=Failed",
                _preload_content=False,
            )
        )
        return list(data.get("items") or [])

    def read_secret(self, namespace: str, name: str) -> dict[str, str]:
        data = _json(self.core.read_namespaced_secret(name, namespace, _preload_content=False))
        return {k: base64.b64decode(v).decode() for k, v in (data.get("data") or {}).items()}

    def ensure_owned(self, obj: dict[str, Any]) -> bool:
        meta = obj["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        rbac = k8s.RbacAuthorizationV1Api(self.api)
        create, read = {
            "ServiceAccount": (
                self.core.create_namespaced_service_account,
                self.core.read_namespaced_service_account,
            ),
            "Role": (rbac.create_namespaced_role, rbac.read_namespaced_role),
            "RoleBinding": (rbac.create_namespaced_role_binding, rbac.read_namespaced_role_binding),
        }[obj["kind"]]
        try:
            create(namespace, obj, _preload_content=False)
            return True
        except ApiException as exc:
            if exc.status != 409:
                raise
        found = _json(read(name, namespace, _preload_content=False))
        uids = {ref.get("uid") for ref in meta.get("ownerReferences") or []}
        return any(
            ref.get("uid") in uids and ref.get("controller")
            for ref in (found.get("metadata") or {}).get("ownerReferences") or []
        )

    # ---------------------------------------------------------------- OcrIntake (intake/)

    def get_intake(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get(INTAKE_PLURAL, namespace, name)

    def list_intakes(self) -> list[dict[str, Any]]:
        """Every OcrIntake in the watched namespaces (whole objects)."""
        return self._list(INTAKE_PLURAL)

    def patch_intake_status(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self._patch_status(INTAKE_PLURAL, namespace, name, patch)

    def create_batch(self, body: dict[str, Any]) -> bool:
        """Create an OcrBatch; False when one of that name exists already (409)."""
        try:
            self.custom.create_namespaced_custom_object(
                GROUP,
                VERSION,
                body["metadata"]["namespace"],
                PLURAL,
                body,
                _preload_content=False,
            )
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def post_event(self, batch: dict[str, Any], type: str, reason: str, message: str) -> None:
        meta = batch["metadata"]
        now = iso(utcnow())
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": batch.get("apiVersion", API_VERSION),
                "kind": batch.get("kind", KIND),
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
            },
            "type": type,
            "reason": reason,
            "message": printable(message)[:1024],
            "source": {"component": MANAGER},
            "reportingComponent": MANAGER,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            self.core.create_namespaced_event(meta["namespace"], event, _preload_content=False)
        except ApiException as exc:  # events are best effort
            log.warning("could not post event %s: HTTP %s", reason, exc.status)
