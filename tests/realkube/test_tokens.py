"""Acting as someone else: static-token users (named like ServiceAccounts) under RBAC, and
adding one to a running cluster (the apiserver restarts; etcd keeps the data). Runs last:
the restart must not disturb the other files' tests."""

from __future__ import annotations

from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from tests.realkube.helpers import STATIC_SA, wait_until
from tests.support.realkube import RealCluster


def _status(call: object) -> int:
    try:
        call()  # type: ignore[operator]
    except ApiException as exc:
        return int(exc.status)
    return 200


def _grant_configmap_reads(api: k8s.ApiClient, namespace: str, user: str, name: str) -> None:
    rbac = k8s.RbacAuthorizationV1Api(api)
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": name},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}],
        },
    )


def test_static_service_account_user_under_rbac(real_cluster: RealCluster, api: k8s.ApiClient) -> None:
    real_cluster.create_namespace("static-ns")
    _grant_configmap_reads(api, "static-ns", STATIC_SA, "reader")
    core = k8s.CoreV1Api(real_cluster.api_client(real_cluster.token_for(STATIC_SA)))
    assert _status(lambda: core.list_namespaced_config_map("static-ns")) == 200
    assert _status(lambda: core.list_namespaced_secret("static-ns")) == 403
    assert _status(lambda: core.list_namespaced_config_map("default")) == 403
    review = k8s.AuthenticationV1Api(api).create_token_review(
        {"spec": {"token": real_cluster.token_for(STATIC_SA)}}
    )
    assert review.status.user.username == STATIC_SA
    assert "system:serviceaccounts" in review.status.user.groups


def test_make_token_user_on_a_running_cluster(real_cluster: RealCluster, api: k8s.ApiClient) -> None:
    before = real_cluster.pids()
    user = "system:serviceaccount:static-ns:late"
    token = real_cluster.make_token_user(user, ["system:serviceaccounts"])
    after = real_cluster.pids()
    assert after["etcd"] == before["etcd"]
    assert after["kube-apiserver"] != before["kube-apiserver"]
    admin = real_cluster.api_client()
    _grant_configmap_reads(admin, "static-ns", user, "late")
    core = k8s.CoreV1Api(real_cluster.api_client(token))
    wait_until("the new user's access", lambda: core.list_namespaced_config_map("static-ns"))
    # The data survived the restart, and the old tokens still work.
    k8s.RbacAuthorizationV1Api(admin).read_namespaced_role("reader", "static-ns")
    out = real_cluster.kubectl("get", "ns", "static-ns", "-o", "name").stdout
    assert out.strip() == "namespace/static-ns"
