"""`make bench`: memory, speed and accuracy of `ocr-job` against PaddleOCR.

    python -m bench.run [--cards N] [--large N] [--long N] [--photos N] [--rounds R]
                        [--configs a,b,...] [--seed S]

1. Generates (or reuses) a seeded synthetic set under ``bench/data/``: ``--cards``
   cards at the generator's default size (card 1000 px wide, pictures 1000–2000 px)
   plus ``--large`` cards drawn twice as large (pictures up to 4000 px), all
   three levels, both sides; a ``--long`` set that repeats those pictures
   cyclically (hard links) to reach e.g. 2,000 inputs without generating them; and
   the photographed set (``--photos``, `bench.photoset`).
2. Runs the default configuration over the long run (memory growth), then every
   compared configuration (``ocr-job`` per engine/threads, the PaddleOCR baselines
   of `bench.baseline`: library defaults, MKL-DNN with 1 and 2 threads) on each set,
   pair by pair (`compare`: the set dealt into ``--rounds`` parts, the configurations
   taking turns on each part), and optionally ``ocr-job`` against a real S3 server.
3. While a child runs, the harness samples its ``VmRSS`` from
   ``/proc/<pid>/status`` every ``--interval`` seconds together with the number
   of finished inputs (record files in the output folder, objects under the S3
   output prefix, or lines of the baseline's timing file) and writes those
   samples next to its output folder (``<config>.rss.jsonl``). "After the engine
   loads" is the sample taken when the child logs ``engine … loaded``. Peak RSS is
   the child's own ``VmHWM``. RSS at inputs 200 and N is the resting RSS the worker
   logs on its progress lines (see RESTING_SPAN).
4. Scores the records against the labels and writes a Markdown table and a JSON
   file to ``bench/results/`` (and prints them), with the budget lines and the
   verdict: the worker's ratio to the fastest baseline on each set.

See docs/benchmarks.md for what each figure means and the last measured table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ocr_job.records import BACK_FIELDS, FRONT_FIELDS

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results"
MIB = 1024 * 1024

#: The budget: peak and growth of the issue "Benchmarks and the memory budget", the peak
#: lowered and the speed ratio of the issue "Faster than the fastest PaddleOCR".
BUDGET_PEAK_BYTES = 256 * MIB
BUDGET_GROWTH = 0.03
BUDGET_PADDLE_SHARE = 0.60
#: The worker's images per CPU-second (1 thread) and per wall-second (2 threads) over the
#: fastest PaddleOCR baseline's, on each set.
BUDGET_SPEED_RATIO = 1.5
GROWTH_FROM = 200

#: The accuracy targets of the issue "ID-card field parsing and validation", default engine:
#: the lowest per-field exact match on each level, and every field right over all cards.
TARGET_FIELD_RATE = {"clean": 0.995, "photo": 0.995, "hard": 0.97}
TARGET_ALL_RIGHT = 0.95

LEVELS = ("clean", "photo", "hard")
ENGINE_LOADED = re.compile(r"engine \S+ loaded")


# --------------------------------------------------------------------------- configurations


@dataclass(frozen=True, slots=True)
class Config:
    name: str
    kind: str  # "ocr-job", "baseline" or "s3"
    engine: str = "onnx"
    threads: int = 1  # for a baseline: cpu_threads with MKL-DNN; 0: the library's choice
    title: str = ""
    mkldnn: bool = False  # baselines only

    @property
    def is_baseline(self) -> bool:
        return self.kind == "baseline"


CONFIGS: dict[str, Config] = {
    c.name: c
    for c in (
        Config("onnx-1", "ocr-job", "onnx", 1, "ocr-job --engine onnx --threads 1"),
        Config("onnx-2", "ocr-job", "onnx", 2, "ocr-job --engine onnx --threads 2"),
        Config("paddle", "ocr-job", "paddle", 1, "ocr-job --engine paddle --threads 1"),
        Config(
            "baseline",
            "baseline",
            "paddle",
            0,
            "baseline: PaddleOCR(use_angle_cls=True, lang='ch').ocr(path)",
        ),
        Config(
            "mkldnn-1",
            "baseline",
            "paddle",
            1,
            "baseline: PaddleOCR(..., enable_mkldnn=True, cpu_threads=1)",
            mkldnn=True,
        ),
        Config(
            "mkldnn-2",
            "baseline",
            "paddle",
            2,
            "baseline: PaddleOCR(..., enable_mkldnn=True, cpu_threads=2)",
            mkldnn=True,
        ),
        Config("s3", "s3", "onnx", 1, "ocr-job --engine onnx --threads 1, S3 in and out"),
    )
}
DEFAULT_CONFIGS = ("onnx-1", "onnx-2", "paddle", "baseline", "mkldnn-1", "mkldnn-2", "s3")
#: The configuration that also makes the long run (when --long > 0).
LONG_CONFIG = "onnx-1"
#: The configurations compared on each set, pair by pair (`compare`); s3 runs once, on
#: the bench cards.
COMPARED = ("onnx-1", "onnx-2", "paddle", "baseline", "mkldnn-1", "mkldnn-2")
#: The sets, as they name the results (`<set>/<config>`) and head the report.
SETS = {
    "long": "the long run (bench cards, then repeats)",
    "cards": "bench cards",
    "photos": "photographed set (bench/photoset.py)",
}


# --------------------------------------------------------------------------- data


@dataclass(slots=True)
class DataSet:
    cards: Path  # folder of hard links: std/<level>/<file>, large/<level>/<file>
    long: Path  # folder of hard links: 00001.jpg ... (cycling over `cards`)
    labels: dict[str, dict[str, Any]]  # key under `cards` → label
    long_of: dict[str, str]  # key under `long` → key under `cards`

    def subset(self, n: int) -> DataSet:
        """About `n` cards, the same share of each group and level (at least one of each),
        spread evenly over each one's sorted keys and hard-linked into a folder of their
        own; no long run."""
        keys = sorted(self.labels)
        if n <= 0 or n >= len(keys):
            return DataSet(cards=self.cards, long=self.long, labels=self.labels, long_of={})
        buckets: dict[str, list[str]] = {}
        for key in keys:
            buckets.setdefault(key.rsplit("/", 1)[0], []).append(key)
        chosen: list[str] = []
        for bucket in buckets.values():
            take = max(1, round(len(bucket) * n / len(keys)))
            chosen += [bucket[i * len(bucket) // take] for i in range(take)]
        folder = self.cards.with_name(f"{self.cards.name}-sub{n}")
        for key in chosen:
            _link(self.cards / key, folder / key)
        return DataSet(cards=folder, long=self.long, labels={k: self.labels[k] for k in chosen}, long_of={})

    def split(self, parts: int) -> list[DataSet]:
        """The cards dealt into `parts` sets of their own (key i goes to part i mod parts,
        so each part has the same mix), each hard-linked into its own folder; no long run."""
        keys = sorted(self.labels)
        parts = max(1, min(parts, len(keys)))
        if parts == 1:
            return [DataSet(cards=self.cards, long=self.long, labels=self.labels, long_of={})]
        out = []
        for i in range(parts):
            chosen = keys[i::parts]
            folder = self.cards.with_name(f"{self.cards.name}-part{i + 1}of{parts}")
            for key in chosen:
                _link(self.cards / key, folder / key)
            out.append(
                DataSet(cards=folder, long=self.long, labels={k: self.labels[k] for k in chosen}, long_of={})
            )
        return out


def prepare_data_in_child(
    cards: int, large: int, long: int, seed: int, data: Path, photos: int = 0
) -> tuple[DataSet, DataSet | None]:
    """`prepare_data` and `prepare_photos` in a child process, so this process stays small:
    the bench cards, and the photographed set (None without photos).

    On Linux a child's `ru_maxrss` starts from its parent's peak (kept across exec), so
    rendering cards in the harness itself would inflate the figures of every child.
    """
    manifest = data / f"manifest-s{seed}-n{cards}-l{large}-x{long}-p{photos}.json"
    cmd = [
        sys.executable,
        "-m",
        "bench.run",
        "--prepare-only",
        str(manifest),
        "--cards",
        str(cards),
        "--large",
        str(large),
        "--long",
        str(long),
        "--photos",
        str(photos),
        "--seed",
        str(seed),
        "--data",
        str(data),
    ]
    subprocess.run(cmd, check=True, cwd=ROOT)
    raw = json.loads(manifest.read_text(encoding="utf-8"))
    sets = [
        DataSet(cards=Path(d["cards"]), long=Path(d["long"]), labels=d["labels"], long_of=d["long_of"])
        if d
        else None
        for d in (raw["cards"], raw["photos"])
    ]
    assert sets[0] is not None
    return sets[0], sets[1]


def prepare_photos(photos: int, seed: int, data: Path = DATA) -> DataSet:
    """Generate (or reuse) the photographed set (`bench.photoset`) of `photos` pictures."""
    from bench.photoset import generate_photoset
    from ocr_job.synth import load_labels

    root = generate_photoset(data / f"photos-s{seed}-n{photos}", photos, seed=seed)
    labels = {source: {**label, "group": "photos"} for source, label in sorted(load_labels(root).items())}
    return DataSet(cards=root, long=root, labels=labels, long_of={})


def _manifest(ds: DataSet | None) -> dict[str, Any] | None:
    if ds is None:
        return None
    return {"cards": str(ds.cards), "long": str(ds.long), "labels": ds.labels, "long_of": ds.long_of}


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def prepare_data(cards: int, large: int, long: int, seed: int, data: Path = DATA) -> DataSet:
    """Generate (or reuse) the seeded sets and the hard-linked input folders."""
    from ocr_job.synth import generate_set, load_labels

    sets: dict[str, Path] = {}
    if cards:
        sets["std"] = generate_set(
            data / f"std-s{seed}-n{cards}", cards, seed=seed, levels=LEVELS, width=1000
        )
    if large:
        sets["large"] = generate_set(
            data / f"large-s{seed + 1}-n{large}", large, seed=seed + 1, levels=LEVELS, width=2000
        )
    tag = f"s{seed}-n{cards}-l{large}"
    cards_dir = data / f"cards-{tag}"
    labels: dict[str, dict[str, Any]] = {}
    for group, root in sets.items():
        for source, label in sorted(load_labels(root).items()):
            if label.get("level") == "bad" or not label.get("fields"):
                continue
            key = f"{group}/{source}"
            labels[key] = {**label, "group": group}
            _link(root / source, cards_dir / key)
    keys = sorted(labels)
    long_dir = data / f"long-{tag}-x{long}"
    long_of: dict[str, str] = {}
    digits = max(5, len(str(long)))
    for i in range(max(long, len(keys)) if long and keys else 0):
        key = f"{i + 1:0{digits}d}.jpg"
        long_of[key] = keys[i % len(keys)]
        _link(cards_dir / long_of[key], long_dir / key)
    return DataSet(cards=cards_dir, long=long_dir, labels=labels, long_of=long_of)


# --------------------------------------------------------------------------- running a child


@dataclass(slots=True)
class Sample:
    t: float
    count: int
    rss: int  # VmRSS, bytes
    hwm: int  # VmHWM (the process's own peak RSS so far), bytes
    cpu: float  # user + system CPU seconds so far


@dataclass(slots=True)
class ChildRun:
    returncode: int
    wall_s: float
    peak_rss: int  # bytes: the child's VmHWM (its own mm's peak), else ru_maxrss
    ru_maxrss: int  # bytes, from wait4 (includes the parent's peak if that was larger)
    cpu_s: float  # user + system
    samples: list[Sample]
    loaded_t: float | None  # seconds from start when the engine was loaded
    loaded_rss: int | None
    loaded_cpu: float | None  # CPU seconds used by then
    last_count_t: float | None  # seconds from start when the last input finished
    last_count_cpu: float | None  # CPU seconds used by then
    stderr_tail: list[str] = field(default_factory=list)
    #: (inputs done, bytes) from the worker's progress lines: its RSS between two inputs
    resting: list[tuple[int, int]] = field(default_factory=list)


_TICK = os.sysconf("SC_CLK_TCK")


def _vm_rss(pid: int) -> int | None:
    return _proc_status(pid).get("VmRSS")


def _proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a live process in bytes ({} once it is gone)."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line[:5]] = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return {}
    return out


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a live process (from /proc/<pid>/stat)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, ValueError, IndexError):
        return None


def run_child(
    cmd: Sequence[str],
    count: Callable[[], int],
    side_file: Path,
    *,
    env: dict[str, str] | None = None,
    interval: float = 0.25,
    timeout: float = 3600.0,
) -> ChildRun:
    """Run `cmd`, sampling its VmRSS and `count()` until it exits; reap it with wait4."""
    started = time.monotonic()
    proc = subprocess.Popen(
        list(cmd),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
        text=True,
        errors="replace",
    )
    loaded: dict[str, float] = {}
    tail: list[str] = []
    resting: list[tuple[int, int]] = []

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "t" not in loaded and ENGINE_LOADED.search(line):
                loaded["t"] = time.monotonic() - started
                rss = _vm_rss(proc.pid)
                cpu = _cpu_seconds(proc.pid)
                if rss is not None:
                    loaded["rss"] = rss
                if cpu is not None:
                    loaded["cpu"] = cpu
            if progress := PROGRESS_RSS.search(line):
                resting.append((int(progress[1]), int(progress[2]) * 1024 * 1024))
            tail.append(line.rstrip())
            del tail[:-40]

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    samples: list[Sample] = []
    last_count, last_count_t, last_count_cpu = -1, None, None
    side_file.parent.mkdir(parents=True, exist_ok=True)
    with side_file.open("w", encoding="utf-8") as side:
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            now = time.monotonic() - started
            if pid == proc.pid:
                break
            status_now = _proc_status(proc.pid)
            cpu = _cpu_seconds(proc.pid)
            n = count()
            if "VmRSS" in status_now and cpu is not None:
                sample = Sample(round(now, 3), n, status_now["VmRSS"], status_now.get("VmHWM", 0), cpu)
                samples.append(sample)
                side.write(json.dumps(asdict(sample)) + "\n")
            if n != last_count:
                last_count, last_count_t, last_count_cpu = n, now, cpu
            if now > timeout:
                proc.kill()
            time.sleep(interval)
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join(timeout=5)
    cpu_total = usage.ru_utime + usage.ru_stime
    final = count()
    if final != last_count:  # the last inputs finished after the last sample
        last_count_t, last_count_cpu = now, cpu_total
    hwm = max((s.hwm for s in samples), default=0)
    return ChildRun(
        returncode=proc.returncode,
        wall_s=round(now, 3),
        peak_rss=hwm or usage.ru_maxrss * 1024,
        ru_maxrss=usage.ru_maxrss * 1024,
        cpu_s=round(cpu_total, 3),
        samples=samples,
        loaded_t=loaded.get("t"),
        loaded_rss=int(loaded["rss"]) if "rss" in loaded else None,
        loaded_cpu=loaded.get("cpu"),
        last_count_t=last_count_t,
        last_count_cpu=last_count_cpu,
        stderr_tail=tail,
        resting=resting,
    )


def count_records(folder: Path) -> Callable[[], int]:
    """Finished records under a local output folder (`<key>.json`; not `.tmp`, not `_*`)."""

    def count() -> int:
        n = 0
        stack = [folder]
        while stack:
            try:
                entries = list(os.scandir(stack.pop()))
            except OSError:
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if not entry.name.startswith("_"):
                        stack.append(Path(entry.path))
                elif entry.name.endswith(".json"):
                    n += 1
        return n

    return count


def count_lines(path: Path) -> Callable[[], int]:
    def count() -> int:
        try:
            with path.open("rb") as f:
                return sum(1 for _ in f)
        except OSError:
            return 0

    return count


# --------------------------------------------------------------------------- scoring


#: The fields of each side, as the result record defines them.
FRONT = FRONT_FIELDS
BACK = BACK_FIELDS


@dataclass(slots=True)
class Accuracy:
    cards: int = 0
    all_right: int = 0
    side_right: int = 0
    errors: int = 0
    per_field: dict[str, list[int]] = field(default_factory=dict)  # field → [right, total]
    per_level: dict[str, list[int]] = field(default_factory=dict)  # level → [all right, cards]
    #: level → field → [right, total]
    per_level_field: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    #: card layout style (labels that name one) → [all right, cards]
    per_style: dict[str, list[int]] = field(default_factory=dict)

    def add(self, label: dict[str, Any], record: dict[str, Any] | None) -> None:
        side = label["side"]
        expected = label["fields"]
        names = FRONT if side == "front" else BACK
        got = (record or {}).get("fields") or {}
        ok_side = record is not None and record.get("side") == side
        self.cards += 1
        self.side_right += ok_side
        self.errors += record is None or record.get("status") != "ok"
        every = ok_side
        for name in names:
            right = ok_side and got.get(name) == expected.get(name)
            for tally in (
                self.per_field.setdefault(name, [0, 0]),
                self.per_level_field.setdefault(label["level"], {}).setdefault(name, [0, 0]),
            ):
                tally[0] += right
                tally[1] += 1
            every = every and right
        self.all_right += every
        for level in (label["level"], "large" if label.get("group") == "large" else None):
            if level:
                tally = self.per_level.setdefault(level, [0, 0])
                tally[0] += every
                tally[1] += 1
        if label.get("style"):
            tally = self.per_style.setdefault(str(label["style"]), [0, 0])
            tally[0] += every
            tally[1] += 1


def score(
    records: Iterable[dict[str, Any]],
    labels: dict[str, dict[str, Any]],
    key_map: dict[str, str] | None = None,
) -> Accuracy:
    """Exact-match accuracy of the records' fields against the labels of their sources."""
    by_key: dict[str, dict[str, Any]] = {}
    for record in records:
        by_key[record["source"]] = record
    acc = Accuracy()
    keys = key_map or {k: k for k in labels}
    for key, label_key in sorted(keys.items()):
        acc.add(labels[label_key], by_key.get(key))
    return acc


