"""Scenario 7's fuzzer: random and mutated image bytes through the worker's decode and
preprocess path (`imaging.decode` + `imaging.locate_card`) and through the whole item path
(`pipeline.process` with the real onnx engine, loaded once).

Run as a child process by `tests/e2e/cluster/test_7_garbage_input.py`, inside a memory cgroup, so that a crash
in native code (a segfault in a decoder), a runaway allocation (OOM kill) or a hang in C
(no Python signal can interrupt it; `faulthandler` dumps the stack and exits) fails the test
instead of taking pytest down:

    python -m scripts.fuzzing --examples 250 --pipeline-examples 12 [--seed N | --random]

Seeds are real generated cards in every format the worker reads; the mutations are
truncations, bit flips, overwritten and inserted or deleted chunks, and header edits that
claim huge (or zero, or negative) dimensions, with and without a fixed-up checksum. The
last line of the output is a JSON summary.
"""

from __future__ import annotations

import argparse
import faulthandler
import io
import json
import signal
import struct
import sys
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import cv2
import hypothesis
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ocr_job.config import DEFAULT_CARD_LONG_SIDE, DEFAULT_MAX_PIXELS, JobConfig
from ocr_job.imaging import ImageError, decode, locate_card
from ocr_job.records import ErrorCode
from ocr_job.synth import make_sample

#: Seconds one input may take in decode + preprocess (a card takes well under one).
DECODE_TIMEOUT_S = 10.0
#: The pipeline's own per-item timeout in this run, and the slack allowed past it.
ITEM_TIMEOUT_S = 30.0
#: Where each input is written before it is tried (`--last-input`): after a crash, the culprit.
LAST_INPUT: list[str] = []
MAGICS = (b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
          b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"P6\n")  # fmt: skip


# ---------------------------------------------------------------------------- seeds


def seed_images() -> dict[str, bytes]:
    """A front and a back in every format the worker reads (small, so decoding is quick)."""
    front = make_sample("fuzz:front", "front", "photo", 600)
    back = make_sample("fuzz:back", "back", "clean", 600)
    out: dict[str, bytes] = {"front.jpg": front.jpeg(), "back.jpg": back.jpeg()}
    for name, fmt, extra in (("png", "PNG", {}), ("gif", "GIF", {}), ("bmp", "BMP", {}),
                             ("tif", "TIFF", {"compression": "tiff_lzw"}),
                             ("webp", "WEBP", {"quality": 80}),
                             ("progressive.jpg", "JPEG", {"progressive": True, "quality": 85})):  # fmt: skip
        buf = io.BytesIO()
        Image.fromarray(back.image if fmt in ("GIF", "BMP") else front.image).save(buf, fmt, **extra)
        out[f"card.{name}"] = buf.getvalue()
    ok, png16 = cv2.imencode(".png", front.image[..., ::-1].astype(np.uint16) * 257)
    assert ok
    out["card16.png"] = png16.tobytes()
    return out


# ---------------------------------------------------------------------------- mutations

Mutation = Callable[[bytes], bytes]


def _at(data: bytes, fraction: float) -> int:
    return min(len(data), max(0, int(len(data) * fraction)))


def truncate(fraction: float) -> Mutation:
    return lambda data: data[: _at(data, fraction)]


def flip_bits(positions: list[tuple[float, int]]) -> Mutation:
    def apply(data: bytes) -> bytes:
        out = bytearray(data)
        for fraction, bit in positions:
            if out:
                i = min(len(out) - 1, _at(out, fraction))
                out[i] ^= 1 << bit
        return bytes(out)

    return apply


def overwrite(fraction: float, chunk: bytes) -> Mutation:
    def apply(data: bytes) -> bytes:
        i = _at(data, fraction)
        return data[:i] + chunk + data[i + len(chunk) :]

    return apply


def insert(fraction: float, chunk: bytes) -> Mutation:
    return lambda data: data[: _at(data, fraction)] + chunk + data[_at(data, fraction) :]


def delete(fraction: float, length: int) -> Mutation:
    return lambda data: data[: _at(data, fraction)] + data[_at(data, fraction) + length :]


