"""Save real engine box lists of synthetic cards as parser fixtures.

Needs the engine and the generator (not the unit tests): run
`python -m scripts.capture_fixtures [count] [seed] [level] [skew]` to write
`tests/unit/idcard/fixtures/engine_<level>_s<seed>_*.json`. Each card is cropped with its true corners (as
the pipeline would) and then turned by a random angle within ±skew degrees.
The expected fields are the generator's true labels, never the parser's output.

`python -m scripts.capture_fixtures --view SET SOURCE VIEW` prints the boxes the
pipeline hands the parser for its view VIEW (in the order it tries them: the located card,
the whole picture, the whole picture turned 90°) of picture SOURCE of a generated set, as
JSON, for a fixture whose expected values are then written by hand from the set's labels.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ocr_job.idcard import idnumber
from ocr_job.idcard.vocab import is_known_ethnicity

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "unit" / "idcard" / "fixtures"


def crop(image: np.ndarray, corners: list[list[float]], width: int) -> np.ndarray:
    """The card alone, upright, `width` pixels wide (as the pipeline hands it over)."""
    height = round(width / 1.585)
    src = np.array(corners, np.float32)
    dst = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(image, matrix, (width, height), flags=cv2.INTER_AREA)


def expected_checks(fields: dict[str, Any]) -> dict[str, bool]:
    """The checks a correct reading passes, worked out from the true fields."""
    if fields.get("id_number"):
        number = fields["id_number"]
        checks = {
            "id_checksum": True,
            "birth_date_matches_id": True,
            "sex_matches_id": True,
            "region_known": idnumber.region(number) is not None,
            "ethnicity_known": is_known_ethnicity(fields["ethnicity"]),
        }
        place = idnumber.region(number)
        province = idnumber.province_of_address(fields["address"])
        if place and province:
            checks["address_matches_region"] = province == place["province"]
        return checks
    return {"validity_period": True}


def main(count: int = 16, seed: int = 11, level: str = "clean", skew: float = 0.0) -> None:
    from ocr_job.engines.onnx import OnnxEngine
    from ocr_job.synth import generate_set, load_labels

    engine = OnnxEngine(threads=2)
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        dest = generate_set(Path(tmp), count, seed=seed, levels=(level,))
        for source, label in sorted(load_labels(dest).items()):
            if label["side"] is None:
                continue
            image = cv2.imread(str(dest / source))
            card = crop(image, label["transform"]["corners"], 1000)
            angle = rng.uniform(-skew, skew) if skew else 0.0
            if angle:
                turn = cv2.getRotationMatrix2D((card.shape[1] / 2, card.shape[0] / 2), angle, 1)
                card = cv2.warpAffine(
                    card, turn, (card.shape[1], card.shape[0]), borderMode=cv2.BORDER_REPLICATE
                )
            boxes = engine.recognise(card).boxes
            fields = {k: v for k, v in label["fields"].items() if v is not None}
            checks = expected_checks(fields)
            case = {
                "description": f"engine boxes of synthetic {source} (seed {seed}), turned {angle:+.1f}°",
                "source": "engine",
                "width": card.shape[1],
                "height": card.shape[0],
                "boxes": [b.to_json() for b in boxes],
                "expected": {
                    "side": label["side"],
                    "fields": fields,
                    "checks": checks,
                    "warnings": [
                        f"{c}"
                        for c, ok in [
                            ("address_region_mismatch", checks.get("address_matches_region", True)),
                            ("ethnicity_unknown", checks.get("ethnicity_known", True)),
                        ]
                        if not ok
                    ],
                },
            }
            name = f"engine_{level}_s{seed}_{Path(source).stem}.json"
            text = json.dumps(case, ensure_ascii=False, indent=1) + "\n"
            (FIXTURES / name).write_text(text, encoding="utf-8")


def view_boxes(path: Path, view: int) -> dict[str, Any]:
    """The boxes (after `upright_boxes`) and size of one of the views the pipeline reads
    for this picture (it stops at the first complete reading: later views may not exist)."""
    from ocr_job import imaging, pipeline
    from ocr_job.config import JobConfig
    from ocr_job.engines.base import OcrResult
    from ocr_job.engines.onnx import OnnxEngine
    from ocr_job.storage.base import InputItem

    class Recording:
        name = "onnx"

        def __init__(self) -> None:
            self.engine = OnnxEngine(threads=1)
            self.views: list[dict[str, Any]] = []

        def recognise(self, image: np.ndarray) -> OcrResult:
            result = self.engine.recognise(image)
            height, width = image.shape[:2]
            boxes = imaging.upright_boxes(result.boxes, width, height)
            self.views.append({"width": width, "height": height, "boxes": [b.to_json() for b in boxes]})
            return result

    engine = Recording()
    config = JobConfig(source=str(path.parent), output=tempfile.gettempdir())
    fetched = pipeline.Fetched(item=InputItem(path.name), data=path.read_bytes())
    pipeline.process(fetched, engine, config)  # type: ignore[arg-type]
    return engine.views[view]


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--view"]:
        print(json.dumps(view_boxes(Path(args[1]) / args[2], int(args[3])), ensure_ascii=False))
        sys.exit(0)
    main(
        int(args[0]) if args else 16,
        int(args[1]) if len(args) > 1 else 11,
        args[2] if len(args) > 2 else "clean",
        float(args[3]) if len(args) > 3 else 0.0,
    )
