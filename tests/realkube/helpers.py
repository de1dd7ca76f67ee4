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
#: Every CRD of the project (the operator also watches OcrIntakes when their CRD exists).
ALL_CRDS = sorted((ROOT / "crds").glob("*.yaml"))
CHART_DIR = ROOT / "charts" / "ocrbatch"
#: Static-token users of the session cluster: a ServiceAccount identity without the object.
STATIC_SA = "system:serviceaccount:static-ns:reader"
STATIC_USERS = {STATIC_SA: ["system:serviceaccounts", "system:serviceaccounts:static-ns"]}


MINIMAL_SPEC: dict[str, Any] = {"source": {"bucket": "scans"}, "output": {"bucket": "results"}}


def ocrbatch(name: str, namespace: str, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "OcrBatch",
        "metadata": {"name": name, "namespace": namespace},
        "spec": copy.deepcopy(MINIMAL_SPEC if spec is None else spec),
    }


def wait_until(
    what: str,
    probe: Callable[[], Any],
    timeout_s: float = 30.0,
    interval: float = 0.25,
    abort: Callable[[], str | None] | None = None,
) -> Any:
    """Poll `probe()` until it returns something truthy (exceptions count as not yet);
    `abort()` returning a message stops the wait at once (e.g. a subprocess died)."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        if abort is not None and (reason := abort()):
            raise AssertionError(f"gave up waiting for {what}: {reason}")
        try:
            last = probe()
        except Exception as exc:  # not yet
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}; last: {last!r}")
