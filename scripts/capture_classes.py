"""Capture parser fixtures of the miss classes of issue 14 from real engine runs.

Needs the engine and the generator (not the unit tests). Each case is a person made with
the generator (`make_identity`, then one field set to the class's kind of value) and drawn
with `render_card`; some cases then move part of the drawn card (a value further from its
label, a line's second half closer to its first), as other layouts print them. The card
goes through the pipeline's reading step (`pipeline._recognise_and_parse`) with the onnx
engine, and everything the engine said is saved: the boxes, what it read where the parser
asked it to look again, and its second opinions::

    python -m scripts.capture_classes [CASE ...]

writes `tests/unit/idcard/fixtures/engine_class<N>_<case>.json`. The expected fields are the person's, never
the parser's output; a case is kept only when the parser before this issue read it
wrong (checked by running that parser's fixture test on it).

The fixtures were captured with the generator's first (classic) layout before it had
layout styles; with today's generator the same keys draw other cards.
"""

from __future__ import annotations

import dataclasses
import json
import random
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from ocr_job.engines.base import TextBox
from scripts.capture_fixtures import FIXTURES, expected_checks

WIDTH = 960
HEIGHT = 606

Shift = Callable[[np.ndarray], np.ndarray]


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    miss_class: int
    key: str  # the generator key of the person
    side: str = "front"
    change: dict[str, Any] = dataclasses.field(default_factory=dict)  # fields set on the person
    #: parts of the card moved: (x0, y0, x1, y1, dx[, ink share kept[, dy]]) in mm
    moves: tuple[tuple[float, ...], ...] = ()
    #: fields expected empty, with these warnings (the card does not show them legibly)
    empty: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    note: str = ""


def _mm(value: float) -> int:
    return round(value * WIDTH / 85.6)


def _move(
    card: np.ndarray,
    blank: np.ndarray,
    x0: float,
    y0: float,
    x1: float,
    y1: float,
    dx: float,
    ink_share: float = 1.0,
    dy: float = 0.0,
) -> np.ndarray:
    """What is printed inside (x0, y0, x1, y1) mm moved by (`dx`, `dy`) mm over the card's
    bare background `blank`, its ink faded to `ink_share` (a faint print)."""
    out = card.copy()
    a, b, c, d = _mm(x0), _mm(y0), _mm(x1), _mm(y1)
    sx, sy = _mm(dx), _mm(dy)
    out[b:d, a:c] = blank[b:d, a:c]
    patch = card[b:d, a:c]
    ink = np.abs(patch.astype(np.int16) - blank[b:d, a:c]).max(axis=2, keepdims=True) > 40
    if ink_share < 1.0:
        faded = blank[b:d, a:c] + ink_share * (patch.astype(np.float32) - blank[b:d, a:c])
        patch = np.clip(faded, 0, 255).astype(np.uint8)
    target = out[b + sy : d + sy, a + sx : c + sx]
    rows, cols = target.shape[:2]
    np.copyto(target, patch[:rows, :cols], where=ink[:rows, :cols])
    return out


CASES: tuple[Case, ...] = (
    Case("address_digits_1601", 1, "c14:1", change={"street": "解放路29号楼2单元1601"}),
    Case("address_digits_5dong1806", 1, "c14:2", change={"street": "建设大道5栋1806"}),
    Case("address_dashes_3_2_501", 1, "c14:3", change={"street": "朝阳街道3-2-501"}),
    Case("address_estate_fucheng", 1, "c14:4", change={"street": "人民路722号复城国际"}),
    Case("address_estate_runfu", 1, "c14:5", change={"street": "华润城润府"}),
    Case(
        "ethnicity_traditional_han",
        2,
        "c14:6",
        change={"ethnicity": "漢"},
        note="汉 drawn as 漢, as some fonts are read",
    ),
    Case(
        "ethnicity_traditional_uyghur",
        2,
        "c14:7",
        change={"ethnicity": "維吾爾"},
        note="维吾尔 drawn as 維吾爾, as some fonts are read",
    ),
    Case(
        "birth_split_overlapping_3",
        3,
        "c14:12",
        moves=((23.0, 19.0, 45.0, 24.2, -0.5, 1.0, 1.6),),
        note="the birth line from 年 on printed 1.6 mm lower, 0.5 mm closer",
    ),
    Case(
        "sex_no_box",
        4,
        "c14:10",
        moves=((15.0, 12.6, 21.0, 17.9, 4.0, 0.15),),
        note="the sex printed 4 mm further right, faint",
    ),
    Case(
        "sex_no_box_2",
        4,
        "c14:11",
        moves=((15.0, 12.6, 21.0, 17.9, 4.0, 0.15),),
        note="the sex printed 4 mm further right, faint",
    ),
    Case(
        "address_last_line_faint",
        5,
        "c14:20",
        change={"last_lines": ("15栋2单元", "2401室")},
        moves=((14.5, 35.0, 52.0, 40.0, 0.0, 0.12),),
        note="the address's third line printed faint: no box; the second ends in 单元",
    ),
    Case(
        "address_last_line_faint_2",
        5,
        "c14:21",
        change={"last_lines": ("8号楼3单元", "502室")},
        moves=((14.5, 35.0, 52.0, 40.0, 0.0, 0.12),),
        note="the address's third line printed faint: no box; the second ends in 单元",
    ),
    Case(
        "ethnicity_no_box",
        4,
        "c14:10",
        moves=((35.5, 12.6, 47.0, 17.9, 6.0, 0.2),),
        note="the ethnicity printed 6 mm further right, faint",
    ),
)


