"""The walls between the parts, checked on what really gets imported."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

OCR_RUNTIME = ("cv2", "numpy", "onnxruntime", "rapidocr", "paddle", "paddleocr", "PIL")


def imported_after(*modules: str) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"for m in {list(modules)!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_the_operator_loads_no_ocr_runtime() -> None:
    pytest.importorskip("kopf")
    loaded = imported_after(
        "ocr_operator.cli", "ocr_operator.handlers", "ocr_job.merge", "ocr_job.storage.s3", "ocr_job.status"
    )
    assert not {m.split(".")[0] for m in loaded} & set(OCR_RUNTIME)


def test_the_worker_never_imports_the_operator() -> None:
    loaded = imported_after("ocr_job.cli", "ocr_job.pipeline", "ocr_job.engines.onnx")
    assert not any(m == "ocr_operator" or m.startswith(("ocr_operator.", "kopf")) for m in loaded)


def test_parsing_is_pure() -> None:
    loaded = imported_after("ocr_job.idcard")
    assert not {m.split(".")[0] for m in loaded} & {*OCR_RUNTIME, "minio", "kubernetes"}
