"""Print what the pipeline saw and decided on one picture of a generated set: for each view
the engine read, its boxes (text, score, centre), each place it read again and each second
opinion; then the record's fields and warnings against the set's label.

    python -m scripts.trace_card SET SOURCE

A tool for reading the parser's misses on synthetic sets only: it prints the card's text,
so never run it on real people's pictures.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from ocr_job import pipeline
from ocr_job.config import EngineName, JobConfig
from ocr_job.engines import load_engine
from ocr_job.storage.base import InputItem
from ocr_job.synth import load_labels
from scripts.capture_reading import Recording


def trace(set_dir: Path, source: str) -> None:
    label = load_labels(set_dir)[source]
    engine = Recording(load_engine(EngineName.ONNX))  # as `ocr-job run` loads it
    config = JobConfig(source=str(set_dir), output=tempfile.gettempdir())
    fetched = pipeline.Fetched(item=InputItem(source), data=(set_dir / source).read_bytes())
    record = pipeline.process(fetched, engine, config)
    for n, view in enumerate(engine.views):
        print(f"view {n}: {view['w']}x{view['h']}")
        for i, box in enumerate(view["found"]):
            ys = [p[1] for p in box.points]
            chars = " ".join(f"{c:.2f}" for c in box.chars)
            print(
                f"  [{i:2}] {box.score:.2f} x {box.x0:5.0f}-{box.x1:5.0f} y {min(ys):5.0f}-{max(ys):5.0f}"
                f"  {box.text}  ({chars})"
            )
        for line in view["lines"]:
            print(f"  look again: {line}")
        for box, answer in view["again"]:
            got = (
                None
                if answer is None
                else (answer.text, round(answer.score, 3), [round(c, 2) for c in answer.chars])
            )
            print(f"  second opinion on {box.text!r}: {got}")
    print("record:", json.dumps(record.fields.model_dump(), ensure_ascii=False))
    print("warnings:", [(w.code, w.field) for w in record.warnings])
    print("label:", json.dumps(label["fields"], ensure_ascii=False))


if __name__ == "__main__":
    trace(Path(sys.argv[1]), sys.argv[2])