def person(case: Case) -> tuple[Any, dict[str, Any]]:
    """The person drawn (some values as the font prints them) and the true fields."""
    from ocr_job.idcard.vocab import normalise_ethnicity
    from ocr_job.synth.fonts import covered
    from ocr_job.synth.identity import make_identity
    from ocr_job.synth.layouts import CLASSIC

    who = make_identity(random.Random(case.key), covered)
    change = dict(case.change)
    street = change.pop("street", None)
    if street is not None:
        change["address"] = who.region.prefix + street
    wrapped = change.pop("last_lines", None)
    if wrapped is not None:  # the second line ends with wrapped[0], the third is wrapped[1]
        room = 2 * CLASSIC.address_chars - len(who.region.prefix) - len(wrapped[0])
        filler = ("人民路幸福小区" * 4)[: max(room, 0)]
        change["address"] = who.region.prefix + filler + "".join(wrapped)
    drawn = dataclasses.replace(who, **change)
    fields = drawn.side_fields(case.side).model_dump()
    if "ethnicity" in change:
        fields["ethnicity"] = normalise_ethnicity(change["ethnicity"])
    return drawn, {k: v for k, v in fields.items() if v is not None}


class Recording:
    """The onnx engine, with a note of every answer it gives."""

    name = "onnx"

    def __init__(self) -> None:
        from ocr_job.engines.onnx import OnnxEngine

        self.engine = OnnxEngine(threads=2)
        self.found: list[TextBox] = []
        self.lines: list[tuple[str, float] | None] = []
        self.again: list[tuple[TextBox, tuple[str, float] | None]] = []

    def recognise(self, image: np.ndarray) -> Any:
        result = self.engine.recognise(image)
        self.found = list(result.boxes)
        return result

    def read_line(self, image: np.ndarray, quad: Any) -> tuple[str, float] | None:
        line = self.engine.read_line(image, quad)
        self.lines.append(line)
        return line

    def reread(
        self, image: np.ndarray, box: TextBox, same: Any = str, also: Any = (), margins: Any = ()
    ) -> tuple[str, float] | None:
        answer = self.engine.reread(image, box, same, also, margins=margins)
        self.again.append((box, answer))
        return answer


def drawn_card(drawn: Any, case: Case, style: Any) -> np.ndarray:
    from ocr_job.synth import artwork, render

    rgb = render.render_card(drawn, case.side, WIDTH, style=style)
    blank = artwork.background(style.layout.background, case.side, style.pattern, WIDTH, style.tint)
    for move in case.moves:
        rgb = _move(rgb, blank, *move)
    return rgb


def capture(case: Case, engine: Recording) -> dict[str, Any]:
    from ocr_job import idcard, imaging, pipeline
    from ocr_job.synth.render import Style

    drawn, fields = person(case)
    style = Style.draw(random.Random(f"{case.key}:style"))
    rgb = drawn_card(drawn, case, style)
    card = np.ascontiguousarray(rgb[..., ::-1])
    engine.lines, engine.again = [], []
    final = pipeline._recognise_and_parse(card, engine, {})  # type: ignore[arg-type]
    h, w = card.shape[:2]
    boxes = imaging.upright_boxes(engine.found, w, h)
    first = idcard.parse(boxes, w, h)
    looked: dict[str, Any] = {}
    if engine.lines or first.look_again:
        angle = pipeline._card_angle(boxes)
        for (name, quad), line in zip(first.look_again.items(), engine.lines, strict=True):
            if line is None or (line[0] and pipeline.BLANK_BELOW <= line[1] < pipeline.LOOK_AGAIN_MIN_SCORE):
                continue  # not read: the parser keeps its own judgement
            blank = not line[0] or line[1] < pipeline.BLANK_BELOW
            looked[name] = (
                None
                if blank
                else TextBox(line[0], line[1], pipeline._text_extent(quad, line[0]), angle).to_json()
            )
    index = {id(box): i for i, box in enumerate(engine.found)}
    again = {
        str(index[id(box)]): list(answer)
        for box, answer in engine.again
        if answer is not None and id(box) in index
    }
    checks = expected_checks(fields) if case.side == "front" else {"validity_period": True}
    warnings = [] if checks.get("address_matches_region", True) else ["address_region_mismatch"]
    for name in case.empty:
        fields.pop(name)
        checks.pop({"address": "address_matches_region"}.get(name, name), None)
    warnings = sorted(warnings + list(case.warnings))
    right = {k: v for k, v in first.fields.model_dump().items() if v is not None} == fields
    final_right = {k: v for k, v in final.fields.model_dump().items() if v is not None} == fields
    print(
        f"{case.name}: boxes alone {'right' if right else 'MISSED'}, "
        f"with the engine's help {'right' if final_right else 'MISSED'}; "
        f"looked {sorted(looked)}, second opinions {len(again)}",
        file=sys.stderr,
    )
    return {
        "description": f"class {case.miss_class} of issue 14: {case.name} "
        f"({case.note or 'drawn by render_card'}"
        f"{', parts moved ' + repr(case.moves) if case.moves else ''}), seen by the "
        "onnx engine as the pipeline reads a located card",
        "source": "engine",
        "width": w,
        "height": h,
        "boxes": [b.to_json() for b in boxes],
        "looked_again": looked,
        "read_again": again,
        "expected": {"side": case.side, "fields": fields, "checks": checks, "warnings": warnings},
    }


def main(names: list[str]) -> None:
    engine = Recording()
    for case in CASES:
        if names and case.name not in names:
            continue
        data = capture(case, engine)
        path = FIXTURES / f"engine_class{case.miss_class}_{case.name}.json"
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