def local_records(folder: Path) -> list[dict[str, Any]]:
    from ocr_job.storage.local import LocalSink

    return [r.model_dump(mode="json") for r in LocalSink(folder).iter_records()]


# --------------------------------------------------------------------------- one configuration


@dataclass(slots=True)
class Result:
    config: str
    title: str
    set: str = "cards"
    images: int = 0
    ok: int = 0
    skipped: str | None = None
    returncode: int | None = None
    rounds: int = 1
    wall_s: float | None = None
    work_s: float | None = None  # engine loaded → last input finished (summed over rounds)
    cpu_s: float | None = None
    cores: float | None = None
    peak_rss: int | None = None
    rss_loaded: int | None = None
    rss_at: dict[str, int] = field(default_factory=dict)  # "200"/"2000"/"end" → bytes
    growth: float | None = None
    median_s: float | None = None
    p95_s: float | None = None
    images_per_s: float | None = None  # inputs / work wall seconds
    images_per_s_core: float | None = None  # inputs / work wall seconds / cores
    images_per_cpu_s: float | None = None  # inputs / CPU seconds of the work window
    cpu_s_per_image: float | None = None  # all CPU seconds (start-up included) / inputs
    ru_maxrss: int | None = None
    accuracy: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(0, math.ceil(q / 100 * len(ordered)) - 1)
    return ordered[rank]


