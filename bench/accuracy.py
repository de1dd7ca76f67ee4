"""Field accuracy of the worker on a seeded synthetic set, with every miss listed.

    python -m bench.accuracy [--count 300] [--seed 7] [--data DIR] [--levels clean,photo,hard]
                             [--styles classic,realdesign,...] [--watermark] [--cards SET]
                             [--engine onnx] [--threads 1] [--output DIR] [--rescore]
                             [--json FILE]

1. Generates (or reuses) ``--count`` cards with ``ocr_job.synth.generate_set`` under
   ``--data`` (the same folder ``bench.run`` uses for that seed and count when all three
   levels and all layout styles are asked for; ``--watermark`` lays a KYC watermark over
   every picture, ``ocr_job.synth.watermark``); or takes the set already generated in
   ``--cards`` (e.g. by ``ocr-job samples``).
2. Runs ``python -m ocr_job.cli run SET --output OUT --log-format plain`` in a child
   process (a fresh ``OUT``, so no record is reused); ``--rescore`` skips this and scores
   the records already in ``OUT``.
3. Scores ``OUT/results.jsonl`` against ``labels.jsonl`` with ``bench.run.score`` and
   prints, per level, per layout style and per style × level, the exact-match accuracy
   per field, the share of cards with every field right, the misses by the card's traits
   (kind of name, kind of address ending, address lines), and each miss: WRONG (a
   non-empty value other than the label: the kind of miss the parser must not make)
   apart from EMPTY (no value, which a warning explains). A WRONG value with a warning on
   its field counts as *flagged*, one without as *silent*.

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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.run import BACK, DATA, FRONT, LEVELS, RESULTS, ROOT, Accuracy, accuracy_json, score
from ocr_job.synth.layouts import LAYOUTS, STYLES

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
    style: str | None = None  # the card's layout style (None: a set without styles)
    codes: str = ""  # the codes of the warnings that name this field, comma-separated


def _fields_of(side: str) -> tuple[str, ...]:
    return FRONT if side == "front" else BACK


def _warned_fields(record: dict[str, Any]) -> set[str | None]:
    return {w.get("field") for w in record.get("warnings") or []}


def _codes(record: dict[str, Any], name: str) -> str:
    return ",".join(sorted({str(w.get("code")) for w in record.get("warnings") or []
                            if w.get("field") == name}))  # fmt: skip


def card_misses(source: str, label: dict[str, Any], record: dict[str, Any] | None) -> list[Miss]:
    """Every field of one card that differs from its label, classified."""
    level, side, style = label["level"], label["side"], label.get("style")
    if record is None or record.get("status") != "ok":
        error = (record or {}).get("error") or {}
        return [Miss(source, level, "status", ERROR, "ok", error.get("code", "no record"), True,
                     style=style)]  # fmt: skip
    if record.get("side") != side:
        return [Miss(source, level, "side", SIDE, side, record.get("side"), False, style=style)]
    got = record.get("fields") or {}
    warned = _warned_fields(record)
    out = []
    for name in _fields_of(side):
        want, have = label["fields"].get(name), got.get(name)
        if have == want:
            continue
        kind = EMPTY if have in (None, "") else WRONG
        confidence = (record.get("confidence") or {}).get(name)
        out.append(
            Miss(
                source, level, name, kind, want, have, name in warned, confidence, style, _codes(record, name)
            )
        )
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
        keep_a[block.a : block.a + block.size] = [False] * block.size
        keep_b[block.b : block.b + block.size] = [False] * block.size
    return (
        "".join(x if k else "*" for x, k in zip(a, keep_a, strict=True)),
        "".join(y if k else "*" for y, k in zip(b, keep_b, strict=True)),
    )


def shown(miss: Miss) -> tuple[str, str]:
    """(expected, got) as printed: identity numbers reduced to their differing positions."""
    if miss.field == "id_number" and miss.kind == WRONG:
        return _id_diff(miss.expected, miss.got)
    if miss.field == "id_number":
        return ("<number>" if miss.expected else "None", str(miss.got))
    return str(miss.expected), str(miss.got)


def by_level(labels: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    return by_key(labels, lambda label: label["level"])


def by_key(
    labels: dict[str, dict[str, Any]], key: Callable[[dict[str, Any]], str | None]
) -> dict[str, dict[str, dict[str, Any]]]:
    """The labels grouped by `key(label)`, groups in sorted order (None: left out)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for source, label in labels.items():
        group = key(label)
        if group is not None:
            out.setdefault(group, {})[source] = label
    return dict(sorted(out.items()))


def _pct(right: int, total: int) -> str:
    return f"{100 * right / total:6.2f}%" if total else "     –"


def _cell(right: int, total: int) -> str:
    return f"{_pct(right, total)} {right:>3}/{total:<3}"


