"""Two-sided pages, PDFs and temporary cards: accuracy and memory of the worker on them.

    python -m bench.pages [--seeds 8] [--styles classic,realdesign,compact,wide]
                          [--kinds scan,grey,photo] [--pdfs 3] [--pdf-pages 4]
                          [--temporary 8] [--data DIR] [--json FILE] [--budget MIB]

1. Generates, under ``--data``: a two-sided A4 page (``ocr_job.synth.pages``) for every
   seed × style × kind, as a JPEG (``pages/``); ``--pdfs`` PDFs of ``--pdf-pages`` pages
   each, every page a two-sided page of its own (``pdfs/``); ``--temporary`` temporary
   cards' data sides, half scans, half photos (``temporary/``).
2. Runs ``python -m ocr_job.cli run`` on each folder in a child process of its own and
   takes that child's own peak RSS (its VmHWM, from its closing log line), so the PDF
   run's peak is the PDFs' own.
3. Prints, per kind and style, the share of pages read as ``side: both`` with every one of
   the nine fields right, the PDFs' records per page, the temporary cards' share with
   ``side: both``, the ``temporary_card`` warning and every field right, and each peak.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from ocr_job.records import ResultRecord
from ocr_job.storage.local import LocalSink
from ocr_job.synth.pages import PAGE_KINDS, pdf_of, two_sided_page
from ocr_job.synth.temporary import temporary_fields, temporary_shot

DATA = Path(".bench-data/pages")


def _write_pages(folder: Path, seeds: int, styles: list[str], kinds: list[str]) -> dict[str, dict[str, Any]]:
    labels: dict[str, dict[str, Any]] = {}
    (folder / "pages").mkdir(parents=True, exist_ok=True)
    for seed in range(seeds):
        for style in styles:
            for kind in kinds:
                page = two_sided_page(f"bench-{seed}", style, kind)
                name = f"pages/{seed:03d}-{style}-{kind}.jpg"
                (folder / name).write_bytes(page.jpeg())
                labels[name] = {"fields": page.fields.model_dump(), **page.info}
    return labels


def _write_pdfs(folder: Path, count: int, pages: int, styles: list[str]) -> dict[str, dict[str, Any]]:
    labels: dict[str, dict[str, Any]] = {}
    (folder / "pdfs").mkdir(parents=True, exist_ok=True)
    for number in range(count):
        made = [
            two_sided_page(f"pdf-{number}-{p}", styles[p % len(styles)], PAGE_KINDS[p % 2])
            for p in range(pages)
        ]  # scans and greyscale copies, as a scanner's PDFs
        name = f"pdfs/{number:03d}.pdf"
        (folder / name).write_bytes(pdf_of([page.image for page in made]))
        for p, page in enumerate(made, start=1):
            labels[f"{name}#page={p}"] = {"fields": page.fields.model_dump(), **page.info}
    return labels


def _write_temporary(folder: Path, count: int) -> dict[str, dict[str, Any]]:
    labels: dict[str, dict[str, Any]] = {}
    (folder / "temporary").mkdir(parents=True, exist_ok=True)
    for seed in range(count):
        level = "clean" if seed % 2 == 0 else "photo"
        name = f"temporary/{seed:03d}-{level}.jpg"
        (folder / name).write_bytes(temporary_shot(f"bench-{seed}", "data", level).jpeg())
        labels[name] = {"fields": temporary_fields(f"bench-{seed}").model_dump(), "kind": level,
                        "style": "temporary"}  # fmt: skip
    return labels


def _run(src: Path, dest: Path, budget_mib: int | None = None) -> tuple[dict[str, ResultRecord], int]:
    """The worker's records of `src` and the peak RSS (bytes) of its process alone."""
    shutil.rmtree(dest, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCR_", "AWS_"))}
    env["OCR_LOG_FORMAT"] = "plain"
    if budget_mib is not None:
        env["OCR_DECODE_BUDGET_MIB"] = str(budget_mib)
    log = dest.parent / f"{dest.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ocr_job.cli", "run", str(src), "--output",
                                 str(dest)], env=env, stdout=out, stderr=out)  # fmt: skip
        code = proc.wait()
    if code != 0:
        raise SystemExit(f"the worker failed ({code}); see {log}")
    records = {r.source: r for r in LocalSink(dest).iter_records()}
    return records, _peak(log.read_text(encoding="utf-8"))


