"""The whole worker (`ocr-job run`, onnx engine, real models) on the hostile corpus
(`ocr_job.synth.hostile`): one child run over every case.

Each input gets exactly one record with its documented outcome; no traceback; nothing is
written outside DEST (the child's HOME, TMPDIR and working directory are empty folders of
the test's, checked after: only ONNX Runtime's own files appear); and the worker's peak RSS
stays under the onnx engine's `MEMORY_NEED_BYTES`, the floor it refuses to start below.
The peak is the kernel's (`ru_maxrss` of a launcher's only child), not the worker's report.

The per-case decode peaks are measured by `tests/unit/worker/test_hostile_images.py`.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ocr_job.config import EngineName
from ocr_job.engines import MEMORY_NEED_BYTES
from ocr_job.records import ErrorCode, ResultRecord
from ocr_job.synth.hostile import CARD, READ, HostileCase, write_hostile
from ocr_job.synth.sample import make_sample

MiB = 1024 * 1024
#: What the ONNX Runtime library keeps of its own under HOME and TMPDIR (an installation id,
#: a session counter), whatever the inputs: no input's data. Anything else fails the test.
RUNTIME_FILES = frozenset(
    {
        "home/.cache/Microsoft/DeveloperTools/.onnxruntime/deviceid",
        "home/.cache/Microsoft/DeveloperTools/.onnxruntime/onnxruntime.db",
        "tmp/.ses",
    }
)

#: Runs the worker as its only child and writes that child's peak RSS (bytes) to argv[1].
LAUNCHER = r"""
import resource, subprocess, sys
code = subprocess.run(sys.argv[2:]).returncode
with open(sys.argv[1], "w") as f:
    f.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024))
sys.exit(code)
"""


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow
def test_the_worker_survives_the_hostile_corpus(tmp_path: Path) -> None:
    sample = make_sample("hostile", "front", "clean", 1000)
    src, out, sandbox = tmp_path / "src", tmp_path / "out", tmp_path / "sandbox"
    cases: dict[str, HostileCase] = write_hostile(src, sample.image)
    before = _snapshot(src)
    places = {name: sandbox / name for name in ("home", "tmp", "cwd")}
    for place in places.values():
        place.mkdir(parents=True)
    env = {
        **os.environ,
        "HOME": str(places["home"]),
        "TMPDIR": str(places["tmp"]),
        "OCR_LOG_FORMAT": "plain",
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    peak_file = tmp_path / "peak"

    done = subprocess.run(
        [
            sys.executable,
            "-c",
            LAUNCHER,
            str(peak_file),
            sys.executable,
            "-m",
            "ocr_job.cli",
            "run",
            str(src),
            "-o",
            str(out),
            "--engine",
            "onnx",
        ],
        cwd=places["cwd"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    records = [
        ResultRecord.model_validate_json(line) for line in (out / "results.jsonl").read_text().splitlines()
    ]
    assert sorted(r.source for r in records) == sorted(cases), "exactly one record per input"
    for record in records:
        case = cases[record.source]
        code = record.error.code if record.error else None
        if case.expect == CARD:
            assert record.status == "ok", (case.name, record.error)
            assert record.fields.id_number == sample.fields.id_number, case.name
        elif case.expect == READ:  # decoded and seen by the engine; no card in it
            assert record.status == "ok" or code is ErrorCode.NO_CARD_FOUND, (case.name, record.error)
        else:
            assert code is ErrorCode(case.expect), (case.name, record.error)
            assert record.error is not None and record.error.message
    assert _snapshot(src) == before, "the source folder is untouched"
    outside = {str(p.relative_to(sandbox)) for p in sandbox.rglob("*") if not p.is_dir()}
    assert outside <= RUNTIME_FILES, f"written outside DEST: {sorted(outside - RUNTIME_FILES)}"
    peak = int(peak_file.read_text())
    print(f"worker peak RSS over {len(cases)} hostile inputs: {peak / MiB:.0f} MiB")
    assert peak < MEMORY_NEED_BYTES[EngineName.ONNX], f"peak {peak / MiB:.0f} MiB"
