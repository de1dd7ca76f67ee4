"""Capture a parser fixture from one picture of a generated set, as the pipeline reads it.

    python -m scripts.capture_reading SET SOURCE NAME "NOTE"

runs the pipeline on picture SOURCE of the generated set SET with the onnx engine and
saves, for the first view it read (the located card), the boxes, what the engine read
where the parser asked it to look again, and its second opinions (text, score and the
characters' scores) as `tests/unit/idcard/fixtures/engine_class6_NAME.json`. The expected
values are the set's labels but for the name, which the fixture expects empty: use it for
a name the recognisers misread (a rare character read as a common one) that the parser must
leave empty. The capture stops if the replayed reading differs from the labels elsewhere.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ocr_job import idcard, imaging, pipeline
from ocr_job.config import JobConfig
from ocr_job.engines.base import OcrResult, Point, Reread, TextBox
from ocr_job.engines.onnx import OnnxEngine
from ocr_job.storage.base import InputItem
from scripts.capture_fixtures import FIXTURES, expected_checks


class Recording:
    """The onnx engine, with a note of every view it read and every answer it gave."""

    name = "onnx"

    def __init__(self, engine: Any = None) -> None:
        self.engine = engine if engine is not None else OnnxEngine(threads=1)
        self.views: list[dict[str, Any]] = []

    def recognise(self, image: np.ndarray) -> OcrResult:
        result = self.engine.recognise(image)
        height, width = image.shape[:2]
        self.views.append({"found": list(result.boxes), "w": width, "h": height, "again": [], "lines": []})
        return result

    def read_line(
        self, image: np.ndarray, quad: tuple[Point, Point, Point, Point]
    ) -> tuple[str, float] | None:
        line = self.engine.read_line(image, quad)
        self.views[-1]["lines"].append(line)
        return line

    def reread(
        self, image: np.ndarray, box: TextBox, same: Any = str, also: Any = (), margins: Any = ()
    ) -> Reread | None:
        answer = self.engine.reread(image, box, same, also, margins=margins)
        self.views[-1]["again"].append((box, answer))
        return answer


def read_case(set_dir: Path, source: str, engine: Recording, description: str) -> tuple[dict[str, Any], Any]:
    """Picture `source` of the labelled set `set_dir` read by the pipeline with `engine`: the
    fixture case of the first view it read (the located card; no expectation yet), and the
    picture's label."""
    labels = [
        json.loads(line) for line in (set_dir / "labels.jsonl").read_text().splitlines() if line.strip()
    ]
    label = next(lb for lb in labels if lb["source"] == source)
    config = JobConfig(source=str(set_dir), output=tempfile.gettempdir())
    fetched = pipeline.Fetched(item=InputItem(source), data=(set_dir / source).read_bytes())
    pipeline.process(fetched, engine, config)
    view = engine.views[0]
    boxes = imaging.upright_boxes(view["found"], view["w"], view["h"])
    first = idcard.parse(boxes, view["w"], view["h"])
    looked: dict[str, Any] = {}
    angle = pipeline._card_angle(boxes)
    for (name, quad), line in zip(first.look_again.items(), view["lines"], strict=True):
        if line is None or (line[0] and pipeline.BLANK_BELOW <= line[1] < pipeline.LOOK_AGAIN_MIN_SCORE):
            continue
        blank = not line[0] or line[1] < pipeline.BLANK_BELOW
        extent = pipeline._text_extent(quad, line[0])
        looked[name] = None if blank else TextBox(line[0], line[1], extent, angle, placed=True).to_json()
    index = {id(box): i for i, box in enumerate(view["found"])}
    again = {str(index[id(b)]): [a.text, a.score, list(a.chars)] for b, a in view["again"] if a is not None}
    case: dict[str, Any] = {
        "description": description,
        "source": "engine",
        "width": view["w"],
        "height": view["h"],
        "boxes": [b.to_json() for b in boxes],
        "looked_again": looked,
        "read_again": again,
    }
    return case, label


def capture(set_dir: Path, source: str, note: str) -> dict[str, Any]:
    from tests.unit.idcard.test_fixtures import replay

    description = (
        f"class 6 of issue 14: {note}; picture {source} of the generated set "
        f"{set_dir.name}, as the pipeline reads its located card with the onnx engine"
    )
    case, label = read_case(set_dir, source, Recording(), description)
    reading = replay(case)
    fields = {k: v for k, v in label["fields"].items() if v is not None}
    want = {k: v for k, v in fields.items() if k != "name"}
    got = {k: v for k, v in reading.fields.model_dump().items() if v is not None}
    if got != want or reading.checks != expected_checks(fields):
        raise SystemExit(f"the replayed reading differs from the labels: {sorted(set(got) ^ set(want))}")
    warnings = sorted(w.code for w in reading.warnings)
    case["expected"] = {"side": label["side"], "fields": want, "checks": reading.checks, "warnings": warnings}
    return case


if __name__ == "__main__":
    set_dir, source, name, note = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    data = capture(set_dir, source, note)
    path = FIXTURES / f"engine_class6_{name}.json"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