def _peak(text: str) -> int:
    """The worker's own peak RSS (its VmHWM, from its closing log line), bytes: a child's
    `ru_maxrss` would start from the parent's peak (the pages generated here)."""
    match = re.search(r"done: .* peak RSS (\d+) MiB", text)
    if match is None:
        raise SystemExit("the worker's log has no closing line with its peak RSS")
    return int(match[1]) * 2**20


def _score(labels: dict[str, dict[str, Any]], records: dict[str, ResultRecord],
           temporary: bool = False) -> dict[str, Any]:  # fmt: skip
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    misses = []
    for name, label in labels.items():
        record = records.get(name)
        right = (
            record is not None
            and record.side == "both"
            and record.fields.model_dump() == label["fields"]
            and (not temporary or "temporary_card" in [w.code for w in record.warnings])
        )
        for key in ("all", f"kind={label['kind']}", f"style={label['style']}"):
            groups[key][0] += right
            groups[key][1] += 1
        if not right:
            got = record.fields.model_dump() if record else {}
            wrong = sorted(k for k, v in label["fields"].items() if got.get(k) != v)
            misses.append({"source": name, "side": record.side if record else None,
                           "error": record.error.code.value if record and record.error else None,
                           "fields": wrong})  # fmt: skip
    return {"groups": {k: {"right": r, "total": t, "share": round(r / t, 4)} for k, (r, t) in
                       sorted(groups.items())}, "misses": misses}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--styles", default="classic,realdesign,compact,wide")
    parser.add_argument("--kinds", default=",".join(PAGE_KINDS))
    parser.add_argument("--pdfs", type=int, default=3)
    parser.add_argument("--pdf-pages", type=int, default=4)
    parser.add_argument("--temporary", type=int, default=8)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--budget", type=int, help="OCR_DECODE_BUDGET_MIB of the PDF run (default: the worker's)"
    )
    args = parser.parse_args(argv)
    styles, kinds = args.styles.split(","), args.kinds.split(",")
    shutil.rmtree(args.data, ignore_errors=True)
    src, out = args.data / "src", args.data / "out"
    report: dict[str, Any] = {}
    if args.seeds:
        labels = _write_pages(src, args.seeds, styles, kinds)
        records, peak = _run(src / "pages", out / "pages")
        report["pages"] = {**_score({k[len("pages/"):]: v for k, v in labels.items()}, records),
                           "peak_rss_mib": round(peak / 2**20)}  # fmt: skip
    if args.pdfs:
        labels = _write_pdfs(src, args.pdfs, args.pdf_pages, styles)
        records, peak = _run(src / "pdfs", out / "pdfs", args.budget)
        relative = {k[len("pdfs/") :]: v for k, v in labels.items()}
        report["pdfs"] = {**_score(relative, records), "peak_rss_mib": round(peak / 2**20),
                          "records": len(records), "pages": len(relative),
                          "one_record_per_page": sorted(records) == sorted(relative)}  # fmt: skip
    if args.temporary:
        labels = _write_temporary(src, args.temporary)
        records, peak = _run(src / "temporary", out / "temporary")
        relative = {k[len("temporary/") :]: v for k, v in labels.items()}
        report["temporary"] = {**_score(relative, records, temporary=True),
                               "peak_rss_mib": round(peak / 2**20)}  # fmt: skip
    for part, result in report.items():
        print(f"== {part}: peak RSS {result['peak_rss_mib']} MiB")
        for key, group in result["groups"].items():
            print(f"  {key:24s} {group['right']:4d}/{group['total']:<4d} {100 * group['share']:6.2f}%")
        if "one_record_per_page" in result:
            print(
                f"  records {result['records']} for {result['pages']} pages; "
                f"one per page: {result['one_record_per_page']}"
            )
        for miss in result["misses"]:
            print(f"  miss {miss}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
