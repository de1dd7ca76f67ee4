"""Fixtures of the operator tests: the Kubernetes emulator, a real S3 server, and kopf
running the operator against both (tests/support/)."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import kopf
import pytest
from kopf.testing import KopfRunner
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from ocr_operator.cluster import KubeCluster
from ocr_operator.config import OperatorConfig
from ocr_operator.handlers import OperatorState, register

from tests.operator.world import NAMESPACE, World
from tests.support.kube import SECRETS, KubeServer, load_crd
from tests.support.s3server import S3Server

ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = ROOT / "crds" / "ocrbatches.yaml"


@pytest.fixture(scope="session")
def crd() -> dict[str, Any]:
    return load_crd(CRD_PATH)


@pytest.fixture
def kube(crd: dict[str, Any]) -> Iterator[KubeServer]:
    with KubeServer([crd]) as server:
        yield server


@pytest.fixture
def api(kube: KubeServer, tmp_path: Path) -> k8s.ApiClient:
    return k8s_config.new_client_from_config(str(kube.kubeconfig(tmp_path / "kubeconfig")))


@pytest.fixture
def s3_secret(kube: KubeServer, s3_server: S3Server) -> str:
    """A Secret with the S3 keys, as a user would create it (keys accessKey/secretKey)."""
    import base64

    name = "s3-creds"
    kube.create(
        SECRETS,
        {
            "metadata": {"name": name, "namespace": NAMESPACE},
            "data": {
                "accessKey": base64.b64encode(s3_server.access_key.encode()).decode(),
                "secretKey": base64.b64encode(s3_server.secret_key.encode()).decode(),
            },
        },
    )
    return name


@pytest.fixture
def buckets(s3_server: S3Server) -> tuple[str, str]:
    tag = secrets.token_hex(4)
    return s3_server.make_bucket(f"in-{tag}"), s3_server.make_bucket(f"out-{tag}")


OperatorFactory = Callable[[], Any]


@pytest.fixture
def run_operator(kube: KubeServer, api: k8s.ApiClient, s3_server: S3Server) -> Callable[[], Any]:
    """`with run_operator(**config) as state:` — one kopf operator (fresh registry, config
    fields overridden by `config`) until the block ends."""

    @contextmanager
    def start(**config: Any) -> Iterator[OperatorState]:
        registry = kopf.OperatorRegistry()
        state = OperatorState(
            config=OperatorConfig(
                s3_endpoint=s3_server.endpoint,
                resync_seconds=1.0,
                worker_image="worker:test",
                min_pass_seconds=0.2,
                **config,
            ),
            namespaces=[NAMESPACE],
            cluster_factory=lambda: KubeCluster(api, [NAMESPACE]),
        )
        register(registry, state)

        @kopf.on.login(registry=registry)
        def login(**_: Any) -> kopf.ConnectionInfo:
            return kopf.ConnectionInfo(server=kube.url, token="emulator-token", insecure=True)

        args = ["run", "--standalone", "--namespace", NAMESPACE]
        with KopfRunner(args, registry=registry, timeout=30) as runner:
            deadline = time.monotonic() + 20
            while state.scheduler is None and time.monotonic() < deadline:
                time.sleep(0.05)
            yield state
        assert runner.exception is None, runner.output
        if os.environ.get("OCRBATCH_TEST_SHOW_OPERATOR_LOG"):
            print(runner.output)

    return start


@pytest.fixture
def world(kube: KubeServer, api: k8s.ApiClient, s3_server: S3Server, buckets: tuple[str, str]) -> World:
    return World(kube, api, s3_server, buckets[1])
