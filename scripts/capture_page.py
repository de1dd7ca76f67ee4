"""Capture a parser fixture of a card photographed on a printed page (issue 14).

    python -m bench.photoset SET --count 48 --seed 77
    python -m scripts.capture_page SET SOURCE NAME "NOTE"

runs the pipeline on picture SOURCE of the photographed set SET (`bench.photoset`: a card
lying on a page of print) with the worker's engine (the onnx engine with its int8 detector)
and saves, for the first view it read (the located card), the boxes, what the engine read
where the parser asked it to look again and its second opinions, as
`tests/unit/idcard/fixtures/engine_page_NAME.json`. The expected values are the set's
labels, all of them: the capture stops when the replayed reading differs from them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ocr_job.config import EngineName
from ocr_job.engines import load_engine
from scripts.capture_fixtures import FIXTURES, expected_checks
from scripts.capture_reading import Recording, read_case


def capture(set_dir: Path, source: str, note: str) -> dict[str, Any]:
    from tests.unit.idcard.test_fixtures import replay

    description = (
        f"issue 14, a card on a printed page: {note}; picture {source} of the "
        f"photographed set {set_dir.name} (bench.photoset), as the pipeline reads its located card "
        "with the worker's onnx engine"
    )
    case, label = read_case(set_dir, source, Recording(load_engine(EngineName.ONNX)), description)
    reading = replay(case)
    fields = {k: v for k, v in label["fields"].items() if v is not None}
    got = {k: v for k, v in reading.fields.model_dump().items() if v is not None}
    want_checks = expected_checks(fields)
    if got != fields or reading.checks != want_checks:
        raise SystemExit(
            f"the replayed reading differs from the labels: {sorted(set(got.items()) ^ set(fields.items()))}"
        )
    warnings = sorted(w.code for w in reading.warnings)
    case["expected"] = {"side": label["side"], "fields": fields, "checks": want_checks, "warnings": warnings}
    return case


if __name__ == "__main__":
    set_dir, source, name, note = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    data = capture(set_dir, source, note)
    path = FIXTURES / f"engine_page_{name}.json"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path.name}: {len(data['boxes'])} boxes", file=sys.stderr)
