"""The Helm chart's RBAC on a real apiserver: `helm template` -> apply its ServiceAccounts,
Roles, ClusterRoles and bindings -> `kubectl auth can-i --as system:serviceaccount:...` proves
the operator and the workers can do what they need and nothing more; real ServiceAccount
tokens (TokenRequest API) confirm it end to end.

Two installs: `watchNamespaces` set (Roles per watched namespace) and empty (a ClusterRole).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException
from ocr_operator.batch.jobs import identity_name, worker_identity
from ocr_operator.batch.model import BatchSpec
from ocr_operator.cluster import KubeCluster

from tests.realkube.helpers import CHART_DIR, GROUP, PLURAL, VERSION, ocrbatch
from tests.support.realkube import RealCluster

pytestmark = pytest.mark.skipif(
    not (CHART_DIR / "Chart.yaml").is_file(),
    reason="charts/ocrbatch/Chart.yaml is missing: no Helm chart to take the RBAC from",
)

RBAC_KINDS = {"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}
COMPONENT = "app.kubernetes.io/component"
SECRET = "s3-credentials"  # the chart's default rbac.credentialsSecrets


@dataclass(frozen=True)
class Install:
    mode: str
    release_ns: str
    #: Where batches run (watched namespace / the release namespace when cluster-wide).
    batch_ns: str
    #: A namespace the operator must not reach in namespaced mode.
    other_ns: str
    operator_sa: tuple[str, str]
    worker_sa: tuple[str, str]


def helm_template(release: str, namespace: str, *sets: str) -> list[dict[str, Any]]:
    from tests.support.k8s_tools import helm_path

    argv = [str(helm_path()), "template", release, str(CHART_DIR), "--namespace", namespace]
    for value in sets:
        argv += ["--set", value]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"helm template failed:\n{proc.stderr}"
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


@pytest.fixture(scope="module", params=["namespaced", "cluster"])
def install(request: pytest.FixtureRequest, real_cluster: RealCluster) -> Iterator[Install]:
    mode = str(request.param)
    prefix = "rbns" if mode == "namespaced" else "rbcl"
    release_ns, team_ns, other_ns = f"{prefix}-system", f"{prefix}-team", f"{prefix}-other"
    if mode == "namespaced":
        docs = helm_template(f"{prefix}-ocrbatch", release_ns, f"watchNamespaces={{{team_ns}}}")
        batch_ns = team_ns
    else:
        docs = helm_template(f"{prefix}-ocrbatch", release_ns)
        batch_ns = release_ns
    rbac = [d for d in docs if d.get("kind") in RBAC_KINDS]
    namespaces = {release_ns, team_ns, other_ns} | {
        d["metadata"]["namespace"] for d in rbac if d["metadata"].get("namespace")
    }
    for ns in sorted(namespaces):
        real_cluster.create_namespace(ns)
    real_cluster.kubectl("apply", "--server-side=false", "-f", "-", input=yaml.safe_dump_all(rbac))

    def service_account(component: str, namespace: str) -> tuple[str, str]:
        found = [
            (d["metadata"]["namespace"], d["metadata"]["name"])
            for d in rbac
            if d["kind"] == "ServiceAccount"
            and d["metadata"].get("labels", {}).get(COMPONENT) == component
            and d["metadata"].get("namespace") == namespace
        ]
        assert len(found) == 1, f"expected one {component} ServiceAccount in {namespace}: {found}"
        return found[0]

    yield Install(
        mode=mode,
        release_ns=release_ns,
        batch_ns=batch_ns,
        other_ns=other_ns,
        operator_sa=service_account("operator", release_ns),
        worker_sa=service_account("worker", batch_ns),
    )


def can_i(
    cluster: RealCluster,
    sa: tuple[str, str],
    verb: str,
    resource: str,
    namespace: str | None,
    subresource: str | None = None,
) -> bool:
    args = ["auth", "can-i", verb, resource, f"--as=system:serviceaccount:{sa[0]}:{sa[1]}"]
    args += ["-n", namespace] if namespace else ["--all-namespaces"]
    if subresource:
        args.append(f"--subresource={subresource}")
    proc = cluster.kubectl(*args, check=False)
    answer = proc.stdout.strip()
    assert proc.returncode in (0, 1) and answer in ("yes", "no"), (
        f"kubectl {' '.join(args)}: exit {proc.returncode}: {proc.stdout}{proc.stderr}"
    )
    return answer == "yes"


# (verb, resource, subresource) in the batch namespace
OPERATOR_MAY = [
    ("get", "ocrbatches", None),
    ("list", "ocrbatches", None),
    ("watch", "ocrbatches", None),
    ("patch", "ocrbatches", "status"),
    ("get", "jobs.batch", None),
    ("list", "jobs.batch", None),
    ("watch", "jobs.batch", None),
    ("create", "jobs.batch", None),
    ("patch", "jobs.batch", None),
    ("get", "pods", None),
    ("list", "pods", None),
    ("watch", "pods", None),
    ("create", "events", None),
    ("get", f"secrets/{SECRET}", None),
    # An OcrIntake turns into OcrBatches (ocr_operator/cluster.py create_batch).
    ("create", "ocrbatches", None),
    # Each batch's worker identity (ocr_operator/batch/jobs.py worker_identity).
    ("create", "serviceaccounts", None),
    ("get", "serviceaccounts", None),
]
OPERATOR_MAY_NOT = [
    ("delete", "ocrbatches", None),
    ("delete", "jobs.batch", None),
    ("create", "pods", None),
    ("delete", "pods", None),
    ("patch", "pods", None),
    ("create", "pods", "exec"),
    ("list", "secrets", None),
    ("get", "secrets/other-secret", None),
    ("create", "secrets", None),
    ("get", "configmaps", None),
    # Workers make no API call: the operator grants them nothing, so it holds no RBAC right.
    ("create", "roles.rbac.authorization.k8s.io", None),
    ("create", "rolebindings.rbac.authorization.k8s.io", None),
    ("patch", "roles.rbac.authorization.k8s.io", None),
    ("delete", "rolebindings.rbac.authorization.k8s.io", None),
    ("bind", "clusterroles.rbac.authorization.k8s.io", None),
    ("escalate", "roles.rbac.authorization.k8s.io", None),
    ("delete", "serviceaccounts", None),
    ("create", "serviceaccounts", "token"),
    ("*", "*", None),
]
#: The chart's shared worker ServiceAccount holds nothing, nor does each batch's own
#: (test_real_service_account_tokens): workers make no API call.
WORKER_MAY: list[Any] = []
WORKER_MAY_NOT = [
    ("patch", "ocrbatches", "status"),
    ("get", "ocrbatches", None),
    ("list", "ocrbatches", None),
    ("watch", "ocrbatches", None),
    ("create", "ocrbatches", None),
    ("patch", "ocrbatches", None),
    ("update", "ocrbatches", None),
    ("delete", "ocrbatches", None),
    ("update", "ocrbatches", "status"),
    ("get", "secrets", None),
    ("list", "secrets", None),
    ("get", f"secrets/{SECRET}", None),
    ("create", "jobs.batch", None),
    ("list", "jobs.batch", None),
    ("create", "pods", None),
    ("list", "pods", None),
    ("create", "events", None),
    ("create", "serviceaccounts", "token"),
    ("*", "*", None),
]
CLUSTER_SCOPED_NO = [
    ("get", "nodes"),
    ("list", "namespaces"),
    ("create", "customresourcedefinitions.apiextensions.k8s.io"),
    ("create", "clusterroles.rbac.authorization.k8s.io"),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
]


def _check(
    cluster: RealCluster, sa: tuple[str, str], namespace: str | None, table: list[Any], want: bool
) -> list[str]:
    wrong = []
    for verb, resource, sub in table:
        if can_i(cluster, sa, verb, resource, namespace, sub) != want:
            what = f"{resource}/{sub}" if sub else resource
            wrong.append(f"{'cannot' if want else 'CAN'} {verb} {what} in {namespace or 'all namespaces'}")
    return wrong


def test_operator_can_exactly_what_it_needs(real_cluster: RealCluster, install: Install) -> None:
    sa, ns = install.operator_sa, install.batch_ns
    wrong = _check(real_cluster, sa, ns, OPERATOR_MAY, True)
    wrong += _check(real_cluster, sa, ns, OPERATOR_MAY_NOT, False)
    for verb, resource in CLUSTER_SCOPED_NO:
        if can_i(real_cluster, sa, verb, resource, None):
            wrong.append(f"CAN {verb} {resource} cluster-wide")
    if install.mode == "namespaced":
        wrong += _check(
            real_cluster,
            sa,
            install.other_ns,
            [("list", "ocrbatches", None), ("create", "jobs.batch", None)],
            False,
        )
        wrong += _check(real_cluster, sa, None, [("list", "ocrbatches", None)], False)
    else:
        # Cluster-wide: every namespace, including one it was not installed into.
        wrong += _check(
            real_cluster,
            sa,
            install.other_ns,
            [("list", "ocrbatches", None), ("create", "jobs.batch", None)],
            True,
        )
    assert not wrong, f"operator ServiceAccount {sa} ({install.mode}):\n" + "\n".join(wrong)


def test_the_shared_worker_account_can_nothing(real_cluster: RealCluster, install: Install) -> None:
    sa, ns = install.worker_sa, install.batch_ns
    wrong = _check(real_cluster, sa, ns, WORKER_MAY, True)
    wrong += _check(real_cluster, sa, ns, WORKER_MAY_NOT, False)
    wrong += _check(real_cluster, sa, install.other_ns, [("patch", "ocrbatches", "status")], False)
    for verb, resource in CLUSTER_SCOPED_NO:
        if can_i(real_cluster, sa, verb, resource, None):
            wrong.append(f"CAN {verb} {resource} cluster-wide")
    assert not wrong, f"worker ServiceAccount {sa} ({install.mode}):\n" + "\n".join(wrong)


def _status(call: Any) -> int:
    try:
        call()
    except ApiException as exc:
        return int(exc.status)
    return 200


def test_real_service_account_tokens(
    real_cluster: RealCluster, custom: k8s.CustomObjectsApi, api: k8s.ApiClient, install: Install
) -> None:
    """The same rules through authentication with real ServiceAccount tokens."""
    ns = install.batch_ns
    name = f"tok-{install.mode}"
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, ocrbatch(name, ns))
    admin_core = k8s.CoreV1Api(api)
    for secret in (SECRET, "other-secret"):
        try:
            admin_core.create_namespaced_secret(ns, {"metadata": {"name": secret}, "data": {}})
        except ApiException as exc:
            if exc.status != 409:
                raise

    # The operator, with its own token, makes the batch's worker identity (the code path of
    # a reconcile pass: RBAC's escalation check and the owner-reference check run here).
    operator = real_cluster.api_client(real_cluster.service_account_token(*install.operator_sa))
    body = custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, ocrbatch(f"{name}-b", ns))
    as_operator = KubeCluster(operator, [ns])
    for obj in worker_identity(body, BatchSpec.parse(body["spec"])):
        assert as_operator.ensure_owned(obj), obj["kind"]
        assert as_operator.ensure_owned(obj), f"{obj['kind']} again: still ours"

    # The batch's own worker account can nothing (its pods do not even mount a token).
    worker = real_cluster.api_client(real_cluster.service_account_token(ns, identity_name(name)))
    w_custom, w_core, w_batch = k8s.CustomObjectsApi(worker), k8s.CoreV1Api(worker), k8s.BatchV1Api(worker)
    shard_patch = {"status": {"runningShards": 1}}
    job = {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}
    for call in (
        lambda: w_custom.patch_namespaced_custom_object_status(GROUP, VERSION, ns, PLURAL, name, shard_patch),
        lambda: w_custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name),
        lambda: w_custom.patch_namespaced_custom_object(
            GROUP, VERSION, ns, PLURAL, name, {"spec": {"parallelism": 9}}
        ),
        lambda: w_core.read_namespaced_secret(SECRET, ns),
        lambda: w_batch.create_namespaced_job(
            ns, {"metadata": {"name": "x"}, "spec": {"template": {"spec": job}}}
        ),
    ):
        assert _status(call) == 403
    stored = custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
    assert "runningShards" not in (stored.get("status") or {})
    assert stored["spec"]["parallelism"] == 4
    other = custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, f"{name}-b")
    assert "runningShards" not in (other.get("status") or {})
    # The chart's shared account, by itself: nothing.
    shared = real_cluster.api_client(real_cluster.service_account_token(*install.worker_sa))
    assert (
        _status(
            lambda: k8s.CustomObjectsApi(shared).patch_namespaced_custom_object_status(
                GROUP, VERSION, ns, PLURAL, name, shard_patch
            )
        )
        == 403
    )

    o_custom, o_core = k8s.CustomObjectsApi(operator), k8s.CoreV1Api(operator)
    items = o_custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)["items"]
    assert name in {i["metadata"]["name"] for i in items}
    assert (
        _status(
            lambda: o_custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, ns, PLURAL, name, {"status": {"phase": "Planning"}}
            )
        )
        == 200
    )
    assert _status(lambda: o_core.read_namespaced_secret(SECRET, ns)) == 200
    assert _status(lambda: o_core.read_namespaced_secret("other-secret", ns)) == 403
    assert _status(lambda: o_core.list_namespaced_secret(ns)) == 403
    # A server-side dry run: authorized, admitted, not stored.
    job = {
        "metadata": {"name": "dry"},
        "spec": {
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}
        },
    }
    assert _status(lambda: k8s.BatchV1Api(operator).create_namespaced_job(ns, job, dry_run="All")) == 200
    assert (
        json.loads(k8s.CoreV1Api(operator).list_namespaced_pod(ns, _preload_content=False).data)["items"]
        == []
    )
