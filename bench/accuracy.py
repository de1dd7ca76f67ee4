"""Field accuracy of the worker on a seeded synthetic set, with every miss listed.

    python -m bench.accuracy [--count 300] [--seed 7] [--data DIR] [--levels clean,photo,hard]
                             [--engine onnx] [--threads 1] [--output DIR] [--json FILE]

1. Generates (or reuses) ``--count`` cards with ``ocr_job.synth.generate_set`` under
   ``--data`` (the same folder ``bench.run`` uses for that seed and count when all three
   levels are asked for).
2. Runs ``python -m ocr_job.cli run SET --output OUT --log-format plain`` in a child
   process (a fresh ``OUT``, so no record is reused).
3. Scores ``OUT/results.jsonl`` against ``labels.jsonl`` with ``bench.run.score`` and
   prints, per level and per field, the exact-match accuracy, the share of cards with every
   field right, and each miss: WRONG (a non-empty value other than the label: the kind of
   miss the parser must not make) apart from EMPTY (no value, which a warning explains).
   A WRONG value with a warning on its field counts as *flagged*, one without as *silent*.

Identity numbers are never printed whole: a miss on one shows only the positions that
differ.
"""

from __future__ import annotations

import argparse
import difflib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.run import BACK, DATA, FRONT, LEVELS, RESULTS, ROOT, Accuracy, accuracy_json, score

#: Kinds of miss, worst first.
WRONG, EMPTY, SIDE, ERROR = "wrong", "empty", "side", "error"


@dataclass(frozen=True, slots=True)
class Miss:
    source: str
    level: str
    field: str  # a field name, or "side" / "status" for a card that was not read at all
    kind: str  # WRONG, EMPTY, SIDE or ERROR
    expected: str | None
    got: str | None
    flagged: bool  # a warning names this field (or the record failed)
    confidence: float | None = None


def _fields_of(side: str) -> tuple[str, ...]:
    return FRONT if side == "front" else BACK


def _warned_fields(record: dict[str, Any]) -> set[str | None]:
    return {w.get("field") for w in record.get("warnings") or []}


def card_misses(source: str, label: dict[str, Any], record: dict[str, Any] | None) -> list[Miss]:
    """Every field of one card that differs from its label, classified."""
    level, side = label["level"], label["side"]
    if record is None or record.get("status") != "ok":
        error = (record or {}).get("error") or {}
        return [Miss(source, level, "status", ERROR, "ok", error.get("code", "no record"), True)]
    if record.get("side") != side:
        return [Miss(source, level, "side", SIDE, side, record.get("side"), False)]
    got = record.get("fields") or {}
    warned = _warned_fields(record)
    out = []
    for name in _fields_of(side):
        want, have = label["fields"].get(name), got.get(name)
        if have == want:
            continue
        kind = EMPTY if have in (None, "") else WRONG
        confidence = (record.get("confidence") or {}).get(name)
        out.append(Miss(source, level, name, kind, want, have, name in warned, confidence))
    return out


def all_misses(records: Iterable[dict[str, Any]], labels: dict[str, dict[str, Any]]) -> list[Miss]:
    by_source = {r["source"]: r for r in records}
    out: list[Miss] = []
    for source, label in sorted(labels.items()):
        out.extend(card_misses(source, label, by_source.get(source)))
    return out


def count_kinds(misses: Iterable[Miss]) -> dict[str, int]:
    """Misses by kind; WRONG also split into flagged and silent."""
    counts = {WRONG: 0, "wrong_flagged": 0, "wrong_silent": 0, EMPTY: 0, SIDE: 0, ERROR: 0}
    for miss in misses:
        counts[miss.kind] += 1
        if miss.kind == WRONG:
            counts["wrong_flagged" if miss.flagged else "wrong_silent"] += 1
    return counts


def _id_diff(expected: str | None, got: str | None) -> tuple[str, str]:
    """Both numbers with every character the two have in common masked (`*`), matched by
    alignment: a digit lost or added shows as itself, not as a shift of all that follows."""
    a, b = expected or "", got or ""
    keep_a, keep_b = [True] * len(a), [True] * len(b)
    for block in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        keep_a[block.a:block.a + block.size] = [False] * block.size
        keep_b[block.b:block.b + block.size] = [False] * block.size
    return ("".join(x if k else "*" for x, k in zip(a, keep_a, strict=True)),
            "".join(y if k else "*" for y, k in zip(b, keep_b, strict=True)))


def shown(miss: Miss) -> tuple[str, str]:
    """(expected, got) as printed: identity numbers reduced to their differing positions."""
    if miss.field == "id_number" and miss.kind == WRONG:
        return _id_diff(miss.expected, miss.got)
    if miss.field == "id_number":
        return ("<number>" if miss.expected else "None", str(miss.got))
    return str(miss.expected), str(miss.got)


