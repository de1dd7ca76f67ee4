"""OCR engines behind one interface; `load_engine` picks one by name."""

from __future__ import annotations

from ocr_job.config import Detector, EngineName
from ocr_job.engines.base import Engine, EngineError, OcrResult, TextBox

__all__ = ["MEMORY_NEED_BYTES", "Engine", "EngineError", "OcrResult", "TextBox", "load_engine"]

#: The smallest cgroup memory limit each engine is known to work within: its measured
#: worst peak RSS, with room (see docs/benchmarks.md). The worker refuses to start below it,
#: with exit code 2. onnx, one picture at a time: the worker's own process peaked at
#: 230-248 MiB (`/usr/bin/time -v ocr-job run`, 1 thread: 28 bench cards up to 4,000 px and
#: 48 photographed pictures of `bench.photoset` seed 77, phone photos and cards on printed
#: pages among them), plus ~35 MiB of the S3 and Kubernetes clients a pod imports, plus
#: ~35 MiB for the library pages in RSS, which move by 20-35 MiB from run to run with the
#: page cache: 320 MiB.
MEMORY_NEED_BYTES: dict[EngineName, int] = {
    EngineName.ONNX: 320 * 1024 * 1024,
    EngineName.PADDLE: 1280 * 1024 * 1024,
}


def load_engine(
    name: EngineName, threads: int = 1, second_opinion: bool = True, detector: Detector = Detector.INT8
) -> Engine:
    """Load the named engine once. Imports lazily so an unused runtime costs nothing.
    `second_opinion`: let the onnx engine read doubtful names again with its second
    recogniser; `detector`: the onnx engine's detector model."""
    try:
        if name is EngineName.ONNX:
            from ocr_job.engines import quantize
            from ocr_job.engines.onnx import OnnxEngine, bundled_model_paths

            model = bundled_model_paths()["Det"]
            if detector is Detector.INT8:
                model = quantize.detector(model)
            return OnnxEngine(threads=threads, second_opinion=second_opinion, detector=model)
        if name is EngineName.PADDLE:
            from ocr_job.engines.paddle import PaddleEngine

            return PaddleEngine(threads=threads)
    except EngineError:
        raise
    except Exception as exc:  # an import or model-load failure of a third-party runtime
        raise EngineError(f"could not load the {name.value} engine: {exc}") from exc
    raise EngineError(f"unknown engine {name!r}")