def field_table(scores: dict[str, Accuracy], overall: Accuracy) -> list[str]:
    """Per field (rows) and group (columns): exact-match rate; then every field right."""
    lines = ["field              " + "".join(f"{g:>16}" for g in scores) + f"{'all':>16}"]
    for name in [*FRONT, *BACK]:
        cells = [_cell(*acc.per_field.get(name, [0, 0])) for acc in [*scores.values(), overall]]
        lines.append(f"{name:<19}" + "".join(f"{c:>16}" for c in cells))
    cells = [_cell(a.all_right, a.cards) for a in [*scores.values(), overall]]
    lines.append(f"{'every field right':<19}" + "".join(f"{c:>16}" for c in cells))
    return lines


def _fields_right(acc: Accuracy) -> tuple[int, int]:
    right = sum(r for r, _ in acc.per_field.values())
    return right, sum(t for _, t in acc.per_field.values())


def style_level_table(records: list[dict[str, Any]], labels: dict[str, dict[str, Any]],
                      misses: list[Miss]) -> tuple[list[str], dict[str, Any]]:  # fmt: skip
    """Per style (rows) × level: cards with every field right, fields right, and the
    wrong / empty counts."""
    styles = by_key(labels, lambda label: label.get("style"))
    levels = sorted({label["level"] for label in labels.values()})
    lines = [f"{'style × level':<14}" + "".join(f"{lv:^38}" for lv in levels)]
    lines.append(" " * 14 + f"  {'cards right':>11} {'fields right':>12} {'wrong/empty':>11}" * len(levels))
    payload: dict[str, Any] = {}
    for style, group in styles.items():
        cells = []
        for level in levels:
            subset = {s: lb for s, lb in group.items() if lb["level"] == level}
            acc = score(records, subset)
            kinds = count_kinds(m for m in misses if m.source in subset)
            right, total = _fields_right(acc)
            cells.append(
                f"  {_pct(acc.all_right, acc.cards):>11} {_pct(right, total):>12} "
                f"{kinds[WRONG]:>6}/{kinds[EMPTY]:<4}"
            )
            payload.setdefault(style, {})[level] = {
                **accuracy_json(acc),
                "fields_right": right,
                "fields": total,
                "kinds": kinds,
            }
        lines.append(f"{style:<14}" + "".join(cells))
    return lines, payload


#: Label traits the miss report is split by, and the fields each trait is about.
TRAITS: dict[str, tuple[str, ...]] = {
    "address": ("address",),
    "address_lines": ("address",),
    "name": ("name",),
}


def trait_table(labels: dict[str, dict[str, Any]], misses: list[Miss]) -> tuple[list[str], dict[str, Any]]:
    """For each trait value (e.g. address ending "digits", four address lines): the
    fronts that have it, and how many of their trait's fields came out wrong / empty."""
    lines = [f"{'trait':<28}{'cards':>7}{'right':>8}{'wrong':>7}{'empty':>7}"]
    payload: dict[str, Any] = {}
    for trait, fields in TRAITS.items():
        groups = by_key(labels, lambda lb, t=trait: None if lb["side"] != "front"
                        else str((lb.get("traits") or {}).get(t)))  # fmt: skip
        for value, group in groups.items():
            if value == "None":
                continue
            hit = [m for m in misses if m.source in group and m.field in (*fields, "status", "side")]
            wrong = sum(m.kind == WRONG for m in hit)
            empty = sum(m.kind != WRONG for m in hit)
            cards = len(group)
            lines.append(
                f"{trait + '=' + value:<28}{cards:>7}{cards - len({m.source for m in hit}):>8}"
                f"{wrong:>7}{empty:>7}"
            )
            payload.setdefault(trait, {})[value] = {
                "cards": cards,
                "right": cards - len({m.source for m in hit}),
                "wrong": wrong,
                "empty": empty,
            }
    return lines, payload


