"""Which views of a picture the pipeline reads (`pipeline._card_views`), with a stand-in
engine that answers every view alike and counts how often it is asked: the whole picture
turned 90° is read only while no view was read as a side of a card."""

from __future__ import annotations

import cv2
import numpy as np

from ocr_job import pipeline
from ocr_job.config import JobConfig
from ocr_job.engines.base import OcrResult, TextBox
from ocr_job.storage import InputItem

W, H = 960, 606


def _box(text: str, x: float, y: float, w: float = 300, h: float = 40) -> TextBox:
    return TextBox(text, 0.999, ((x, y), (x + w, y), (x + w, y + h), (x, y + h)))


class _Counting:
    name = "stand-in"

    def __init__(self, boxes: list[TextBox]) -> None:
        self.boxes, self.shapes = boxes, []  # type: ignore[var-annotated]

    def recognise(self, image: np.ndarray) -> OcrResult:
        self.shapes.append(image.shape[:2])
        return OcrResult(boxes=list(self.boxes))


def _process(engine: _Counting) -> pipeline.ResultRecord:
    # no card outline: the whole picture is read; dark, as print is where the boxes lie (a
    # picture lighter than ink there would look laid over with text: `overlay.laid_over`)
    picture = np.zeros((H, W, 3), np.uint8)
    data = cv2.imencode(".png", picture)[1].tobytes()
    config = JobConfig(source=".", output=".")
    return pipeline.process(pipeline.Fetched(InputItem("x.png", len(data)), data=data), engine, config)  # type: ignore[arg-type]


def test_a_side_read_in_part_is_not_read_again_turned() -> None:
    """A front without its address: incomplete, but its text runs across the picture."""
    engine = _Counting(
        [
            _box("姓名张三", 60, 70),
            _box("性别男", 60, 145, 120),
            _box("民族汉", 300, 145, 120),
            _box("出生1990年1月2日", 60, 220),
            _box("公民身份号码", 60, 505, 200),
            _box("11010119900102003X", 340, 505, 460),
        ]
    )
    record = _process(engine)
    assert record.side == "front" and record.fields.address is None
    assert len(engine.shapes) == 1


def test_a_picture_with_no_side_read_is_read_turned_too() -> None:
    engine = _Counting([_box("一些别的文字", 60, 70)])
    record = _process(engine)
    assert record.status == "error"
    assert len(engine.shapes) == 2
    assert engine.shapes[1] == engine.shapes[0][::-1]  # the second view is the first turned
