"""The chart's RBAC, checked against what the operator and the workers call on the API.

The real `kubectl auth can-i` proof against a kube-apiserver lives in the real-apiserver
tier; here the rendered rules are compared with the calls in the code."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from tests.chart.conftest import RELEASE_NS, ROOT, Manifest, load_all, of_kind

Rule = dict[str, Any]
Access = tuple[str, str, str]  # (apiGroup, resource[/subresource], verb)

#: Each method of the operator's `Cluster` protocol (operator/ocr_operator/cluster.py) and
#: the API access its KubeCluster implementation makes.
CLUSTER_CALLS: dict[str, list[Access]] = {
    "get_batch": [("ocrbatch.io", "ocrbatches", "get")],
    "list_batches": [("ocrbatch.io", "ocrbatches", "list")],
    "patch_batch_status": [("ocrbatch.io", "ocrbatches/status", "patch")],
    "list_jobs": [("batch", "jobs", "list")],
    "create_job": [("batch", "jobs", "create")],
    "patch_job": [("batch", "jobs", "patch")],
    "list_pods": [("", "pods", "list")],
    "read_secret": [("", "secrets", "get")],
    "post_event": [("", "events", "create")],
    # The intake's `IntakeCluster` protocol (operator/ocr_operator/cluster.py).
    "get_intake": [("ocrbatch.io", "ocrintakes", "get")],
    "list_intakes": [("ocrbatch.io", "ocrintakes", "list")],
    "patch_intake_status": [("ocrbatch.io", "ocrintakes/status", "patch")],
    "create_batch": [("ocrbatch.io", "ocrbatches", "create")],
    # Each batch's worker identity (jobs.worker_identity, a ServiceAccount): made once, then
    # checked as ours.
    "ensure_owned": [("", "serviceaccounts", v) for v in ("create", "get")],
}
#: The protocols whose methods are the operator's API calls: (module, class).
PROTOCOLS = [("ocr_operator.cluster", "Cluster"), ("ocr_operator.cluster", "IntakeCluster")]
#: Creating an object whose ownerReference has blockOwnerDeletion (kopf's default) needs
#: `update` on the owner's finalizers under OwnerReferencesPermissionEnforcement.
OWNER_CALLS: list[Access] = [
    ("ocrbatch.io", "ocrbatches/finalizers", "update"),  # Jobs owned by a batch
    ("ocrbatch.io", "ocrintakes/finalizers", "update"),  # batches owned by an intake
]
#: kopf's own access: watch-streams of the two handled resources (list + watch), and Events.
KOPF_CALLS: list[Access] = [
    ("ocrbatch.io", "ocrbatches", "list"),
    ("ocrbatch.io", "ocrbatches", "watch"),
    ("ocrbatch.io", "ocrintakes", "list"),
    ("ocrbatch.io", "ocrintakes", "watch"),
    ("batch", "jobs", "list"),
    ("batch", "jobs", "watch"),
    ("", "events", "create"),
]
#: Exactly what the operator's Role/ClusterRole grants (a widening must change this test).
OPERATOR_GRANT: set[Access] = {
    *(("ocrbatch.io", "ocrbatches", v) for v in ("get", "list", "watch", "create", "patch")),
    *(("ocrbatch.io", "ocrintakes", v) for v in ("get", "list", "watch", "patch")),
    *(
        (g, r, v)
        for g, r in [("ocrbatch.io", "ocrbatches/status"), ("ocrbatch.io", "ocrintakes/status")]
        for v in ("get", "patch")
    ),
    *OWNER_CALLS,
    *(("batch", "jobs", v) for v in ("get", "list", "watch", "create", "patch")),
    *(("", "pods", v) for v in ("get", "list", "watch")),
    ("", "events", "create"),
    ("", "events", "patch"),
    ("", "secrets", "get"),
    *CLUSTER_CALLS["ensure_owned"],
}


def grants(rules: Iterable[Rule]) -> set[Access]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


def allows(rules: Iterable[Rule], access: Access, name: str | None = None) -> bool:
    group, resource, verb = access
    for rule in rules:
        if group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]:
            names = rule.get("resourceNames")
            if not names or (name is not None and name in names):
                return True
    return False


def roles(docs: list[Manifest], component: str) -> list[Manifest]:
    return [
        d
        for d in of_kind(docs, "Role") + of_kind(docs, "ClusterRole")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == component
    ]


@pytest.fixture(scope="module")
def no_secrets_docs(template: Callable[..., str]) -> list[Manifest]:
    return load_all(template("--set-json", "rbac.credentialsSecrets=[]"))


@pytest.mark.parametrize(("module", "name"), PROTOCOLS)
def test_every_cluster_call_is_mapped(module: str, name: str) -> None:
    """A new method on the operator's API protocols needs its RBAC here and in the chart."""
    protocol = getattr(importlib.import_module(module), name)
    methods = {m for m in vars(protocol) if not m.startswith("_")}
    unmapped = sorted(methods - set(CLUSTER_CALLS))
    assert not unmapped, (
        f"{module}.{name} has new calls {unmapped}: map them in CLUSTER_CALLS and grant them in "
        "charts/ocrbatch/templates/_helpers.tpl (ocrbatch.operatorRules)"
    )