def report(records: list[dict[str, Any]], labels: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The printed report and its JSON form."""
    levels = by_level(labels)
    scores: dict[str, Accuracy] = {lv: score(records, ls) for lv, ls in levels.items()}
    overall = score(records, labels)
    misses = all_misses(records, labels)
    lines = ["per level:", *field_table(scores, overall)]
    kinds = {lv: count_kinds(m for m in misses if m.level == lv) for lv in scores}
    kinds["all"] = count_kinds(misses)
    for kind in (WRONG, "wrong_silent", EMPTY, SIDE, ERROR):
        lines.append(f"{kind:<19}" + "".join(f"{kinds[lv][kind]:>16}" for lv in kinds))
    styles = by_key(labels, lambda label: label.get("style"))
    style_scores = {st: score(records, ls) for st, ls in styles.items()}
    style_kinds = {st: count_kinds(m for m in misses if m.style == st) for st in styles}
    if styles:
        lines += ["", "per layout style:", *field_table(style_scores, overall)]
        for kind in (WRONG, "wrong_silent", EMPTY, SIDE, ERROR):
            lines.append(
                f"{kind:<19}"
                + "".join(f"{style_kinds[st][kind]:>16}" for st in styles)
                + f"{kinds['all'][kind]:>16}"
            )
    grid_lines, grid = style_level_table(records, labels, misses) if styles else ([], {})
    trait_lines, traits = trait_table(labels, misses)
    lines += ["", *grid_lines] if grid_lines else []
    lines += ["", "misses by the card's traits (fronts):", *trait_lines] if traits else []
    lines.append("")
    lines.append(f"misses ({len(misses)}):")
    for miss in sorted(
        misses, key=lambda m: ([WRONG, SIDE, ERROR, EMPTY].index(m.kind), m.field, m.style or "", m.source)
    ):
        expected, got = shown(miss)
        flag = "warned" if miss.flagged else "SILENT"
        conf = f" conf={miss.confidence:.3f}" if miss.confidence is not None else ""
        codes = f" [{miss.codes}]" if miss.codes else ""
        lines.append(
            f"  {miss.kind:<5} {flag:<6} {miss.style or '-':<10} {miss.source:<26} "
            f"{miss.field:<17} expected={expected!r} got={got!r}{conf}{codes}"
        )
    payload = {
        "per_level": {lv: accuracy_json(acc) for lv, acc in scores.items()},
        "all": accuracy_json(overall),
        "kinds": kinds,
        "per_style": {st: accuracy_json(acc) for st, acc in style_scores.items()},
        "kinds_per_style": style_kinds,
        "per_style_level": grid,
        "per_trait": traits,
        "misses": [{**asdict(m), "expected": shown(m)[0], "got": shown(m)[1]} for m in misses],
    }
    return "\n".join(lines) + "\n", payload


# --------------------------------------------------------------------------- running


def prepare(count: int, seed: int, levels: Sequence[str], data: Path,
            styles: Sequence[str] = STYLES, watermark: bool = False) -> Path:  # fmt: skip
    """The generated set's folder (reused when it is up to date)."""
    from ocr_job.synth import generate_set

    every = tuple(levels) == LEVELS and tuple(styles) == STYLES and not watermark
    name = f"std-s{seed}-n{count}" if every else f"acc-s{seed}-n{count}-{'-'.join(levels)}-{'-'.join(styles)}"
    name += "-watermark" if watermark else ""
    return generate_set(data / name, count, seed=seed, levels=tuple(levels), width=1000,
                        styles=tuple(styles), watermark=watermark)  # fmt: skip


def run_worker(cards: Path, out: Path, engine: str, threads: int) -> None:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [
        sys.executable,
        "-m",
        "ocr_job.cli",
        "run",
        str(cards),
        "--output",
        str(out),
        "--log-format",
        "plain",
        "--engine",
        engine,
        "--threads",
        str(threads),
    ]
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def read_results(out: Path) -> list[dict[str, Any]]:
    text = (out / "results.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.accuracy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--levels", default=",".join(LEVELS))
    parser.add_argument(
        "--styles", default=",".join(STYLES), help="layout styles of the generated set (comma-separated)"
    )
    parser.add_argument("--watermark", action="store_true", help="lay a KYC watermark over every picture")
    parser.add_argument("--cards", type=Path, help="score this already generated set (labels.jsonl) instead")
    parser.add_argument("--engine", default="onnx")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--output",
        type=Path,
        help="the worker's output folder (default: bench/results/accuracy-s<seed>-n<count>)",
    )
    parser.add_argument(
        "--rescore", action="store_true", help="score the existing output again without running the worker"
    )
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    args.levels = tuple(lv.strip() for lv in args.levels.split(",") if lv.strip())
    if not args.levels or any(lv not in LEVELS for lv in args.levels):
        parser.error(f"--levels must be a subset of {','.join(LEVELS)}")
    args.styles = tuple(st.strip() for st in args.styles.split(",") if st.strip())
    if not args.styles or any(st not in LAYOUTS for st in args.styles):
        parser.error(f"--styles must be a subset of {','.join(LAYOUTS)}")
    if args.count < 1:
        parser.error("--count must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    from ocr_job.synth import load_labels

    args = parse_args(argv)
    cards = args.cards or prepare(args.count, args.seed, args.levels, args.data, args.styles, args.watermark)
    labels = {s: lb for s, lb in load_labels(cards).items() if lb.get("fields") and lb["side"]}
    out = args.output or RESULTS / (
        f"accuracy-{cards.name}" if args.cards else f"accuracy-s{args.seed}-n{args.count}"
    )
    if not args.rescore:
        print(f"accuracy: {len(labels)} cards (seed {args.seed}) in {cards}; worker → {out}", flush=True)
        run_worker(cards, out, args.engine, args.threads)
    text, payload = report(read_results(out), labels)
    print(text, end="")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
