"""Where the worker's CPU-seconds go, stage by stage, on a folder of pictures.

    python -m bench.profile FOLDER [--limit N] [--threads 1] [--out TABLE.md] [--memory]

Loads the default engine once and runs the worker's own per-input code
(`ocr_job.pipeline.process`) on each picture in the folder (sorted, recursively),
in this process, under cProfile with the *thread's CPU clock* as its timer: with one
ONNX Runtime thread the models run in the calling thread, so each stage's figure is
CPU-seconds, which other work on the machine does not inflate (wall-clock would).

Prints a Markdown table: per stage (decode, locating the card, detector, angle
classifier, recogniser, second opinion, parser) its CPU-seconds over all pictures,
its share and its milliseconds per picture; and how many recogniser passes a picture
took (`pipeline._card_views` tries another view while a reading is incomplete).
cProfile's own overhead falls on the Python-heavy stages (parser, locating), a few %.

With ``--memory`` it measures memory instead of CPU: before each step (decode, locating,
detector, angle classifier, recogniser, second opinion, a place read again) the process's
peak RSS is reset (``/proc/self/clear_refs``), and after it read back (``VmHWM``); the table
gives each step's largest rise above the RSS before it and its highest peak.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: Stage → the functions (module path suffix, function name) whose cumulative time it is.
#: A function called inside another stage's function is counted in the inner stage only
#: where it says so (the detector and the recogniser inside `recognise`).
STAGES: dict[str, tuple[tuple[str, str], ...]] = {
    "decode (imaging.decode)": (("ocr_job/imaging.py", "decode"),),
    "locate the card (imaging.locate_card, fit_view)": (
        ("ocr_job/imaging.py", "locate_card"),
        ("ocr_job/imaging.py", "fit_view"),
    ),
    "detector (rapidocr TextDetector, incl. crops)": (("rapidocr/main.py", "detect_and_crop"),),
    "angle classifier (OnnxEngine._turned_as_the_card)": (
        ("ocr_job/engines/onnx.py", "_turned_as_the_card"),
    ),
    "recogniser (OnnxEngine._read_lines)": (("ocr_job/engines/onnx.py", "_read_lines"),),
    "second opinion (OnnxEngine._reread)": (("ocr_job/engines/onnx.py", "_reread"),),
    "parser (idcard.parse)": (("ocr_job/idcard/__init__.py", "parse"),),
    "outline search, picture warnings and two-sided pages (imaging.search_outlines; quality.survey,"
    " inspect; twosided.cards_apart)": (
        ("ocr_job/imaging.py", "search_outlines"),
        ("ocr_job/quality.py", "survey"),
        ("ocr_job/quality.py", "inspect"),
        ("ocr_job/twosided.py", "cards_apart"),
    ),
}
TOTAL = ("ocr_job/pipeline.py", "process")


def pictures(folder: Path) -> list[Path]:
    suffixes = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in suffixes and p.is_file())


def cumulative(stats: pstats.Stats, wanted: Iterable[tuple[str, str]]) -> float:
    """Cumulative seconds of the functions `wanted` ((file suffix, name) pairs)."""
    total = 0.0
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, name), (_cc, _nc, _tt, ct, _callers) in raw.items():
        if any(filename.endswith(suffix) and name == fn for suffix, fn in wanted):
            total += ct
    return total


def stage_table(stats: pstats.Stats, images: int, passes: Counter[int]) -> str:
    """The Markdown table of CPU-seconds per stage."""
    whole = cumulative(stats, [TOTAL])
    rows = ["| stage | CPU-s | share | ms per picture |", "|---|---:|---:|---:|"]
    accounted = 0.0
    for stage, funcs in STAGES.items():
        seconds = cumulative(stats, funcs)
        accounted += seconds
        rows.append(
            f"| {stage} | {seconds:.1f} | {100 * seconds / max(whole, 1e-9):.0f}% "
            f"| {1000 * seconds / max(images, 1):.0f} |"
        )
    rest = max(0.0, whole - accounted)
    rows.append(
        f"| the rest (records, scaling, boxes, …) | {rest:.1f} "
        f"| {100 * rest / max(whole, 1e-9):.0f}% | {1000 * rest / max(images, 1):.0f} |"
    )
    rows.append(
        f"| **per input, all stages** (`pipeline.process`) | **{whole:.1f}** | 100% "
        f"| **{1000 * whole / max(images, 1):.0f}** |"
    )
    spread = ", ".join(f"{n} pass{'es' if n > 1 else ''}: {c}" for n, c in sorted(passes.items()))
    rows.append("")
    rows.append(f"{images} pictures; recogniser passes per picture: {spread}.")
    return "\n".join(rows) + "\n"


#: Stage → (object attribute path on the engine or module, function name) wrapped by
#: `--memory`: the step's peak RSS above the RSS before it.
MEMORY_STEPS = ("decode", "locate", "det", "cls", "rec", "reread", "read_line")


def _status_mib(key: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(key):
                return int(line.split()[1]) // 1024
    return -1


def _reset_peak() -> None:
    """Reset the process's VmHWM to its current RSS (Linux `clear_refs` 5)."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
        refs.write("5")