#: "RSS at input n" is the median VmRSS of the samples taken while inputs n … n+WINDOW-1
#: were being finished: single samples swing by ±100 MB within one image. Used only for a
#: child that does not log its resting RSS (see RESTING_SPAN).
RSS_WINDOW = 25
#: For `ocr-job`, "RSS at input n" is the median of the resting RSS its progress lines log
#: (after each input's memory is handed back) over inputs n … n+SPAN (at the end: the last
#: SPAN inputs). Sampled from outside, the RSS while a picture is in work swung by ±7 MiB
#: between windows of 25 inputs with no growth at rest (measured: resting 193 MiB at input
#: 200 and 194 at 600, window medians 208 and 218).
RESTING_SPAN = 200
PROGRESS_RSS = re.compile(r"progress: (\d+)/\d+ .*resting RSS (\d+) MiB")


def _resting_rss(resting: list[tuple[int, int]], lo: int, hi: int) -> int | None:
    """The median resting RSS the worker logged with lo ≤ inputs done ≤ hi."""
    inside = [rss for n, rss in resting if lo <= n <= hi]
    return int(statistics.median(inside)) if inside else None


def _rss_at(samples: list[Sample], n: int, window: int = RSS_WINDOW) -> tuple[int, int] | None:
    """(median VmRSS, first count) over the samples with n ≤ count < n + window."""
    inside = [s for s in samples if n <= s.count < n + window]
    if not inside:
        return None
    return int(statistics.median(s.rss for s in inside)), inside[0].count


