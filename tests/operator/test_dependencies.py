"""The operator's dependency list matches what it imports: every third-party distribution
that `ocr_operator` (and the `ocr_job` modules it loads) imports is in the core
dependencies or the `operator` extra, and none of the worker's OCR or card-parsing
libraries is loaded (its image does not carry them)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Libraries only the worker needs (its extra); the operator must not load them.
WORKER_ONLY = ("opencc", "rapidfuzz", "stdnum", "rich", "numpy", "cv2", "onnxruntime", "PIL")

_LOAD_EVERYTHING = """
import importlib, json, pkgutil, sys
import ocr_operator
for m in pkgutil.walk_packages(ocr_operator.__path__, "ocr_operator."):
    importlib.import_module(m.name)
ours = {n: m.__file__ for n, m in sys.modules.items()
        if n.split(".")[0] in ("ocr_operator", "ocr_job") and getattr(m, "__file__", None)}
print(json.dumps({"ours": ours, "loaded": sorted(sys.modules)}))
"""


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _loaded() -> dict[str, object]:
    """Every operator module imported in a fresh interpreter (the test process has more)."""
    out = subprocess.run(
        [sys.executable, "-c", _LOAD_EVERYTHING],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return dict(json.loads(out.stdout))


def _imported_distributions(files: dict[str, str]) -> set[str]:
    tops: set[str] = set()
    for path in files.values():
        for node in ast.walk(ast.parse(Path(path).read_text())):
            if isinstance(node, ast.Import):
                tops |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                tops.add(node.module.split(".")[0])
    tops -= set(sys.stdlib_module_names) | {"ocr_job", "ocr_operator", "__future__"}
    dists = packages_distributions()
    return {_name(d) for top in tops for d in dists.get(top, [top])}


def test_the_operator_extra_covers_what_the_operator_imports() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in project["dependencies"]}
    declared |= {_name(r) for r in project["optional-dependencies"]["operator"]}
    loaded = _loaded()
    files = loaded["ours"]
    assert isinstance(files, dict) and "ocr_operator.handlers" in files
    missing = _imported_distributions(files) - declared
    assert not missing, f"add to the core or the operator extra: {sorted(missing)}"


def test_the_operator_loads_no_worker_library() -> None:
    loaded = _loaded()["loaded"]
    assert isinstance(loaded, list)
    assert not [m for m in loaded if m.split(".")[0] in WORKER_ONLY]


def test_the_worker_extra_lists_the_worker_libraries() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    worker = {_name(r) for r in extras["worker"]}
    assert {"opencc", "rapidfuzz", "python-stdnum", "rich"} <= worker
