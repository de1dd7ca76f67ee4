"""The text detector in 8-bit integers, built once from the rapidocr wheel's float model.

The detector is ~86% convolutions over the card's pixels and was a third of the worker's
CPU time. ONNX Runtime's static quantisation (QDQ: int8 weights per output channel, uint8
activations, `Conv` only) runs it 3.5 times faster on the same inputs; on the project's
three accuracy sets it read one picture fewer every field right than the float model (476
vs 477 of 498) and no value silently wrong (docs/benchmarks.md, issue 16).

Nothing is downloaded: `build` makes the model from the wheel's own float model and
activation ranges measured on the project's own synthetic cards (a fixed seed, every
layout style and level), each located and scaled as the worker does. It runs where the
worker is installed (`ocr-job models`, run by `make install` and the worker image's build)
and, when the model is missing, once in a child process when the engine starts; without
it (no `onnx` package, a read-only model folder) the engine keeps the float detector and
says so in its log.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import multiprocessing
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: Bump when the recipe changes: the model's name holds it, so an old build is not reused.
RECIPE = 1
CALIBRATION_SEED = 31
CALIBRATION_CARDS = 32
#: The opset whose DequantizeLinear takes a per-channel axis (the wheel's model is opset 11).
QDQ_OPSET = 13
MODEL_DIR_ENV = "OCR_MODEL_DIR"


def model_dir() -> Path:
    """Where built models live: `OCR_MODEL_DIR`, else beside the installation
    (`<prefix>/share/ocrbatch/models`), so every process of one install shares them."""
    return Path(os.environ.get(MODEL_DIR_ENV) or Path(sys.prefix) / "share" / "ocrbatch" / "models")


def model_path(float_model: Path, folder: Path | None = None) -> Path:
    """The int8 model's file for `float_model`: named by the recipe and the float model's
    digest, so a new wheel's model is built again."""
    digest = hashlib.sha256(float_model.read_bytes()).hexdigest()[:16]
    return (folder or model_dir()) / f"det-int8-r{RECIPE}-{digest}.onnx"


def detector(float_model: Path) -> Path:
    """The int8 detector for `float_model`, built first when missing (in a child process,
    before the worker loads its models: the build's memory goes with the child);
    `float_model` itself when it cannot be built."""
    target = model_path(float_model)
    if target.is_file():
        return target
    context = multiprocessing.get_context("spawn")
    child = context.Process(target=build, args=(float_model, target), daemon=True)
    child.start()
    child.join()
    if child.exitcode == 0 and target.is_file():
        return target
    log.warning("the int8 detector could not be built (exit %s); the float detector is used", child.exitcode)
    return float_model


def build(float_model: Path, target: Path) -> Path:
    """Quantise `float_model` into `target` (written whole, then renamed into place)."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    target.parent.mkdir(parents=True, exist_ok=True)
    inputs = calibration_inputs(float_model)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        upgraded, prepared, out = (Path(scratch) / n for n in ("opset.onnx", "prepared.onnx", "int8.onnx"))
        onnx.save(version_converter.convert_version(onnx.load(str(float_model)), QDQ_OPSET), str(upgraded))
        quant_pre_process(str(upgraded), str(prepared), skip_symbolic_shape=True)
        name = onnx.load(str(prepared), load_external_data=False).graph.input[0].name

        class Reader(CalibrationDataReader):  # type: ignore[misc]
            def __init__(self) -> None:
                self._left = iter(inputs)

            def get_next(self) -> dict[str, np.ndarray] | None:
                batch = next(self._left, None)
                return None if batch is None else {name: batch}

        quantize_static(
            str(prepared),
            str(out),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["Conv"],
        )
        out.replace(target)
    return target


def calibration_inputs(float_model: Path) -> list[np.ndarray]:
    """The float detector's inputs on CALIBRATION_CARDS synthetic cards, located and
    scaled as the worker does (`imaging.locate_card`, then `OnnxEngine.recognise`'s
    preprocessing and detector scale; the lines found are not read)."""
    import cv2
    from rapidocr.main import RapidOCRError

    from ocr_job import imaging
    from ocr_job.config import DEFAULT_CARD_LONG_SIDE
    from ocr_job.engines.onnx import OnnxEngine, det_side
    from ocr_job.synth import generate_set, load_labels

    ocr = OnnxEngine(second_opinion=False, detector=float_model)._ocr  # rapidocr's stages
    captured: list[np.ndarray] = []
    run = ocr.text_det.session  # the detector stage calls it with each input

    def capture(batch: np.ndarray) -> object:
        captured.append(batch.copy())
        return run(batch)

    ocr.text_det.session = capture
    with tempfile.TemporaryDirectory() as cards:
        generate_set(Path(cards), CALIBRATION_CARDS, seed=CALIBRATION_SEED)
        for source in sorted(load_labels(Path(cards))):
            picture = cv2.imread(str(Path(cards) / source))
            if picture is None:
                continue
            card = imaging.locate_card(picture, DEFAULT_CARD_LONG_SIDE).image
            img, record = ocr.preprocess_img(card)
            ocr.text_det.limit_side_len = det_side(*img.shape[:2])
            with contextlib.suppress(RapidOCRError):  # no text found: the input counts all the same
                ocr.detect_and_crop(img, record)
    return captured