def combine(runs: Sequence[ChildRun]) -> ChildRun:
    """Several runs of one configuration (rounds over parts of a set) as one: their work
    windows (engine loaded → last input finished) and CPU seconds added up, the peak the
    highest. The combined run's window starts at 0; no samples or resting RSS are kept."""
    if len(runs) == 1:
        return runs[0]
    complete = all(
        r.loaded_t is not None
        and r.last_count_t is not None
        and r.loaded_cpu is not None
        and r.last_count_cpu is not None
        for r in runs
    )
    loaded = [r.loaded_rss for r in runs if r.loaded_rss is not None]
    return ChildRun(
        returncode=next((r.returncode for r in runs if r.returncode != 0), 0),
        wall_s=round(sum(r.wall_s for r in runs), 3),
        peak_rss=max(r.peak_rss for r in runs),
        ru_maxrss=max(r.ru_maxrss for r in runs),
        cpu_s=round(sum(r.cpu_s for r in runs), 3),
        samples=[],
        loaded_t=0.0 if complete else None,
        loaded_rss=max(loaded) if loaded else None,
        loaded_cpu=0.0 if complete else None,
        last_count_t=round(sum(r.last_count_t - r.loaded_t for r in runs), 3)  # type: ignore[operator]
        if complete
        else None,
        last_count_cpu=round(sum(r.last_count_cpu - r.loaded_cpu for r in runs), 3)  # type: ignore[operator]
        if complete
        else None,
        stderr_tail=[line for r in runs for line in r.stderr_tail][-40:],
    )


def summarise(
    result: Result, run: ChildRun, seconds: list[float], threads: float, long_target: int | None
) -> None:
    result.returncode = run.returncode
    result.wall_s = run.wall_s
    result.cpu_s = run.cpu_s
    result.peak_rss = run.peak_rss
    result.ru_maxrss = run.ru_maxrss
    result.rss_loaded = run.loaded_rss
    if run.loaded_t is not None and run.last_count_t is not None:
        result.work_s = round(max(run.last_count_t - run.loaded_t, 1e-3), 3)
    if long_target and run.resting:
        for label, lo, hi in (
            (GROWTH_FROM, GROWTH_FROM, GROWTH_FROM + RESTING_SPAN),
            (long_target, long_target - RESTING_SPAN, long_target),
        ):
            if (rss := _resting_rss(run.resting, lo, hi)) is not None:
                result.rss_at[str(label)] = rss
    elif long_target:
        # "at 200": inputs 201–225 in progress; "at N": the last RSS_WINDOW inputs
        for label, n in ((GROWTH_FROM, GROWTH_FROM), (long_target, long_target - RSS_WINDOW)):
            if n >= 0 and (at := _rss_at(run.samples, n)):
                result.rss_at[str(label)] = at[0]
    if run.samples:
        result.rss_at["end"] = run.samples[-1].rss
    if long_target and str(GROWTH_FROM) in result.rss_at and str(long_target) in result.rss_at:
        a, b = result.rss_at[str(GROWTH_FROM)], result.rss_at[str(long_target)]
        result.growth = round((b - a) / a, 4)
    if seconds:
        result.median_s = round(statistics.median(seconds), 3)
        result.p95_s = round(_percentile(seconds, 95), 3)
    work = result.work_s or run.wall_s
    result.cores = threads
    if result.images and work:
        result.images_per_s = round(result.images / work, 3)
        result.images_per_s_core = round(result.images / work / threads, 3)
        result.cpu_s_per_image = round(run.cpu_s / result.images, 3)
    if result.images and run.loaded_cpu is not None and run.last_count_cpu is not None:
        work_cpu = max(run.last_count_cpu - run.loaded_cpu, 1e-3)
        result.images_per_cpu_s = round(result.images / work_cpu, 3)
    if run.ru_maxrss > 1.1 * run.peak_rss:
        result.notes.append(
            f"ru_maxrss {run.ru_maxrss / MIB:.0f} MiB exceeds the child's VmHWM: "
            "it carries the parent's peak (Linux keeps it across exec)"
        )
    if run.returncode != 0:
        result.notes.append(f"exit code {run.returncode}: " + " | ".join(run.stderr_tail[-3:]))


def record_seconds(records: list[dict[str, Any]]) -> list[float]:
    """Per-input seconds from the records' timings (fetch excluded: it is prefetched)."""
    out = []
    for r in records:
        timings = r.get("timings_ms") or {}
        out.append(sum(v for k, v in timings.items() if k != "fetch") / 1000)
    return out


def worker_cmd(source: str, output: str, cfg: Config) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ocr_job.cli",
        "run",
        source,
        "--output",
        output,
        "--engine",
        cfg.engine,
        "--threads",
        str(cfg.threads),
        "--log-format",
        "plain",
    ]


def baseline_cmd(listing: Path, times: Path, key_root: Path, cfg: Config) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "bench.baseline",
        str(listing),
        "--out",
        str(times),
        "--key-root",
        str(key_root),
    ]
    if cfg.mkldnn:
        cmd += ["--mkldnn", "--threads", str(cfg.threads)]
    return cmd


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.pop("JOB_COMPLETION_INDEX", None)
    env.update(extra or {})
    return env


@dataclass(slots=True)
class Round:
    """One child's run over (a part of) a set: how it ran, and what it wrote (the
    worker's records, or the baseline's timing rows)."""

    run: ChildRun
    rows: list[dict[str, Any]]