def set_dimensions(width: int, height: int, fix_crc: bool) -> Mutation:
    """Claim other dimensions in the header (PNG IHDR, JPEG SOFn, GIF, BMP, WEBP VP8)."""

    def apply(data: bytes) -> bytes:
        out = bytearray(data)
        if out.startswith(b"\x89PNG") and len(out) >= 33:
            out[16:24] = struct.pack(">II", width & 0xFFFFFFFF, height & 0xFFFFFFFF)
            if fix_crc:
                out[29:33] = struct.pack(">I", zlib.crc32(bytes(out[12:29])) & 0xFFFFFFFF)
        elif out.startswith(b"\xff\xd8"):
            for marker in (b"\xff\xc0", b"\xff\xc2", b"\xff\xc1"):
                i = out.find(marker)
                if i >= 0 and len(out) >= i + 9:
                    out[i + 5 : i + 9] = struct.pack(">HH", height & 0xFFFF, width & 0xFFFF)
                    break
        elif out.startswith(b"GIF") and len(out) >= 10:
            out[6:10] = struct.pack("<HH", width & 0xFFFF, height & 0xFFFF)
        elif out.startswith(b"BM") and len(out) >= 26:
            out[18:26] = struct.pack("<ii", _signed32(width), _signed32(height))
        elif out.startswith(b"RIFF") and out[12:16] == b"VP8 " and len(out) >= 30:
            out[26:30] = struct.pack("<HH", width & 0x3FFF, height & 0x3FFF)
        return bytes(out)

    return apply


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


dimensions = st.one_of(st.sampled_from([0, 1, 63, 64, 65535, 2**16, 2**31 - 1, 2**32 - 1]),
                       st.integers(0, 2**32 - 1))  # fmt: skip
mutations: st.SearchStrategy[Mutation] = st.one_of(
    st.floats(0, 1).map(truncate),
    st.lists(st.tuples(st.floats(0, 1), st.integers(0, 7)), min_size=1, max_size=16).map(flip_bits),
    st.builds(overwrite, st.floats(0, 1), st.binary(min_size=1, max_size=64)),
    st.builds(insert, st.floats(0, 1), st.binary(min_size=1, max_size=256)),
    st.builds(delete, st.floats(0, 1), st.integers(1, 4096)),
    st.builds(set_dimensions, dimensions, dimensions, st.booleans()),
)


def inputs(seeds: dict[str, bytes], *, mostly_images: bool = False) -> st.SearchStrategy[bytes]:
    """Random bytes, a magic number and random bytes, or a seed with 1-4 mutations; with
    `mostly_images`, seeds with 0-2 mutations (the pipeline then gets to the engine)."""
    names = sorted(seeds)

    def mutate(args: tuple[str, list[Mutation]]) -> bytes:
        data = seeds[args[0]]
        for mutation in args[1]:
            data = mutation(data)
        return data

    if mostly_images:
        return st.tuples(st.sampled_from(names), st.lists(mutations, max_size=2)).map(mutate)
    return st.one_of(
        st.binary(max_size=4096),
        st.tuples(st.sampled_from(MAGICS), st.binary(max_size=4096)).map(lambda t: t[0] + t[1]),
        st.tuples(st.sampled_from(names), st.lists(mutations, min_size=1, max_size=4)).map(mutate),
    )


# ---------------------------------------------------------------------------- the checks


def seeded(test: Callable[[], None], seed: int | None) -> Callable[[], None]:
    """The same examples for the same seed (repeatable runs); new ones for None."""
    return test if seed is None else hypothesis.seed(seed)(test)


def current_rss_mib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        lines = status.read().splitlines()
    for line in lines:
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return 0


