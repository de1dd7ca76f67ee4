"""The Helm chart: lint, render, validate against the Kubernetes 1.35 schemas, the values
schema, the CRD copy, and the operator Deployment and its configuration against the operator's
own code (flags, env)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.chart.conftest import (
    CHART,
    CUSTOM_VALUES,
    RELEASE_NS,
    ROOT,
    Manifest,
    load_all,
    of_kind,
    one,
    run_helm,
)

#: The Kubernetes version of the schemas the rendered manifests are checked against.
KUBE_VERSION = "1.35.0"
CHART_META = yaml.safe_load((CHART / "Chart.yaml").read_text())
APP_VERSION = str(CHART_META["appVersion"])


# ------------------------------------------------------------------ metadata, lint


def test_chart_metadata() -> None:
    assert CHART_META["apiVersion"] == "v2"
    assert CHART_META["name"] == "ocrbatch"
    assert CHART_META["version"] == "0.1.0"
    assert APP_VERSION == "0.1.0"


@pytest.mark.parametrize("values", [None, CUSTOM_VALUES], ids=["default", "custom"])
def test_helm_lint_strict(helm: Path, values: Path | None) -> None:
    args = ["lint", "--strict", str(CHART)]
    if values is not None:
        args += ["-f", str(values)]
    out = run_helm(helm, *args).stdout
    assert "0 chart(s) failed" in out


# ------------------------------------------------------------------ kubernetes-validate


def kubernetes_validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", KUBE_VERSION, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("custom", [False, True], ids=["default", "custom"])
def test_rendered_manifests_pass_kubernetes_validate_strict(
    template: Callable[..., str], tmp_path: Path, custom: bool
) -> None:
    args = ["--include-crds"] + (["-f", str(CUSTOM_VALUES)] if custom else [])
    stream = template(*args)
    docs = load_all(stream)
    target = tmp_path / "rendered.yaml"
    target.write_text(stream)
    proc = kubernetes_validate(target)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    passed = [line for line in proc.stdout.splitlines() if " passed for resource " in line]
    warned = [line for line in proc.stdout.splitlines() if line.startswith("WARN")]
    # Every object is checked, except the ServiceMonitor (a custom resource: no schema there).
    monitors = of_kind(docs, "ServiceMonitor")
    assert len(passed) == len(docs) - len(monitors), proc.stdout
    assert len(warned) == len(monitors), proc.stdout
    assert all("ServiceMonitor" in line for line in warned)
    assert len(monitors) == (1 if custom else 0)


def test_kubernetes_validate_strict_catches_an_unknown_field(
    default_docs: list[Manifest], tmp_path: Path
) -> None:
    """The negative control: --strict does reject a field the API does not know."""
    deployment = json.loads(json.dumps(one(default_docs, "Deployment")))
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContex"] = {}
    target = tmp_path / "bad.yaml"
    target.write_text(yaml.safe_dump(deployment))
    proc = kubernetes_validate(target)
    assert proc.returncode != 0
    assert "securityContex" in proc.stdout


# ------------------------------------------------------------------ values schema

VALUES_SCHEMA = json.loads((CHART / "values.schema.json").read_text())


def _merge(base: Any, override: Any) -> Any:
    """Helm's coalescing of a values file over the defaults: maps merge, the rest replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in override.items()}}
    return override


def test_values_yaml_and_custom_values_match_the_schema() -> None:
    jsonschema.Draft7Validator.check_schema(VALUES_SCHEMA)
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.validate(defaults, VALUES_SCHEMA)
    custom = _merge(defaults, yaml.safe_load(CUSTOM_VALUES.read_text()))
    jsonschema.validate(custom, VALUES_SCHEMA)


