"""Fixtures of the OcrIntake tests: the parent conftest's (kopf, the Kubernetes emulator,
a real S3 server), with the emulator serving both CRDs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.kube import KubeServer, load_crd

ROOT = Path(__file__).resolve().parents[3]
INTAKE_CRD_PATH = ROOT / "crds" / "ocrintakes.yaml"


@pytest.fixture(scope="session")
def intake_crd() -> dict[str, Any]:
    return load_crd(INTAKE_CRD_PATH)


@pytest.fixture
def kube(crd: dict[str, Any], intake_crd: dict[str, Any]) -> Iterator[KubeServer]:
    with KubeServer([crd, intake_crd]) as server:
        yield server
