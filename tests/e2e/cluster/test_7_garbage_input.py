"""Scenario 7, garbage in the bucket: a hypothesis fuzz run feeds random and mutated image
bytes (real card JPEG/PNG/GIF/BMP/TIFF/WEBP with truncations, bit flips, chunk edits and
headers claiming huge dimensions) to the worker's decode-and-preprocess path, and a smaller
number through `pipeline.process` with the real onnx engine. No crash, no hang past the
per-item timeout, no internal_error: every input ends as an ok record or an error record
with its code.

The fuzzer (scripts/fuzzing.py) runs as child processes in memory cgroups about a
worker's size, so a segfault in a native decoder, a runaway allocation or a hang in C fails
this test with the child's output instead of killing pytest."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
from collections import Counter
from typing import Any

import pytest

from tests.e2e.cluster.conftest import ROOT, SIZES, LeakLog, report
from tests.support.podrunner import CGROUP_PREFIX, MemoryCgroup

#: The decode fuzz: a worker's default memory (512Mi) plus room for hypothesis, which keeps
#: about 0.35 MiB per example, hence chunks of at most CHUNK examples, one child each.
DECODE_LIMIT_BYTES = 768 * 2**20
CHUNK = 500
#: The pipeline fuzz loads the engine: twice a worker's default memory (memory use across
#: inputs is the business of test_worker_memory_is_given_back_between_inputs).
PIPELINE_LIMIT_BYTES = 1024 * 2**20
TIMEOUT_S = 300 + SIZES.fuzz_examples * 0.5 + SIZES.fuzz_pipeline_examples * 30

pytestmark = pytest.mark.timeout(int(TIMEOUT_S + 600))


def run_fuzzer(args: list[str], limit_bytes: int, timeout_s: float
               ) -> tuple[subprocess.CompletedProcess[str], int, int | None]:  # fmt: skip
    """`python -m scripts.fuzzing ARGS` in a memory cgroup: (process, OOM kills, peak)."""
    group = MemoryCgroup(f"{CGROUP_PREFIX}fuzz-{secrets.token_hex(3)}", limit_bytes)
    try:
        with tempfile.TemporaryDirectory(prefix="ocrbatch-fuzz-") as home:
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "LANG": "C.UTF-8",
                   "PYTHONPATH": str(ROOT)}  # fmt: skip
            wrapper = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(group.procs),
                       sys.executable, "-m", "scripts.fuzzing", *args]  # fmt: skip
            proc = subprocess.run(wrapper, cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=timeout_s, check=False)  # fmt: skip
        return proc, group.oom_kills(), group.peak_bytes()
    finally:
        group.remove()


def fuzz(args: list[str], limit_bytes: int, leak_log: LeakLog) -> tuple[dict[str, Any], int]:
    """One fuzzer child: its JSON summary and cgroup peak; fails on a crash or an OOM kill."""
    if SIZES.large:
        args = [*args, "--random"]  # explore new inputs on the long run; `make test` repeats
    proc, oom_kills, peak = run_fuzzer(args, limit_bytes, TIMEOUT_S)
    output = proc.stdout + proc.stderr
    leak_log.add("fuzzer output", output)
    assert oom_kills == 0, f"the fuzzer was OOM-killed at {limit_bytes >> 20} MiB:\n{output[-5000:]}"
    assert proc.returncode == 0, f"exit {proc.returncode} {args}:\n{output[-8000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1]), peak or 0


def test_garbage_bytes_get_records_not_crashes(leak_log: LeakLog) -> None:
    decode: Counter[str] = Counter()
    slowest = peak = 0.0
    for chunk, start in enumerate(range(0, SIZES.fuzz_examples, CHUNK)):
        count = min(CHUNK, SIZES.fuzz_examples - start)
        stats, child_peak = fuzz(["--examples", str(count), "--pipeline-examples", "0",
                                  "--seed", str(chunk)], DECODE_LIMIT_BYTES, leak_log)  # fmt: skip
        decode.update(stats["decode"])
        slowest, peak = max(slowest, stats["max_decode_s"]), max(peak, child_peak)
    assert sum(decode.values()) >= SIZES.fuzz_examples * 0.9, decode
    assert decode["ok"] > 0 and decode["unreadable_image"] > 0, "both ends reached"

    args = ["--examples", "0", "--pipeline-examples", str(SIZES.fuzz_pipeline_examples)]
    stats, pipeline_peak = fuzz(args, PIPELINE_LIMIT_BYTES, leak_log)
    pipeline = stats["pipeline"]
    assert sum(pipeline.values()) == SIZES.fuzz_pipeline_examples, pipeline
    assert "internal_error" not in pipeline and "internal_error" not in decode

    report(f"scenario 7 (garbage input): {sum(decode.values())} inputs through decode+locate "
           f"{dict(decode)}, slowest {slowest:.2f} s, child peak {int(peak) >> 20} MiB; "
           f"{sum(pipeline.values())} through the pipeline {pipeline}, slowest "
           f"{stats['max_item_s']:.2f} s, child peak {pipeline_peak >> 20} MiB")  # fmt: skip


def test_the_fuzzer_can_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness is not vacuous: an exception in the checked path fails the run."""
    from scripts import fuzzing

    def broken(data: bytes, max_pixels: int) -> object:
        raise ValueError("a bug")

    monkeypatch.setattr(fuzzing, "decode", broken)
    with pytest.raises(ValueError, match="a bug"):
        fuzzing.fuzz_decode({"x.png": b"\x89PNG\r\n\x1a\n" + bytes(64)}, 5, 0, {})


def test_worker_memory_is_given_back_between_inputs() -> None:
    """After an input, the worker's resting RSS returns to where it was: otherwise the
    memory one input needs depends on the inputs before it, and a shard of varied photos
    creeps towards its limit. 40 inputs of varied shapes through `pipeline.process`."""
    proc, oom_kills, _ = run_fuzzer(["--rss-walk", "40"], 2 * PIPELINE_LIMIT_BYTES, 600)
    assert proc.returncode == 0 and oom_kills == 0, (proc.stdout + proc.stderr)[-5000:]
    rss = json.loads(proc.stdout.strip().splitlines()[-1])["rss_mib"]
    settled, worst = rss[3], max(rss[10:])
    assert worst - settled < 100, (
        f"the resting RSS crept from {settled} to {worst} MiB over {len(rss)} inputs ({rss}): "
        "memory freed after an input is kept by the allocator (see docs/reliability.md)"
    )