def _object_schemas(node: Any, path: str = "$") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if node.get("type") == "object" and path != "$.properties.global":
            found.append((path, node))
        for key, value in node.items():
            found += _object_schemas(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _object_schemas(value, f"{path}[{i}]")
    return found


def test_every_object_in_the_values_schema_is_closed() -> None:
    """additionalProperties: false on every object with properties; maps are typed."""
    objects = _object_schemas(VALUES_SCHEMA)
    assert len(objects) > 20
    for path, node in objects:
        assert "additionalProperties" in node, f"{path} accepts any key"
        extra = node["additionalProperties"]
        if "properties" in node:
            assert extra is False, f"{path} must have additionalProperties: false"
        else:
            assert isinstance(extra, dict) and extra.get("type"), f"{path}: untyped map"


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("replicaCount=abc", "/replicaCount"),
        ("replicaCount=2", "/replicaCount"),
        ("foo=1", "'foo' not allowed"),
        ("worker.foo=1", "'foo' not allowed"),
        ("metrics.serviceMonitor.enable=true", "'enable' not allowed"),
        ("image.tag=latest", "/image/tag"),
        ("worker.image.tag=latest", "/worker/image/tag"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("watchNamespaces[0]=Not_A_Namespace", "/watchNamespaces/0"),
        ("runAsUser=0", "/runAsUser"),
        ("metrics.port=http", "/metrics/port"),
        ("worker.tmpSizeLimit=lots", "/worker/tmpSizeLimit"),
        ("rbac.credentialsSecrets=s3-credentials", "/rbac/credentialsSecrets"),
        ("maxShardsPerJob=100001", "/maxShardsPerJob"),
        ("maxShardsPerJob=0", "/maxShardsPerJob"),
        ("minPassSeconds=-1", "/minPassSeconds"),
    ],
)
def test_values_schema_rejects(helm: Path, setting: str, message: str) -> None:
    proc = run_helm(helm, "template", "x", str(CHART), "--set", setting, check=False)
    assert proc.returncode != 0, f"--set {setting} was accepted"
    assert "schema" in proc.stderr and message in proc.stderr, proc.stderr


def test_schema_accepts_a_quoted_number_only_where_strings_are_allowed(helm: Path) -> None:
    ok = run_helm(helm, "template", "x", str(CHART), "--set-string", "image.tag=1.2.3", check=False)
    assert ok.returncode == 0, ok.stderr
    bad = run_helm(helm, "template", "x", str(CHART), "--set-string", "probePort=8080", check=False)
    assert bad.returncode != 0


# ------------------------------------------------------------------ CRDs


def test_chart_crds_are_identical_to_the_top_level_crds() -> None:
    top = {p.name: p.read_bytes() for p in sorted((ROOT / "crds").glob("*.yaml"))}
    chart = {p.name: p.read_bytes() for p in sorted((CHART / "crds").glob("*.yaml"))}
    fix = "run: cp crds/*.yaml charts/ocrbatch/crds/"
    assert top, "no CRDs in crds/"
    missing = sorted(set(top) - set(chart))
    assert not missing, f"charts/ocrbatch/crds/ lacks {missing}; {fix}"
    stale = sorted(name for name in top if chart[name] != top[name])
    assert not stale, f"charts/ocrbatch/crds/ differs from crds/ in {stale}; {fix}"
    extra = sorted(set(chart) - set(top))
    assert not extra, f"charts/ocrbatch/crds/ has {extra}, which crds/ does not; remove them"


def test_include_crds_renders_every_crd(template: Callable[..., str]) -> None:
    docs = load_all(template("--include-crds"))
    names = {d["metadata"]["name"] for d in of_kind(docs, "CustomResourceDefinition")}
    expected = {yaml.safe_load(p.read_text())["metadata"]["name"] for p in (ROOT / "crds").glob("*.yaml")}
    assert names == expected


# ------------------------------------------------------------------ the operator Deployment


def _container(deployment: Manifest) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


