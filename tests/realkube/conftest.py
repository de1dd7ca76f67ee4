"""Tier 2: the operator's contract against a real kube-apiserver 1.20 + etcd +
kube-controller-manager (tests/support/realkube.py; docs/testing-real-apiserver.md).

Skipped only when the binaries cannot be built on this machine (the reason is printed).
The first run on a machine builds them (~11 minutes); `OCRBATCH_REALKUBE=cached` never
builds and skips instead.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s

from tests.realkube.helpers import ALL_CRDS, STATIC_USERS
from tests.support.realkube import (
    RealCluster,
    RealKubeUnavailable,
    ensure_binaries,
    have_binaries,
    leftover_processes,
)

HERE = Path(__file__).resolve().parent
#: pytest-timeout of each test here while the binaries still have to be built (the session
#: fixture builds them inside the first test's setup).
BUILD_TIMEOUT_S = 3600


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if have_binaries():
        return
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.timeout(BUILD_TIMEOUT_S))


@pytest.fixture(scope="session")
def real_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealCluster]:
    try:
        bin_dir = ensure_binaries()
    except RealKubeUnavailable as exc:
        print(f"\n[realkube] skipping the real kube-apiserver tier: {exc}", file=sys.stderr)
        pytest.skip(f"real kube-apiserver unavailable: {exc}")
    cluster = RealCluster(
        tmp_path_factory.mktemp("realkube"), crds=ALL_CRDS, bin_dir=bin_dir, users=STATIC_USERS
    )
    cluster.start()
    pids = list(cluster.pids().values())
    try:
        yield cluster
    finally:
        cluster.stop()
        left = list(leftover_processes(pids))
        assert not left, f"processes left running after stop(): {left}"


@pytest.fixture
def namespace(real_cluster: RealCluster) -> str:
    name = f"t-{secrets.token_hex(4)}"
    real_cluster.create_namespace(name)
    return name


@pytest.fixture(scope="session")
def api(real_cluster: RealCluster) -> k8s.ApiClient:
    return real_cluster.api_client()


@pytest.fixture(scope="session")
def custom(api: k8s.ApiClient) -> k8s.CustomObjectsApi:
    return k8s.CustomObjectsApi(api)
