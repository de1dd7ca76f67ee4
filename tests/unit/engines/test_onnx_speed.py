"""The onnx engine's speed measures keep its answers: each model loaded once, the angle
vote decided from the widest lines."""

from __future__ import annotations

import random
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from ocr_job.engines import onnx


@dataclass
class Verdicts:
    """What an angle classifier says of each crop (by the crop's first pixel), with the
    `TextClassifier` interface `upside_down` uses; it records what it was asked."""

    said: dict[int, tuple[str, float]]
    cls_batch_num: int = 6
    cls_thresh: float = 0.9

    def __post_init__(self) -> None:
        self.asked: list[int] = []

    def __call__(self, crops: list[np.ndarray]) -> Any:
        keys = [int(crop[0, 0]) for crop in crops]
        self.asked += keys

        return SimpleNamespace(cls_res=[self.said[k] for k in keys])


def _case(rng: random.Random) -> tuple[list[np.ndarray], dict[int, tuple[str, float]]]:
    crops, said = [], {}
    for k in range(rng.randint(1, 30)):
        crop = np.zeros((8, rng.randint(8, 400)), np.int64)
        crop[0, 0] = k
        crops.append(crop)
        said[k] = (rng.choice(("0", "180")), rng.uniform(0.5, 1.0))
    return crops, said


def _everyone(crops: list[np.ndarray], said: dict[int, tuple[str, float]]) -> bool:
    turned = sum(c.shape[1] for c in crops if said[int(c[0, 0])][0] == "180" and said[int(c[0, 0])][1] > 0.9)
    return 2 * turned > sum(c.shape[1] for c in crops)


@pytest.mark.parametrize("seed", range(200))
def test_the_vote_of_the_widest_lines_is_the_vote_of_all(seed: int) -> None:
    rng = random.Random(seed)
    crops, said = _case(rng)
    classify = Verdicts(said, cls_batch_num=rng.randint(1, 8))
    assert onnx.upside_down(crops, classify) == _everyone(crops, said)
    assert sorted(classify.asked) == sorted(set(classify.asked))  # none asked twice


def test_a_card_of_upright_lines_asks_about_half_its_lines() -> None:
    widths = [600, 560, 520, 480, 300, 260, 200, 160, 120, 100, 90, 80]  # a card's lines
    crops = []
    for k, w in enumerate(widths):
        crop = np.zeros((8, w), np.int64)
        crop[0, 0] = k
        crops.append(crop)
    classify = Verdicts({k: ("0", 0.99) for k in range(len(widths))}, cls_batch_num=3)
    assert onnx.upside_down(crops, classify) is False
    assert classify.asked == [0, 1, 2, 3, 4, 5]  # the widest first, stopped once decided


def test_each_model_is_loaded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """rapidocr's stages run on the engine's own sessions: three model loads in all."""
    import onnxruntime as ort

    loaded: list[str] = []
    real = ort.InferenceSession.__init__

    def counting(self: Any, path: Any, *args: Any, **kwargs: Any) -> None:
        loaded.append(str(path))
        real(self, path, *args, **kwargs)

    monkeypatch.setattr(ort.InferenceSession, "__init__", counting)
    engine = onnx.OnnxEngine(second_opinion=False)
    assert sorted(loaded) == sorted(str(p) for p in onnx.bundled_model_paths().values())
    ocr = engine._ocr
    for stage in (ocr.text_det, ocr.text_cls, ocr.text_rec):
        assert isinstance(stage.session.session, ort.InferenceSession)