@pytest.mark.parametrize("which", ["default", "custom"])
def test_operator_pod_is_locked_down(
    default_docs: list[Manifest], custom_docs: list[Manifest], which: str
) -> None:
    docs = default_docs if which == "default" else custom_docs
    deployment = one(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    psc, csc = pod["securityContext"], container["securityContext"]
    for sc in (psc, csc):
        assert sc["runAsNonRoot"] is True
        assert isinstance(sc["runAsUser"], int) and sc["runAsUser"] > 0
        assert isinstance(sc["runAsGroup"], int) and sc["runAsGroup"] > 0
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert csc["readOnlyRootFilesystem"] is True
    assert csc["allowPrivilegeEscalation"] is False
    assert csc["capabilities"] == {"drop": ["ALL"]}
    assert csc.get("privileged", False) is False
    # /tmp is the one writable place: an emptyDir (HOME=/tmp).
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert {"name": "HOME", "value": "/tmp"} in container["env"]
    # Probes on kopf's liveness endpoint, served on the port the args name.
    port = next(p for p in container["ports"] if p["name"] == "probes")["containerPort"]
    assert f"--liveness=http://0.0.0.0:{port}/healthz" in container["args"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "probes"}
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    # Standalone kopf: at most one operator at a time.
    assert deployment["spec"]["replicas"] in (0, 1)
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert "--standalone" in container["args"]


def test_default_images_are_the_app_version(default_docs: list[Manifest]) -> None:
    container = _container(one(default_docs, "Deployment"))
    assert container["image"] == f"ocrbatch-operator:{APP_VERSION}"
    config = one(default_docs, "ConfigMap")["data"]
    assert config["OCRBATCH_WORKER_IMAGE"] == f"ocrbatch-worker:{APP_VERSION}"


def test_custom_values_reach_the_deployment(custom_docs: list[Manifest]) -> None:
    deployment = one(custom_docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    assert pod["priorityClassName"] == "batch-high"
    assert pod["serviceAccountName"] == "ocr-op"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["tolerations"][0]["key"] == "dedicated"
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert container["image"] == "registry.example/ocr/operator:0.1.0-rc1"
    assert container["imagePullPolicy"] == "Always"
    assert pod["securityContext"]["runAsUser"] == 20001
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["example.com/cost-center"] == "42"
    config = one(custom_docs, "ConfigMap")["data"]
    assert config["OCRBATCH_WORKER_IMAGE"] == ("registry.example/ocr/worker@sha256:" + "0123456789abcdef" * 4)


def test_no_priority_class_by_default(default_docs: list[Manifest]) -> None:
    assert "priorityClassName" not in one(default_docs, "Deployment")["spec"]["template"]["spec"]


def test_operator_args_parse_with_the_operator_cli(
    default_docs: list[Manifest], custom_docs: list[Manifest]
) -> None:
    pytest.importorskip("kopf")
    from ocr_operator.cli import parse_args

    default = parse_args(_container(one(default_docs, "Deployment"))["args"])
    assert default.all_namespaces and not default.namespace
    assert default.standalone and default.metrics_port == 9090
    assert default.liveness == "http://0.0.0.0:8080/healthz"
    custom = parse_args(_container(one(custom_docs, "Deployment"))["args"])
    assert custom.namespace == ["team-a", "team-b"] and not custom.all_namespaces
    assert custom.metrics_port == 9191 and custom.verbose


@pytest.mark.parametrize("which", ["default", "custom"])
def test_configmap_is_the_operator_config(
    default_docs: list[Manifest], custom_docs: list[Manifest], which: str
) -> None:
    """The ConfigMap, read through the operator's own OperatorConfig.from_env."""
    pytest.importorskip("kopf")
    from ocr_operator.config import OperatorConfig

    docs = default_docs if which == "default" else custom_docs
    configmap = one(docs, "ConfigMap")
    deployment = one(docs, "Deployment")
    refs = _container(deployment)["envFrom"]
    assert refs == [{"configMapRef": {"name": configmap["metadata"]["name"]}}]
    data = configmap["data"]
    assert all(key.startswith("OCRBATCH_") for key in data)
    config = OperatorConfig.from_env(data)
    worker_accounts = {sa["metadata"]["name"] for sa in of_kind(docs, "ServiceAccount")}
    assert config.service_account in worker_accounts
    assert config.worker_image == data["OCRBATCH_WORKER_IMAGE"]
    if which == "default":
        assert config == OperatorConfig(
            worker_image=f"ocrbatch-worker:{APP_VERSION}", service_accounts=("ocrbatch-worker",)
        )
        assert config.worker_service_accounts == ("ocrbatch-worker",)
        assert config.allowed_s3_endpoints == ()
    else:
        assert config.s3_endpoint == "http://minio.storage.svc:9000"
        assert config.service_account == "ocr-worker"
        assert config.worker_service_accounts == ("ocr-worker", "team-b-reader")
        assert config.allowed_s3_endpoints == ("http://minio.storage.svc:9000", "s3.archive.example:443")
        assert config.run_as_user == 20002
        assert config.tmp_size_limit == "2Gi"
        assert config.worker_status_interval == 2.5
        assert config.resync_seconds == 60
        assert config.max_shards_per_job == 2500
        assert config.min_pass_seconds == 0.5


def test_config_change_rolls_the_operator(template: Callable[..., str]) -> None:
    def checksum(*args: str) -> str:
        deployment = one(load_all(template(*args)), "Deployment")
        return deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum() != checksum("--set", "s3.endpoint=http://s3.example:9000")


# ------------------------------------------------------------------ metrics


def test_metrics_service_selects_the_operator(custom_docs: list[Manifest]) -> None:
    service = one(custom_docs, "Service")
    deployment = one(custom_docs, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9191, "targetPort": "metrics", "protocol": "TCP"}
    ]
    ports = {p["name"]: p["containerPort"] for p in _container(deployment)["ports"]}
    assert ports["metrics"] == 9191


def test_service_monitor_is_optional_and_scrapes_the_metrics_service(
    default_docs: list[Manifest], custom_docs: list[Manifest]
) -> None:
    assert not of_kind(default_docs, "ServiceMonitor")
    monitor = one(custom_docs, "ServiceMonitor")
    service = one(custom_docs, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["ocr"]}
    assert monitor["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "interval": "15s", "scrapeTimeout": "5s"}
    ]


def test_metrics_off_removes_service_and_flag(template: Callable[..., str]) -> None:
    docs = load_all(template("--set", "metrics.enabled=false"))
    assert not of_kind(docs, "Service")
    args = _container(one(docs, "Deployment"))["args"]
    assert not any(a.startswith("--metrics-port") for a in args)


# ------------------------------------------------------------------ labels and names


@pytest.mark.parametrize("which", ["default", "custom"])
def test_standard_labels_everywhere(
    default_docs: list[Manifest], custom_docs: list[Manifest], which: str
) -> None:
    docs = default_docs if which == "default" else custom_docs
    release = "ocrbatch" if which == "default" else "rel"
    for doc in docs:
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "ocrbatch"
        assert labels["app.kubernetes.io/instance"] == release
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/version"] == APP_VERSION
        assert labels["app.kubernetes.io/component"] in {"operator", "worker"}
        assert labels["helm.sh/chart"] == "ocrbatch-0.1.0"
        assert len(doc["metadata"]["name"]) <= 63


def test_long_release_names_stay_valid(template: Callable[..., str]) -> None:
    docs = load_all(template(release="a" * 53))
    for doc in docs:
        assert len(doc["metadata"]["name"]) <= 63


def test_notes_tell_how_to_start(helm: Path) -> None:
    out = run_helm(helm, "install", "ocrbatch", str(CHART), "-n", RELEASE_NS, "--dry-run=client").stdout
    notes = out[out.index("NOTES:") :]
    assert "kubectl -n ocrbatch create secret generic s3-credentials" in notes
    assert "--from-literal=accessKey=" in notes and "--from-literal=secretKey=" in notes
    assert "kubectl apply -f examples/ocrbatch.yaml" in notes
    assert "get ocrb" in notes
    assert (ROOT / "examples" / "ocrbatch.yaml").is_file()


def test_the_allowlists_default_to_the_charts_own(template: Callable[..., str]) -> None:
    """s3.allowedEndpoints empty: only s3.endpoint; worker.serviceAccounts empty: only the
    chart's worker account (read through the operator's own OperatorConfig.from_env)."""
    pytest.importorskip("kopf")
    from ocr_operator.config import OperatorConfig

    def config(*args: str) -> OperatorConfig:
        return OperatorConfig.from_env(one(load_all(template(*args)), "ConfigMap")["data"])

    chosen = config("--set", "s3.endpoint=http://s3.example:9000")
    assert chosen.allowed_s3_endpoints == ("http://s3.example:9000",)
    assert chosen.worker_service_accounts == (chosen.service_account,)
    assert config().allowed_s3_endpoints == ()
    opened = config("--set", "s3.allowedEndpoints={*}")
    assert opened.allowed_s3_endpoints == ("*",)