def skip_reason(cfg: Config) -> str | None:
    """Why `cfg` cannot run here (a missing optional package), or None."""
    if cfg.engine == "paddle" and cfg.kind == "ocr-job" and not _has_module("paddleocr"):
        return "paddleocr is not installed (pip extra [paddle])"
    if cfg.is_baseline and not (_has_module("paddleocr") and _has_module("rapidocr_paddle")):
        return "paddleocr / rapidocr_paddle are not installed (pip extra [paddle])"
    return None


def run_ocr_job(cfg: Config, data: DataSet, out: Path, interval: float, long: bool = False) -> Round:
    """`ocr-job run` over `data`'s cards (or its long run) into `out`."""
    source = data.long if long else data.cards
    shutil.rmtree(out, ignore_errors=True)
    run = run_child(
        worker_cmd(str(source), str(out), cfg),
        count_records(out),
        out.with_name(f"{out.name}.rss.jsonl"),
        env=child_env(),
        interval=interval,
    )
    return Round(run, local_records(out) if out.is_dir() else [])


def run_baseline(cfg: Config, data: DataSet, out: Path, interval: float) -> Round:
    """`python -m bench.baseline` over `data`'s cards; its rows are per-image timings."""
    out.mkdir(parents=True, exist_ok=True)
    listing = out / "inputs.txt"
    listing.write_text("".join(f"{data.cards / k}\n" for k in sorted(data.labels)), encoding="utf-8")
    times = out / "times.jsonl"
    times.unlink(missing_ok=True)
    run = run_child(
        baseline_cmd(listing, times, data.cards, cfg),
        count_lines(times),
        out.with_name(f"{out.name}.rss.jsonl"),
        env=child_env(),
        interval=interval,
    )
    rows = (
        [json.loads(line) for line in times.read_text(encoding="utf-8").splitlines() if line.strip()]
        if times.is_file()
        else []
    )
    return Round(run, rows)


def result_of(
    cfg: Config,
    set_name: str,
    rounds: list[Round],
    labels: dict[str, dict[str, Any]],
    long_target: int | None = None,
    key_map: dict[str, str] | None = None,
) -> Result:
    """The figures of `cfg` on a set from its rounds over the set's parts."""
    result = Result(cfg.name, cfg.title, set=set_name, rounds=len(rounds))
    run = combine([r.run for r in rounds])
    rows = [row for r in rounds for row in r.rows]
    result.images = len(rows)
    if cfg.is_baseline:
        result.ok = len(rows)
        # PaddleOCR's thread use is its library's choice: count the cores it kept busy.
        if run.loaded_t is not None and run.last_count_t is not None:
            busy = ((run.last_count_cpu or 0.0) - (run.loaded_cpu or 0.0)) / max(
                run.last_count_t - run.loaded_t, 1e-3
            )
        else:
            busy = run.cpu_s / max(run.wall_s, 1e-3)
        summarise(result, run, [r["seconds"] for r in rows], max(1.0, round(busy, 2)), None)
        result.notes.append("no fields: a baseline is only timed and measured")
        return result
    result.ok = sum(r["status"] == "ok" for r in rows)
    summarise(result, run, record_seconds(rows), cfg.threads, long_target)
    result.accuracy = accuracy_json(score(rows, labels, key_map))
    return result


def run_long(cfg: Config, data: DataSet, out_root: Path, interval: float) -> Result:
    """The default configuration over the long run: every card, then repeats (memory
    growth), accuracy over the first pass."""
    round_ = run_ocr_job(cfg, data, out_root / "long" / cfg.name, interval, long=True)
    key_map = dict(list(sorted(data.long_of.items()))[: len(data.labels)])
    result = result_of(cfg, "long", [round_], data.labels, len(data.long_of), key_map)
    result.notes.append(
        f"{result.images} inputs: the {len(data.labels)} cards, then the same "
        "pictures again (hard links) for the long run; accuracy is over the "
        "first pass"
    )
    return result


def compare(
    cfgs: Sequence[Config],
    data: DataSet,
    set_name: str,
    rounds: int,
    out_root: Path,
    interval: float,
    say: Callable[[str], None] = print,
) -> dict[str, Result]:
    """Each configuration over `data`, pair by pair: the set is dealt into `rounds` parts
    and every configuration runs on part 1, then on part 2, …, the order turning by one
    each round. Figures that other work on the machine disturbs (it shares the cores) are
    then disturbed alike for all, and ratios measured in one run stay comparable."""
    out: dict[str, Result] = {}
    runnable = []
    for cfg in cfgs:
        if reason := skip_reason(cfg):
            out[cfg.name] = Result(cfg.name, cfg.title, set=set_name, skipped=reason)
        else:
            runnable.append(cfg)
    parts = data.split(rounds)
    done: dict[str, list[Round]] = {cfg.name: [] for cfg in runnable}
    for r, part in enumerate(parts):
        turn = r % max(1, len(runnable))
        for cfg in [*runnable[turn:], *runnable[:turn]]:
            t0 = time.monotonic()
            folder = out_root / set_name / f"part{r + 1}" / cfg.name
            if cfg.is_baseline:
                done[cfg.name].append(run_baseline(cfg, part, folder, interval))
            else:
                done[cfg.name].append(run_ocr_job(cfg, part, folder, interval))
            say(
                f"bench: {set_name} part {r + 1}/{len(parts)}: {cfg.name}: "
                f"{len(done[cfg.name][-1].rows)} inputs, {time.monotonic() - t0:.0f} s"
            )
    for cfg in runnable:
        out[cfg.name] = result_of(cfg, set_name, done[cfg.name], data.labels)
    return {name: out[name] for name in (c.name for c in cfgs)}