def test_kube_cluster_implements_only_mapped_calls() -> None:
    from ocr_operator.cluster import KubeCluster

    methods = {m for m in vars(KubeCluster) if not m.startswith("_")}
    assert methods <= set(CLUSTER_CALLS), sorted(methods - set(CLUSTER_CALLS))


@pytest.mark.parametrize("which", ["default", "custom"])
def test_operator_rules_cover_its_calls_and_nothing_more(
    default_docs: list[Manifest], custom_docs: list[Manifest], which: str
) -> None:
    docs = default_docs if which == "default" else custom_docs
    operator_roles = roles(docs, "operator")
    assert operator_roles
    for role in operator_roles:
        rules = role["rules"]
        needed = [a for calls in CLUSTER_CALLS.values() for a in calls] + KOPF_CALLS + OWNER_CALLS
        for access in needed:
            name = "s3-credentials" if access[1] == "secrets" else None
            assert allows(rules, access, name), f"{role['metadata']['name']} lacks {access}"
        assert grants(rules) == OPERATOR_GRANT
        # Jobs are deleted by the garbage collector (owner references), never by the operator.
        assert not allows(rules, ("batch", "jobs", "delete"))
        assert not allows(rules, ("", "pods", "delete"))


def test_all_namespaces_means_a_cluster_role(default_docs: list[Manifest]) -> None:
    assert not of_kind(default_docs, "Role") or all(
        r["metadata"]["labels"]["app.kubernetes.io/component"] == "worker"
        for r in of_kind(default_docs, "Role")
    )
    (role,) = of_kind(default_docs, "ClusterRole")
    (binding,) = of_kind(default_docs, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "ocrbatch-operator", "namespace": RELEASE_NS}
    ]


def test_watch_namespaces_mean_a_role_in_each_and_nothing_cluster_wide(
    custom_docs: list[Manifest],
) -> None:
    assert not of_kind(custom_docs, "ClusterRole")
    assert not of_kind(custom_docs, "ClusterRoleBinding")
    operator_roles = roles(custom_docs, "operator")
    assert sorted(r["metadata"]["namespace"] for r in operator_roles) == ["team-a", "team-b"]
    bindings = [
        b
        for b in of_kind(custom_docs, "RoleBinding")
        if b["metadata"]["labels"]["app.kubernetes.io/component"] == "operator"
    ]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    for binding in bindings:
        assert binding["roleRef"]["kind"] == "Role"
        assert binding["roleRef"]["name"] == "ocr-operator"
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "ocr-op", "namespace": "ocr"}]


