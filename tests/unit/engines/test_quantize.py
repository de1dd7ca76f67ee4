"""The built models (`ocr_job.engines.quantize`): the int8 detector and the second
recogniser's optimised graph, each named by the float model it comes from, read as
the float one reads, and never a failure of the engine when it cannot be built."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from ocr_job import idcard, imaging
from ocr_job.config import DEFAULT_CARD_LONG_SIDE, Detector, EngineName
from ocr_job.engines import load_engine, quantize
from ocr_job.engines.onnx import OnnxEngine, _loaded, bundled_model_paths, second_rec_paths
from ocr_job.synth import generate_set, load_labels


def test_the_model_is_named_by_the_recipe_and_the_float_models_digest(tmp_path: Path) -> None:
    one, other = tmp_path / "a.onnx", tmp_path / "b.onnx"
    one.write_bytes(b"one model")
    other.write_bytes(b"another model")
    assert quantize.model_path(one, tmp_path) != quantize.model_path(other, tmp_path)
    assert quantize.model_path(one, tmp_path) == quantize.model_path(one, tmp_path)
    assert f"-r{quantize.RECIPE}-" in quantize.model_path(one, tmp_path).name
    names = {quantize.model_path(one, tmp_path, recipe).name for recipe in quantize.RECIPES.values()}
    assert len(names) == len(quantize.RECIPES)


def test_a_model_holding_the_runtimes_own_operators_is_named_by_its_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "a.onnx"
    model.write_bytes(b"one model")
    recipe = quantize.SECOND_RECOGNISER
    assert recipe.runtime_specific
    before = quantize.model_path(model, tmp_path, recipe)
    monkeypatch.setattr(ort, "__version__", ort.__version__ + ".next")
    assert quantize.model_path(model, tmp_path, recipe) != before
    assert quantize.model_path(model, tmp_path) == quantize.model_path(model, tmp_path)  # the detector's: not


def test_the_int8_detector_gives_the_fields_the_float_one_gives(tmp_path: Path) -> None:
    """The install's int8 model (`make install-test` builds it; else it is built here), on
    generated cards of every level and both sides: the same fields. (Its boxes may split a
    line the float model's kept whole, 出生 | 1997年4月4日, or see text in the artwork.)"""
    float_model = bundled_model_paths()["Det"]
    int8_model = quantize.detector(float_model)
    assert int8_model != float_model and int8_model.is_file()
    cards = generate_set(tmp_path / "cards", 6, seed=4711)
    engines = [OnnxEngine(second_opinion=False, detector=m) for m in (float_model, int8_model)]
    for source in sorted(load_labels(cards)):
        card = imaging.locate_card(cv2.imread(str(cards / source)), DEFAULT_CARD_LONG_SIDE).image
        h, w = card.shape[:2]
        fields = [
            idcard.parse(imaging.upright_boxes(engine.recognise(card).boxes, w, h), w, h).fields
            for engine in engines
        ]
        assert fields[0] == fields[1], source
        assert sum(v is not None for v in fields[1].model_dump().values()) >= 3, source


def test_the_int8_detectors_weights_take_seven_bits() -> None:
    """Every int8 weight of the install's detector lies in [-64, 64]: on a CPU without VNNI,
    ONNX Runtime's uint8 × int8 products go through 16-bit sums, which full 8-bit weights
    saturate (the detector then lost thin characters at its boxes' edges)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(quantize.detector(bundled_model_paths()["Det"])))
    int8 = [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert int8  # 127 with 8 bits (the recipe before 3)
    assert max(int(abs(numpy_helper.to_array(t).astype(np.int16)).max()) for t in int8) <= 64


def test_the_detectors_gelus_are_fused_into_one_kernel_each_with_the_same_output(tmp_path: Path) -> None:
    """Quantised, a GELU written out in five operators ran apart, in float, between a
    dequantise and a quantise step: the built graph holds ONNX Runtime's one kernel for
    each instead, and the float graph computes the same map with it."""
    import onnx

    source_path = bundled_model_paths()["Det"]
    prepared = quantize._prepared(source_path, tmp_path)
    fused = onnx.load(str(prepared))
    ops = [node.op_type for node in fused.graph.node]
    assert "Erf" not in ops and ops.count("Gelu") >= 10
    source = onnx.load(str(source_path))
    assert sum(node.op_type == "Erf" for node in source.graph.node) == ops.count("Gelu")
    x = np.random.default_rng(3).random((1, 3, 96, 160), dtype=np.float32)
    models = (source_path, prepared)
    sessions = [ort.InferenceSession(str(m), providers=["CPUExecutionProvider"]) for m in models]
    maps = [s.run(None, {s.get_inputs()[0].name: x})[0] for s in sessions]
    assert np.abs(maps[0] - maps[1]).max() < 1e-4


def test_the_optimised_second_recogniser_scores_lines_as_the_shipped_one(tmp_path: Path) -> None:
    """The second recogniser's prebuilt graph, loaded as `_loaded` loads it: the same
    character scores as the wheel's model on the lines of generated cards."""
    shipped = second_rec_paths()[0]
    optimised = quantize.second_recogniser(shipped)
    assert optimised != shipped and optimised.is_file()
    engine = OnnxEngine(second_opinion=False)
    lines: list[np.ndarray] = []
    run = engine._ocr.text_rec.session

    def capture(batch: np.ndarray) -> object:  # the recogniser's inputs, as it is given them
        lines.append(batch)
        return run(batch)

    engine._ocr.text_rec.session = capture
    cards = generate_set(tmp_path / "cards", 2, seed=4713, levels=("photo",))
    for source in sorted(load_labels(cards)):
        engine.recognise(imaging.locate_card(cv2.imread(str(cards / source)), DEFAULT_CARD_LONG_SIDE).image)
    assert len(lines) >= 8
    with _loaded(optimised, 1) as run_optimised, _loaded(shipped, 1) as run_shipped:
        for batch in lines:
            np.testing.assert_allclose(run_optimised(batch), run_shipped(batch), rtol=0, atol=1e-4)


@pytest.fixture
def unwritable_model_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """OCR_MODEL_DIR under a file: no model can be built there."""
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv(quantize.MODEL_DIR_ENV, str(blocked / "models"))


@pytest.mark.usefixtures("unwritable_model_dir")
def test_a_model_folder_it_cannot_write_leaves_the_shipped_second_recogniser(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        engine = load_engine(EngineName.ONNX, second_opinion=True, detector=Detector.FLOAT)
    assert "second recogniser as shipped is used" in caplog.text
    assert isinstance(engine, OnnxEngine)
    assert engine._second_path == second_rec_paths()[0]
    card = imaging.fit(cv2.imread(str(_one_card(tmp_path))), 960)
    widest = max(engine.recognise(card).boxes, key=lambda b: len(b.text))
    assert engine.reread(card, widest) is not None


@pytest.mark.usefixtures("unwritable_model_dir")
def test_a_model_folder_it_cannot_write_leaves_the_float_detector(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    float_model = bundled_model_paths()["Det"]
    with caplog.at_level(logging.WARNING):
        assert quantize.detector(float_model) == float_model
    assert "float detector is used" in caplog.text
    engine = load_engine(EngineName.ONNX, second_opinion=False, detector=Detector.INT8)
    assert engine.recognise(imaging.fit(cv2.imread(str(_one_card(tmp_path))), 960)).boxes


def _one_card(tmp_path: Path) -> Path:
    cards = generate_set(tmp_path / "one", 1, seed=5, levels=("clean",))
    return cards / next(iter(load_labels(cards)))