def run_s3(cfg: Config, data: DataSet, out_root: Path, interval: float) -> Result:
    result = Result(cfg.name, cfg.title)
    try:
        from tests.support.s3server import S3Server
    except Exception as exc:  # another engineer's helper; absent or broken → skip the row
        result.skipped = f"tests.support.s3server.S3Server is not available ({exc})"
        return result
    from ocr_job.storage import open_sink

    base = out_root / "s3server"
    shutil.rmtree(base, ignore_errors=True)
    try:
        server = S3Server(base)
        server.start()
    except Exception as exc:
        result.skipped = f"the S3 server did not start: {exc}"
        return result
    try:
        client = server.client()
        bucket = server.make_bucket(f"bench-{secrets.token_hex(4)}")
        for key in sorted(data.labels):
            client.fput_object(bucket, f"in/{key}", str(data.cards / key))

        def count() -> int:
            try:
                return sum(
                    1
                    for o in client.list_objects(bucket, prefix="out/", recursive=True)
                    if o.object_name.endswith(".json") and "/_" not in o.object_name
                )
            except Exception:
                return -1

        cmd = worker_cmd(f"s3://{bucket}/in", f"s3://{bucket}/out", cfg)
        run = run_child(
            cmd,
            count,
            out_root / f"{cfg.name}.rss.jsonl",
            env=child_env(server.env()),
            interval=max(interval, 1.0),
        )
        sink = open_sink(f"s3://{bucket}/out", server.settings())
        records = [r.model_dump(mode="json") for r in sink.iter_records()]
    finally:
        server.stop()
    result.images = len(records)
    result.ok = sum(r["status"] == "ok" for r in records)
    summarise(result, run, record_seconds(records), cfg.threads, None)
    # S3 record sources are full object keys, here under the `in/` prefix
    key_map = {f"in/{key}": key for key in data.labels}
    result.accuracy = accuracy_json(score(records, data.labels, key_map))
    result.notes.append("input counted by listing the output prefix every second")
    return result


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _field_rates(tallies: dict[str, list[int]]) -> dict[str, dict[str, Any]]:
    return {
        k: {"right": r, "total": t, "rate": round(r / t, 4) if t else None} for k, (r, t) in tallies.items()
    }


def accuracy_json(acc: Accuracy) -> dict[str, Any]:
    """An `Accuracy` as the JSON the bench tools write (counts and rates)."""
    return {
        "cards": acc.cards,
        "all_right": acc.all_right,
        "all_right_rate": round(acc.all_right / acc.cards, 4) if acc.cards else None,
        "side_right": acc.side_right,
        "errors": acc.errors,
        "per_field": _field_rates(acc.per_field),
        "per_level": {
            k: {"all_right": r, "cards": t, "rate": round(r / t, 4) if t else None}
            for k, (r, t) in acc.per_level.items()
        },
        "per_level_field": {level: _field_rates(fields) for level, fields in acc.per_level_field.items()},
        "per_style": {
            k: {"all_right": r, "cards": t, "rate": round(r / t, 4) if t else None}
            for k, (r, t) in acc.per_style.items()
        },
    }


# --------------------------------------------------------------------------- report


def _mib(n: int | None) -> str:
    return "–" if n is None else f"{n / MIB:.0f}"


def _pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}%"


def _num(x: float | None, fmt: str = "{:.2f}") -> str:
    return "–" if x is None else fmt.format(x)


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def _on(results: dict[str, Result], set_name: str, config: str) -> Result | None:
    r = results.get(f"{set_name}/{config}")
    return None if r is None or r.skipped else r


def fastest_baseline(results: dict[str, Result], set_name: str, measure: str) -> tuple[str, float] | None:
    """(config, figure) of the baseline with the highest `measure` on `set_name`."""
    best: tuple[str, float] | None = None
    for name, cfg in CONFIGS.items():
        r = _on(results, set_name, name)
        value = getattr(r, measure) if r and cfg.is_baseline else None
        if value and (best is None or value > best[1]):
            best = (name, value)
    return best


def speed_lines(results: dict[str, Result]) -> list[tuple[str, str, str]]:
    """(rule, measured, verdict) on each compared set: the worker against the fastest
    baseline, 1 thread per CPU-second, 2 threads per wall-second."""
    lines: list[tuple[str, str, str]] = []
    for set_name in ("cards", "photos"):
        for worker, measure, unit in (
            ("onnx-1", "images_per_cpu_s", "per CPU-second"),
            ("onnx-2", "images_per_s", "per wall-second"),
        ):
            mine = _on(results, set_name, worker)
            best = fastest_baseline(results, set_name, measure)
            if mine is None and best is None:
                continue
            a = getattr(mine, measure) if mine else None
            ratio = a / best[1] if a and best else None
            rule = (
                f"{SETS[set_name]}: {worker} images {unit} ≥ {BUDGET_SPEED_RATIO:.1f}× "
                "the fastest PaddleOCR baseline's"
            )
            measured = (
                f"{_num(a)} vs {_num(best[1]) if best else '–'}"
                f"{f' ({best[0]})' if best else ''} = {_num(ratio)}×"
            )
            lines.append((rule, measured, _verdict(None if ratio is None else ratio >= BUDGET_SPEED_RATIO)))
    return lines


def budget_lines(results: dict[str, Result], long_target: int) -> list[tuple[str, str, str]]:
    """(rule, measured, verdict) for each line of the budget."""
    lines: list[tuple[str, str, str]] = []
    peaks = [
        (r.peak_rss, key)
        for key, r in results.items()
        if r.config == LONG_CONFIG and not r.skipped and r.peak_rss
    ]
    peak, where = max(peaks) if peaks else (None, "")
    lines.append(
        (
            f"ocr-job peak RSS, default engine (onnx, 1 thread), every set (cards up to "
            f"4000 px, phone photos) ≤ {BUDGET_PEAK_BYTES // MIB} MiB",
            f"{_mib(peak)} MiB" + (f" ({where.split('/')[0]})" if peak else ""),
            _verdict(None if peak is None else peak <= BUDGET_PEAK_BYTES),
        )
    )
    default = _on(results, "long", LONG_CONFIG)
    growth = default.growth if default else None
    lines.append(
        (
            f"RSS growth from input {GROWTH_FROM} to input {long_target} ≤ 3%",
            _pct(growth, 2),
            _verdict(None if growth is None else growth <= BUDGET_GROWTH),
        )
    )
    lines.extend(speed_lines(results))
    paddle, base = _on(results, "cards", "paddle"), _on(results, "cards", "baseline")
    pp = paddle.peak_rss if paddle else None
    bp = base.peak_rss if base else None
    share = pp / bp if pp and bp else None
    lines.append(
        (
            "ocr-job --engine paddle peak RSS ≤ 60% of the default baseline's (bench cards)",
            f"{_mib(pp)} / {_mib(bp)} MiB = {_pct(share, 0)}",
            _verdict(None if share is None else share <= BUDGET_PADDLE_SHARE),
        )
    )
    return lines


def verdict_line(results: dict[str, Result]) -> str:
    """One line: the worker's ratio to the fastest baseline on each set."""
    parts = []
    for rule, measured, verdict in speed_lines(results):
        ratio = measured.rsplit("= ", 1)[-1]
        parts.append(f"{rule.split(':')[0]}, {rule.split(': ')[1].split(' images')[0]}: {ratio} ({verdict})")
    if not parts:
        return "verdict: no worker and baseline ran on the same set"
    return f"verdict (target ≥ {BUDGET_SPEED_RATIO:.1f}× the fastest PaddleOCR baseline): " + "; ".join(parts)