def watch_memory(engine: Any, peaks: dict[str, list[tuple[int, int]]]) -> None:
    """Wrap each step of `MEMORY_STEPS` so that every call appends (RSS before, peak
    during) in MiB to `peaks[step]`: the peak is reset when the step starts."""
    from ocr_job import imaging

    ocr = getattr(engine, "_ocr", None)
    targets = {
        "decode": (imaging, "decode"),
        "locate": (imaging, "locate_card"),
        "det": (ocr, "detect_and_crop"),
        "rec": (engine, "_read_lines"),
        "cls": (engine, "_turned_as_the_card"),
        "reread": (engine, "reread"),
        "read_line": (engine, "read_line"),
    }
    for step, (owner, name) in targets.items():
        if owner is None or not hasattr(owner, name):
            continue
        wrapped = getattr(owner, name)

        def measured(*args: Any, _fn: Any = wrapped, _step: str = step, **kwargs: Any) -> Any:
            _reset_peak()
            before = _status_mib("VmRSS")
            try:
                return _fn(*args, **kwargs)
            finally:
                peaks.setdefault(_step, []).append((before, _status_mib("VmHWM")))

        setattr(owner, name, measured)


def memory_table(per_picture: list[tuple[str, dict[str, list[tuple[int, int]]]]]) -> str:
    """Per step: the largest rise above the RSS before it, and the highest peak, with the
    picture it was reached on."""
    rows = ["| step | most MiB above the RSS before it | highest peak MiB (picture) |", "|---|---:|---:|"]
    for step in MEMORY_STEPS:
        seen = [(h - b, h, name) for name, peaks in per_picture for b, h in peaks.get(step, [])]
        if seen:
            rise = max(seen)[0]
            _, top, where = max(seen, key=lambda s: s[1])
            rows.append(f"| {step} | +{rise} | {top} ({where}) |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("folder", type=Path)
    parser.add_argument("--limit", type=int, default=0, help="at most this many pictures")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, help="also write the table here")
    parser.add_argument("--pstats", type=Path, help="also dump cProfile's raw stats here")
    parser.add_argument(
        "--memory",
        action="store_true",
        help="instead of the CPU profile: each step's peak RSS (VmHWM reset "
        "before the step through /proc/self/clear_refs), Linux only",
    )
    args = parser.parse_args(argv)

    from ocr_job.config import EngineName, JobConfig
    from ocr_job.engines import load_engine
    from ocr_job.pipeline import Fetched, process
    from ocr_job.storage import InputItem

    paths = pictures(args.folder)[: args.limit or None]
    config = JobConfig(source=str(args.folder), output=str(args.folder))
    engine = load_engine(EngineName.ONNX, threads=args.threads, detector=config.detector)
    if args.memory:
        return _memory_main(paths, engine, config, process, Fetched, InputItem)
    calls = Counter[int]()
    recognise = engine.recognise

    def counted(image: Any) -> Any:
        counted.n += 1  # type: ignore[attr-defined]
        return recognise(image)

    engine.recognise = counted  # type: ignore[method-assign]
    profiler = cProfile.Profile(timer=time.thread_time)
    started = time.process_time()
    for path in paths:
        data = path.read_bytes()
        counted.n = 0  # type: ignore[attr-defined]
        profiler.enable()
        process(Fetched(InputItem(path.name, len(data)), data=data), engine, config)
        profiler.disable()
        calls[counted.n] += 1  # type: ignore[attr-defined]
    cpu = time.process_time() - started
    stats = pstats.Stats(profiler)
    table = stage_table(stats, len(paths), calls)
    table += f"Process CPU-seconds over the loop (all threads, profiler included): {cpu:.1f}.\n"
    print(table)
    if args.out:
        args.out.write_text(table, encoding="utf-8")
    if args.pstats:
        stats.dump_stats(str(args.pstats))
    return 0


def _memory_main(paths: list[Path], engine: Any, config: Any, process: Any, fetched: Any, item: Any) -> int:
    from ocr_job.memory import release_library_pages, settle

    peaks: dict[str, list[tuple[int, int]]] = {}
    watch_memory(engine, peaks)
    per_picture = []
    worst = 0
    release_library_pages()  # as the worker does once its engine is loaded
    for done, path in enumerate(paths, 1):
        data = path.read_bytes()
        peaks.clear()
        _reset_peak()
        process(fetched(item(path.name, len(data)), data=data), engine, config)
        worst = max(worst, _status_mib("VmHWM"))
        per_picture.append((path.name, {k: list(v) for k, v in peaks.items()}))
        settle(done)
    print(memory_table(per_picture))
    print(f"{len(paths)} pictures; highest peak {worst} MiB; RSS now {_status_mib('VmRSS')} MiB.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
