"""The hostile corpus (`ocr_job.synth.hostile`) through `imaging.decode`, in a child process:
each case gets its documented outcome, and decoding it never takes more memory than the
decode budget allows (peak RSS measured per case in the child, `VmHWM`, reset between cases).

The whole worker on the same corpus is `tests/e2e/test_hostile_images.py`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ocr_job import imaging
from ocr_job.records import ErrorCode
from ocr_job.synth.hostile import CARD, READ, HostileCase, hostile_cases, write_hostile
from ocr_job.synth.sample import make_sample

MiB = 1024 * 1024
#: What decoding may add to the process's RSS: the budget the header estimate is held to,
#: plus the strip conversion (strips of `imaging.STRIP_PIXELS`, the ≤ 2000 px result) and
#: the decoders' row buffers (measured ≤ 20 MiB; docs/reliability.md).
DECODE_ALLOWANCE = imaging.DECODE_BUDGET_BYTES + 24 * MiB

NAMES = [case.name for case in hostile_cases(np.zeros((8, 8, 3), np.uint8))]
#: Runs in the child: decodes each file named on stdin, one JSON line per file. The peak is
#: reset before each (`/proc/self/clear_refs`), so each line's peak is that file's alone.
CHILD = r"""
import json, sys
from pathlib import Path
from ocr_job import imaging
from ocr_job.memory import release_free_memory, tune_allocator

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

tune_allocator()
for name in sys.stdin.read().split():
    data = Path(name).read_bytes()
    release_free_memory()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    base = status("VmRSS:")
    try:
        shape, code = list(imaging.decode(data, 40_000_000).shape), None
    except imaging.ImageError as exc:
        shape, code = None, exc.code.value
    print(json.dumps({"name": Path(name).name, "code": code, "shape": shape,
                      "base": base, "peak": status("VmHWM:")}), flush=True)
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, HostileCase]]:
    dest = tmp_path_factory.mktemp("hostile")
    return dest, write_hostile(dest, make_sample("hostile", "front", "clean", 1000).image)


@pytest.fixture(scope="module")
def decoded(corpus: tuple[Path, dict[str, HostileCase]]) -> dict[str, dict]:
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux /proc/self/clear_refs to measure each case's peak")
    folder, cases = corpus
    names = "\n".join(str(folder / name) for name in cases)
    done = subprocess.run(
        [sys.executable, "-c", CHILD], input=names, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    return {row["name"]: row for row in map(json.loads, done.stdout.splitlines())}


def test_every_case_was_decoded_once(
    corpus: tuple[Path, dict[str, HostileCase]], decoded: dict[str, dict]
) -> None:
    assert sorted(decoded) == sorted(corpus[1])


@pytest.mark.parametrize("name", NAMES)
def test_case_outcome_and_memory(
    name: str, corpus: tuple[Path, dict[str, HostileCase]], decoded: dict[str, dict]
) -> None:
    case, row = corpus[1][name], decoded[name]
    if case.expect in (READ, CARD):
        assert row["code"] is None, f"{name}: {row['code']}"
        assert max(row["shape"][:2]) <= imaging.WORK_LONG_SIDE and row["shape"][2] == 3
    else:
        assert row["code"] == ErrorCode(case.expect).value
    assert row["peak"] - row["base"] <= DECODE_ALLOWANCE, (
        f"{name}: decoding took {(row['peak'] - row['base']) / MiB:.0f} MiB"
    )


def test_report(decoded: dict[str, dict]) -> None:
    for name, row in sorted(decoded.items()):
        print(f"{name:40s} {(row['peak'] - row['base']) / MiB:6.1f} MiB  {row['code'] or row['shape']}")