def default_accuracy(results: dict[str, Result]) -> Result | None:
    """The default engine's run whose accuracy is judged: the long run's first pass (every
    card), else its run on the compared bench cards."""
    for key in (f"long/{LONG_CONFIG}", f"cards/{LONG_CONFIG}"):
        r = results.get(key)
        if r and not r.skipped and r.accuracy and r.accuracy["cards"]:
            return r
    return None


def accuracy_lines(results: dict[str, Result]) -> list[tuple[str, str, str]]:
    """(rule, measured, verdict) for each accuracy target, on the default engine's cards:
    per level, its weakest field; then every field right over all cards. On the
    photographed set, its weakest field per kind is reported (no target: "info")."""
    default = default_accuracy(results)
    lines: list[tuple[str, str, str]] = []
    if default is not None and default.accuracy is not None:
        acc = default.accuracy
        for level, target in TARGET_FIELD_RATE.items():
            lines.append(
                _weakest_line(acc, level, f"per-field exact match, {level} cards ≥ {_pct(target)}", target)
            )
        rate = acc["all_right_rate"]
        lines.append(
            (
                f"every field right, all cards ≥ {_pct(TARGET_ALL_RIGHT, 0)}",
                f"{_pct(rate)} ({acc['all_right']}/{acc['cards']})",
                "PASS" if rate >= TARGET_ALL_RIGHT else "FAIL",
            )
        )
    photos = _on(results, "photos", LONG_CONFIG)
    if photos and photos.accuracy and photos.accuracy["cards"]:
        acc = photos.accuracy
        for kind in sorted(acc.get("per_level_field", {})):
            lines.append(_weakest_line(acc, kind, f"photographed set, {kind}: per-field exact match", None))
        lines.append(
            (
                "photographed set: every field right",
                f"{_pct(acc['all_right_rate'])} ({acc['all_right']}/{acc['cards']})",
                "info",
            )
        )
    return lines


def _weakest_line(acc: dict[str, Any], level: str, rule: str, target: float | None) -> tuple[str, str, str]:
    fields = acc.get("per_level_field", {}).get(level) or {}
    if not fields:
        return rule, "–", "n/a"
    name, worst = min(fields.items(), key=lambda kv: (kv[1]["rate"], kv[0]))
    measured = (
        f"lowest: {name} {_pct(worst['rate'])} ({worst['right']}/{worst['total']})"
        if worst["right"] < worst["total"]
        else "every field 100.0%"
    )
    if target is None:
        return rule, measured, "info"
    return rule, measured, "PASS" if worst["rate"] >= target else "FAIL"