def keep(data: bytes) -> None:
    if LAST_INPUT:
        with open(LAST_INPUT[0], "wb") as out:
            out.write(data)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """TimeoutError from Python code past `seconds`; a hang in C is caught by faulthandler."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"an input took more than {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    faulthandler.dump_traceback_later(seconds * 3, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def fuzz_decode(seeds: dict[str, bytes], examples: int, seed: int | None, stats: dict[str, Any]) -> None:
    outcomes: Counter[str] = Counter()

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), print_blob=True)  # fmt: skip
    @given(inputs(seeds))
    def check(data: bytes) -> None:
        keep(data)
        started = time.monotonic()
        with deadline(DECODE_TIMEOUT_S):
            try:
                image = decode(data, DEFAULT_MAX_PIXELS)
                card = locate_card(image, DEFAULT_CARD_LONG_SIDE)
            except ImageError as exc:
                assert isinstance(exc.code, ErrorCode) and exc.message
                outcomes[exc.code.value] += 1
            else:
                assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
                assert card.image.dtype == np.uint8 and max(card.image.shape[:2]) <= DEFAULT_CARD_LONG_SIDE
                outcomes["ok"] += 1
        stats["max_decode_s"] = max(stats.get("max_decode_s", 0.0), time.monotonic() - started)

    seeded(check, seed)()
    stats["decode"] = dict(outcomes)
    stats["rss_after_decode_mib"] = current_rss_mib()


def fuzz_pipeline(seeds: dict[str, bytes], examples: int, seed: int | None, stats: dict[str, Any]) -> None:
    from ocr_job.config import EngineName
    from ocr_job.engines import load_engine
    from ocr_job.pipeline import Fetched, process
    from ocr_job.storage import InputItem

    engine = load_engine(EngineName.ONNX, 1)
    config = JobConfig(source=".", output=".", item_timeout_s=ITEM_TIMEOUT_S)
    outcomes: Counter[str] = Counter()

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), print_blob=True)  # fmt: skip
    @given(inputs(seeds, mostly_images=True))
    def check(data: bytes) -> None:
        keep(data)
        started = time.monotonic()
        faulthandler.dump_traceback_later(ITEM_TIMEOUT_S * 3, exit=True)
        try:
            record = process(Fetched(InputItem("fuzz/input.jpg", len(data), '"etag"'), data), engine, config)
        finally:
            faulthandler.cancel_dump_traceback_later()
        elapsed = time.monotonic() - started
        assert elapsed < ITEM_TIMEOUT_S + 5, f"{elapsed:.0f} s for one input"
        assert record.source == "fuzz/input.jpg" and record.status in ("ok", "error")
        if record.status == "error":
            assert record.error is not None
            assert record.error.code is not ErrorCode.INTERNAL_ERROR, record.error.message
            outcomes[record.error.code.value] += 1
        else:
            assert record.side in ("front", "back") and record.error is None
            outcomes["ok"] += 1
        stats["max_item_s"] = max(stats.get("max_item_s", 0.0), elapsed)

    seeded(check, seed)()
    stats["pipeline"] = dict(outcomes)
    stats["rss_after_pipeline_mib"] = current_rss_mib()


def rss_walk(seeds: dict[str, bytes], count: int) -> list[int]:
    """The resting RSS (MiB) after each of `count` inputs of varied shapes through the
    worker's loop (`pipeline.run`, local folder in and out, the real onnx engine): a fixed
    sequence of seeds claiming other dimensions, decoded as far as they go. A worker that
    gives memory back stays flat after the first few."""
    import gc
    import random
    import tempfile
    from pathlib import Path

    from ocr_job.config import EngineName
    from ocr_job.engines import load_engine
    from ocr_job.pipeline import RunSummary, run
    from ocr_job.storage.local import LocalSink, LocalSource

    rng = random.Random(1)
    names = sorted(seeds)
    resting: list[int] = []

    class Sampler:
        def start(self, summary: RunSummary) -> None:
            pass

        def advance(self, summary: RunSummary, record: object) -> None:
            gc.collect()
            resting.append(current_rss_mib())

        def finish(self, summary: RunSummary, *, ok: bool, message: str | None = None) -> None:
            pass

    with tempfile.TemporaryDirectory(prefix="rss-walk-") as tmp:
        folder, out = Path(tmp) / "in", Path(tmp) / "out"
        folder.mkdir()
        for n in range(count):
            data = set_dimensions(rng.randint(64, 9000), rng.randint(64, 9000), True)(
                seeds[rng.choice(names)])  # fmt: skip
            (folder / f"{n:03d}.jpg").write_bytes(data)
        source = LocalSource(folder)
        engine = load_engine(EngineName.ONNX, 1)
        config = JobConfig(source=str(folder), output=str(out), item_timeout_s=ITEM_TIMEOUT_S)
        run(list(source.list()), source, LocalSink(out), engine, config, Sampler())
    return resting


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--pipeline-examples", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="the examples' seed (repeatable)")
    parser.add_argument("--random", action="store_true", help="new examples each run")
    parser.add_argument("--last-input", metavar="PATH", help="write each input here before it is tried")
    parser.add_argument("--rss-walk", type=int, metavar="N", help="only: resting RSS over N inputs")
    args = parser.parse_args(argv)
    if args.last_input:
        LAST_INPUT[:] = [args.last_input]
    stats: dict[str, Any] = {}
    seeds = seed_images()
    if args.rss_walk:
        print(json.dumps({"rss_mib": rss_walk(seeds, args.rss_walk)}))
        return 0
    started = time.monotonic()
    try:
        seed = None if args.random else args.seed
        if args.examples:
            fuzz_decode(seeds, args.examples, seed, stats)
        if args.pipeline_examples:
            fuzz_pipeline(seeds, args.pipeline_examples, seed, stats)
    except Exception:
        traceback.print_exc()
        print(json.dumps({"failed": True, **stats}))
        return 1
    stats["wall_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