def by_level(labels: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for source, label in labels.items():
        out.setdefault(label["level"], {})[source] = label
    return out


def _pct(right: int, total: int) -> str:
    return f"{100 * right / total:6.2f}%" if total else "     –"


def report(records: list[dict[str, Any]], labels: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The printed report and its JSON form."""
    levels = by_level(labels)
    scores: dict[str, Accuracy] = {lv: score(records, ls) for lv, ls in sorted(levels.items())}
    overall = score(records, labels)
    misses = all_misses(records, labels)
    names = [*FRONT, *BACK]
    lines = ["field              " + "".join(f"{lv:>16}" for lv in scores) + f"{'all':>16}"]
    for name in names:
        cells = []
        for acc in [*scores.values(), overall]:
            right, total = acc.per_field.get(name, [0, 0])
            cells.append(f"{_pct(right, total)} {right:>3}/{total:<3}")
        lines.append(f"{name:<19}" + "".join(f"{c:>16}" for c in cells))
    cells = [f"{_pct(a.all_right, a.cards)} {a.all_right:>3}/{a.cards:<3}"
             for a in [*scores.values(), overall]]
    lines.append(f"{'every field right':<19}" + "".join(f"{c:>16}" for c in cells))
    kinds = {lv: count_kinds(m for m in misses if m.level == lv) for lv in scores}
    kinds["all"] = count_kinds(misses)
    for kind in (WRONG, "wrong_silent", EMPTY, SIDE, ERROR):
        lines.append(f"{kind:<19}" + "".join(f"{kinds[lv][kind]:>16}" for lv in kinds))
    lines.append("")
    lines.append(f"misses ({len(misses)}):")
    for miss in sorted(misses, key=lambda m: ([WRONG, SIDE, ERROR, EMPTY].index(m.kind),
                                              m.field, m.source)):
        expected, got = shown(miss)
        flag = "warned" if miss.flagged else "SILENT"
        conf = f" conf={miss.confidence:.3f}" if miss.confidence is not None else ""
        lines.append(f"  {miss.kind:<5} {flag:<6} {miss.source:<26} {miss.field:<17} "
                     f"expected={expected!r} got={got!r}{conf}")
    payload = {
        "per_level": {lv: accuracy_json(acc) for lv, acc in scores.items()},
        "all": accuracy_json(overall),
        "kinds": kinds,
        "misses": [{**asdict(m), "expected": shown(m)[0], "got": shown(m)[1]} for m in misses],
    }
    return "\n".join(lines) + "\n", payload


# --------------------------------------------------------------------------- running


def prepare(count: int, seed: int, levels: Sequence[str], data: Path) -> Path:
    """The generated set's folder (reused when it is up to date)."""
    from ocr_job.synth import generate_set

    name = f"std-s{seed}-n{count}" if tuple(levels) == LEVELS else \
        f"acc-s{seed}-n{count}-{'-'.join(levels)}"
    return generate_set(data / name, count, seed=seed, levels=tuple(levels), width=1000)


def run_worker(cards: Path, out: Path, engine: str, threads: int) -> None:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "ocr_job.cli", "run", str(cards), "--output", str(out),
           "--log-format", "plain", "--engine", engine, "--threads", str(threads)]
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def read_results(out: Path) -> list[dict[str, Any]]:
    text = (out / "results.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.accuracy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--levels", default=",".join(LEVELS))
    parser.add_argument("--engine", default="onnx")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, help="the worker's output folder "
                        "(default: bench/results/accuracy-s<seed>-n<count>)")
    parser.add_argument("--rescore", action="store_true",
                        help="score the existing output again without running the worker")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    args.levels = tuple(lv.strip() for lv in args.levels.split(",") if lv.strip())
    if not args.levels or any(lv not in LEVELS for lv in args.levels):
        parser.error(f"--levels must be a subset of {','.join(LEVELS)}")
    if args.count < 1:
        parser.error("--count must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    from ocr_job.synth import load_labels

    args = parse_args(argv)
    cards = prepare(args.count, args.seed, args.levels, args.data)
    labels = {s: lb for s, lb in load_labels(cards).items() if lb.get("fields") and lb["side"]}
    out = args.output or RESULTS / f"accuracy-s{args.seed}-n{args.count}"
    if not args.rescore:
        print(f"accuracy: {len(labels)} cards (seed {args.seed}) in {cards}; worker → {out}",
              flush=True)
        run_worker(cards, out, args.engine, args.threads)
    text, payload = report(read_results(out), labels)
    print(text, end="")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