def _table(results: dict[str, Result], long_target: int) -> list[str]:
    out = [
        f"| configuration | inputs | peak RSS MiB | RSS after load | RSS @{GROWTH_FROM} "
        f"| RSS @{long_target} | growth | median s/img | p95 s/img | img/s | img/s/core "
        "| img/CPU-s | every field right |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results.values():
        if r.skipped:
            out.append(f"| {r.title} | skipped: {r.skipped} ||||||||||||")
            continue
        acc = r.accuracy
        right = (
            f"{_pct(acc['all_right_rate'])} ({acc['all_right']}/{acc['cards']})"
            if acc and acc["cards"]
            else "– (no fields)"
        )
        out.append(
            f"| {r.title} | {r.images} | {_mib(r.peak_rss)} | {_mib(r.rss_loaded)} "
            f"| {_mib(r.rss_at.get(str(GROWTH_FROM)))} | {_mib(r.rss_at.get(str(long_target)))} "
            f"| {_pct(r.growth, 2)} | {_num(r.median_s)} | {_num(r.p95_s)} "
            f"| {_num(r.images_per_s)} | {_num(r.images_per_s_core)} | {_num(r.images_per_cpu_s)} "
            f"| {right} |"
        )
    return out


def _rates_table(scored: dict[str, Result], rows: Sequence[str], key: str) -> list[str]:
    out = ["| " + key.split("_")[-1] + " | " + " | ".join(scored) + " |", "|---|" + "---:|" * len(scored)]
    for row in rows:
        cells = []
        for r in scored.values():
            f = (r.accuracy or {}).get(key, {}).get(row)
            cells.append(f"{_pct(f['rate'])} ({f['all_right']}/{f['cards']})" if f else "–")
        out.append(f"| {row} | " + " | ".join(cells) + " |")
    return out


def markdown(results: dict[str, Result], meta: dict[str, Any]) -> str:
    long_target = meta["long"]
    out: list[str] = []
    out.append(f"Measured {meta['date']} on {meta['machine']}; `{meta['command']}`; {meta['inputs']}.\n")
    out.append(verdict_line(results) + "\n")
    for set_name, heading in SETS.items():
        on_set = {k: r for k, r in results.items() if r.set == set_name}
        if not on_set:
            continue
        rounds = max(r.rounds for r in on_set.values())
        out.append(
            f"**{heading[0].upper()}{heading[1:]}**"
            + (
                f" (each configuration in {rounds} rounds, the configurations taking "
                "turns on the same pictures)"
                if rounds > 1
                else ""
            )
            + ":\n"
        )
        out.extend(_table(on_set, long_target))
        out.append("")
    out.append("| budget | measured | verdict |")
    out.append("|---|---|---|")
    for rule, measured, verdict in budget_lines(results, long_target):
        out.append(f"| {rule} | {measured} | **{verdict}** |")
    targets = accuracy_lines(results)
    default = default_accuracy(results)
    if targets:
        out.append("")
        out.append(f"| accuracy target ({LONG_CONFIG}, per level) | measured | verdict |")
        out.append("|---|---|---|")
        out.extend(f"| {rule} | {measured} | **{verdict}** |" for rule, measured, verdict in targets)
    if default is not None:
        fields = (default.accuracy or {}).get("per_level_field", {})
        out.append("")
        out.append(f"Exact match per field and level ({LONG_CONFIG}, {SETS[default.set]}):\n")
        out.append("| field | " + " | ".join(LEVELS) + " |")
        out.append("|---|" + "---:|" * len(LEVELS))
        for name in (*FRONT, *BACK):
            cells = []
            for level in LEVELS:
                f = fields.get(level, {}).get(name)
                cells.append(f"{_pct(f['rate'])} ({f['right']}/{f['total']})" if f else "–")
            out.append(f"| {name} | " + " | ".join(cells) + " |")
    scored = {k: r for k, r in results.items() if r.accuracy and r.accuracy["cards"]}
    if scored:
        out.append("")
        out.append("Exact-match accuracy per field (cards of that side):\n")
        out.append("| field | " + " | ".join(scored) + " |")
        out.append("|---|" + "---:|" * len(scored))
        for name in (*FRONT, *BACK):
            cells = []
            for r in scored.values():
                f = r.accuracy["per_field"].get(name) if r.accuracy else None
                cells.append(f"{_pct(f['rate'])}" if f else "–")
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        levels = sorted(
            {lv for r in scored.values() for lv in (r.accuracy or {})["per_level"]},
            key=lambda lv: (lv not in LEVELS, LEVELS.index(lv) if lv in LEVELS else 0, lv),
        )
        out.append("")
        out.append(
            "Every field right, per level (`large`: the cards drawn at 2000 px; "
            "desk/phone/grey: the photographed set's kinds):\n"
        )
        out.extend(_rates_table(scored, levels, "per_level"))
        styles = sorted({st for r in scored.values() for st in (r.accuracy or {}).get("per_style", {})})
        if styles:
            out.append("")
            out.append("Every field right, per card layout style:\n")
            out.extend(_rates_table(scored, styles, "per_style"))
    notes = [(n, note) for n, r in results.items() for note in r.notes]
    if notes:
        out.append("")
        out.extend(f"- {n}: {note}" for n, note in notes)
    return "\n".join(out) + "\n"


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {model}, {platform.system()} {platform.release()}"


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cards", type=int, default=300, help="cards at the generator's default size (both sides, 3 levels)"
    )
    parser.add_argument("--large", type=int, default=8, help="cards drawn at 2000 px (pictures 2000–4000 px)")
    parser.add_argument(
        "--long",
        type=int,
        default=2000,
        help=f"inputs of the {LONG_CONFIG} run: the cards, then repeats (0: none)",
    )
    parser.add_argument(
        "--compare",
        type=int,
        default=104,
        help="bench cards (spread over groups and levels) the configurations are compared on; 0: all",
    )
    parser.add_argument(
        "--photos", type=int, default=48, help="pictures of the photographed set (bench/photoset.py); 0: none"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="parts each set is dealt into; the configurations take turns on each part (pair by pair)",
    )
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument(
        "--configs", default=",".join(DEFAULT_CONFIGS), help=f"comma-separated, from: {', '.join(CONFIGS)}"
    )
    parser.add_argument(
        "--interval", type=float, default=0.25, help="seconds between two RSS samples of a child"
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--prepare-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = [c for c in args.configs.split(",") if c.strip() and c.strip() not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration(s): {', '.join(unknown)}")
    if min(args.cards, args.large, args.long, args.photos) < 0 or args.cards + args.large == 0:
        parser.error("--cards/--large/--long/--photos must be ≥ 0, and some cards are needed")
    if args.rounds < 1:
        parser.error("--rounds must be ≥ 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.prepare_only:
        ds = prepare_data(args.cards, args.large, args.long, args.seed, args.data)
        photos = prepare_photos(args.photos, args.seed, args.data) if args.photos else None
        args.prepare_only.parent.mkdir(parents=True, exist_ok=True)
        args.prepare_only.write_text(
            json.dumps({"cards": _manifest(ds), "photos": _manifest(photos)}, ensure_ascii=False),
            encoding="utf-8",
        )
        return 0
    results_dir: Path = args.results
    names = [c.strip() for c in args.configs.split(",") if c.strip()]
    started = time.monotonic()
    print(
        f"bench: preparing {args.cards}+{args.large} cards, {args.photos} photos, long run of {args.long} …",
        flush=True,
    )
    data, photos = prepare_data_in_child(
        args.cards, args.large, args.long if LONG_CONFIG in names else 0, args.seed, args.data, args.photos
    )
    out_root = results_dir / "out"
    compared = data.subset(args.compare)
    results: dict[str, Result] = {}

    def keep(r: Result) -> None:
        results[f"{r.set}/{r.config}"] = r
        print(
            f"bench: {r.set}/{r.config}: "
            + (
                f"skipped ({r.skipped})"
                if r.skipped
                else f"{r.images} inputs, peak {_mib(r.peak_rss)} MiB, {_num(r.images_per_cpu_s)} "
                f"img/CPU-s, {_num(r.images_per_s)} img/s"
            ),
            flush=True,
        )

    if LONG_CONFIG in names and data.long_of:
        print(f"bench: long/{LONG_CONFIG} ({len(data.long_of)} inputs) …", flush=True)
        keep(run_long(CONFIGS[LONG_CONFIG], data, out_root, args.interval))
    cfgs = [CONFIGS[n] for n in COMPARED if n in names]
    for set_name, ds in (("cards", compared), ("photos", photos)):
        if ds is not None and cfgs:
            for r in compare(cfgs, ds, set_name, args.rounds, out_root, args.interval).values():
                keep(r)
    if "s3" in names:
        r = run_s3(CONFIGS["s3"], compared, out_root, args.interval)
        r.set = "cards"
        keep(r)
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python -m bench.run" + (
        " " + " ".join(argv) if argv else (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
    )
    meta = {
        "date": date,
        "machine": machine(),
        "command": command.strip(),
        "cards": args.cards,
        "large": args.large,
        "long": args.long,
        "seed": args.seed,
        "photos": args.photos,
        "rounds": args.rounds,
        "inputs": f"{len(data.labels)} cards ({args.cards} + {args.large} large, seed "
        f"{args.seed}); long run {len(data.long_of)} inputs; compared on "
        f"{len(compared.labels)} of the cards and {len(photos.labels) if photos else 0} "
        f"photographed pictures, in {args.rounds} rounds",
        "python": sys.version.split()[0],
        "total_s": round(time.monotonic() - started, 1),
    }
    table = markdown(results, meta)
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    payload = {
        "meta": meta,
        "results": {n: asdict(r) for n, r in results.items()},
        "verdict": verdict_line(results),
        "budget": [
            dict(zip(("rule", "measured", "verdict"), line, strict=True))
            for line in budget_lines(results, args.long)
        ],
        "accuracy_targets": [
            dict(zip(("rule", "measured", "verdict"), line, strict=True)) for line in accuracy_lines(results)
        ],
    }
    for name in (f"bench-{stamp}", "latest"):
        (results_dir / f"{name}.md").write_text(table, encoding="utf-8")
        (results_dir / f"{name}.json").write_text(
            json.dumps(payload, indent=1, ensure_ascii=False), encoding="utf-8"
        )
    print()
    print(table)
    print(verdict_line(results))
    print(
        f"bench: wrote {results_dir / f'bench-{stamp}.md'} and .json in {meta['total_s']:.0f} s", flush=True
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
