"""Helpers of the real-apiserver tests."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

GROUP, VERSION, PLURAL = "ocrbatch.io", "v1alpha1", "ocrbatches"
ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = ROOT / "crds" / "ocrbatches.yaml"
CHART_DIR = ROOT / "charts" / "ocrbatch"


MINIMAL_SPEC: dict[str, Any] = {"source": {"bucket": "scans"}, "output": {"bucket": "results"}}


def ocrbatch(name: str, namespace: str, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "OcrBatch",
        "metadata": {"name": name, "namespace": namespace},
        "spec": copy.deepcopy(MINIMAL_SPEC if spec is None else spec),
    }


def wait_until(what: str, probe: Callable[[], Any], timeout_s: float = 30.0, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except Exception as exc:  # not yet
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}; last: {last!r}")