@pytest.mark.parametrize(
    ("which", "namespaces", "account"),
    [
        ("default", [RELEASE_NS], "ocrbatch-worker"),
        ("custom", ["team-a", "team-b", "team-c"], "ocr-worker"),
    ],
)
def test_the_chart_grants_workers_nothing(
    default_docs: list[Manifest],
    custom_docs: list[Manifest],
    which: str,
    namespaces: list[str],
    account: str,
) -> None:
    """The shared worker ServiceAccount has no Role and no token: workers make no API call."""
    docs = default_docs if which == "default" else custom_docs
    assert not roles(docs, "worker")
    assert not [
        b
        for b in of_kind(docs, "RoleBinding") + of_kind(docs, "ClusterRoleBinding")
        if b["metadata"]["labels"]["app.kubernetes.io/component"] == "worker"
    ]
    accounts = [sa for sa in of_kind(docs, "ServiceAccount") if sa["metadata"]["name"] == account]
    assert sorted(sa["metadata"]["namespace"] for sa in accounts) == namespaces
    assert all(sa["automountServiceAccountToken"] is False for sa in accounts)


def test_the_per_batch_identity_is_an_account_without_permission() -> None:
    """What the operator makes for a batch's workers: a ServiceAccount without a token, no
    Role and no binding (they make no API call: test_the_worker_code_makes_no_api_call); so
    the operator holds no right on Roles or RoleBindings (OPERATOR_GRANT)."""
    pytest.importorskip("kopf")
    from ocr_operator.batch.jobs import worker_identity
    from ocr_operator.batch.model import BatchSpec

    owner = {
        "apiVersion": "ocrbatch.io/v1alpha1",
        "kind": "OcrBatch",
        "metadata": {"name": "cards", "namespace": "ocr", "uid": "u"},
    }
    spec = BatchSpec.parse({"source": {"bucket": "in"}, "output": {"bucket": "out"}})
    made = worker_identity(owner, spec)
    assert [o["kind"] for o in made] == ["ServiceAccount"]
    assert made[0]["automountServiceAccountToken"] is False
    assert not {a for a in OPERATOR_GRANT if a[0] == "rbac.authorization.k8s.io"}


@pytest.mark.parametrize("which", ["default", "custom", "no_secrets"])
def test_no_wildcards_and_secrets_only_by_name(
    default_docs: list[Manifest],
    custom_docs: list[Manifest],
    no_secrets_docs: list[Manifest],
    which: str,
) -> None:
    docs = {"default": default_docs, "custom": custom_docs, "no_secrets": no_secrets_docs}[which]
    all_roles = of_kind(docs, "Role") + of_kind(docs, "ClusterRole")
    assert all_roles
    secret_rules = []
    for role in all_roles:
        for rule in role["rules"]:
            assert "nonResourceURLs" not in rule
            for key in ("apiGroups", "resources", "verbs"):
                assert not any("*" in item for item in rule[key]), f"wildcard in {role['metadata']}"
            assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])
            if "secrets" in rule["resources"]:
                secret_rules.append(rule)
                assert rule["resources"] == ["secrets"]
                assert rule["verbs"] == ["get"]
                assert rule.get("resourceNames"), "secrets must be granted by name"
    if which == "no_secrets":
        assert not secret_rules
    else:
        names = {n for rule in secret_rules for n in rule["resourceNames"]}
        assert names == ({"s3-credentials"} if which == "default" else {"s3-credentials", "archive-s3"})


def test_rbac_create_false_leaves_only_the_accounts(template: Callable[..., str]) -> None:
    docs = load_all(template("--set", "rbac.create=false"))
    kinds = {d["kind"] for d in docs}
    assert not kinds & {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
    assert len(of_kind(docs, "ServiceAccount")) == 2


def test_the_worker_code_makes_no_api_call() -> None:
    """ocr_job calls nothing on the Kubernetes API: since issue 18 a worker's progress goes
    to the output prefix (ocr_job/status.py), so their pods get no token and no Role."""
    apis: set[str] = set()
    calls: set[str] = set()
    for path in (ROOT / "ocr_job").rglob("*.py"):
        text = path.read_text()
        apis |= set(re.findall(r"client\.(\w+Api)\(", text))
        calls |= set(re.findall(r"\.(\w+_custom_object\w*|\w+_namespaced_\w+)\(", text))
    assert apis == set(), apis
    assert calls == set(), calls
