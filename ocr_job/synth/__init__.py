"""Synthetic Chinese resident identity cards (居民身份证) for tests, demos and benchmarks.

`generate_set(dest, count)` writes a labelled set of card pictures::

    dest/
      clean/0001-front.jpg  photo/0002-front.jpg  hard/0003-front.jpg
      clean/0004-back.jpg   ...
      bad/...               (with bad_inputs=True, see `badinputs`)
      labels.jsonl          one JSON object per picture
      .params.json          the arguments the set was made with

Each line of ``labels.jsonl``::

    {"source": "clean/0001-front.jpg",      # relative to dest, POSIX separators
     "side": "front" | "back" | null,
     "level": "clean" | "photo" | "hard" | "bad",
     "style": "classic" | "realdesign" | "compact" | "wide" | null,  # layout style
     "traits": {"name": "plain" | "compound" | "rare" | "dotted",
                "address": "rural" | "road" | "room" | "digits" | "estate" | "estate_digits",
                "address_lines": 1..4, "face": "<value font face>",
                "watermark": null | "red" | "grey" | "blue" | "black"} | null,
     "fields": {<all 9 Fields keys; the other side's are null>} | null,
     "expected_error": null | "<ErrorCode value>",
     "transform": {"rotation": 0|90|180|270,   # clockwise turn of the whole picture
                   "angle": <in-plane tilt, degrees>,
                   "corners": [[x, y] × 4],     # card TL, TR, BR, BL in the picture
                   "size": [w, h], "card_width": <px the card was drawn at>,
                   "jpeg_quality": q, "watermark": {...} (when laid), ...} | null}

Bad inputs (``level: "bad"``) that must fail carry their error code and null
side/fields/transform; the three that must be *read* (GIF, CMYK JPEG, 16-bit PNG)
carry ``expected_error: null`` and the side and fields of the card they show.

Everything is a pure function of the arguments: generating again gives
byte-identical files, and an up-to-date set is left alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ocr_job.synth import badinputs as _badinputs
from ocr_job.synth.augment import LEVELS
from ocr_job.synth.badinputs import BadInput, write_bad_inputs
from ocr_job.synth.identity import ETHNICITIES, Identity, make_identity
from ocr_job.synth.layouts import LAYOUTS, STYLES
from ocr_job.synth.render import SIDES, render_card
from ocr_job.synth.sample import Sample, make_sample

__all__ = [
    "ETHNICITIES",
    "GENERATOR_VERSION",
    "LEVELS",
    "SIDES",
    "STYLES",
    "Identity",
    "Sample",
    "generate_set",
    "load_labels",
    "make_identity",
    "make_sample",
    "render_card",
    "write_bad_inputs",
]

#: Bump when the pictures change for the same arguments (invalidates reused sets).
GENERATOR_VERSION = 4
LABELS_FILE = "labels.jsonl"
PARAMS_FILE = ".params.json"
BAD_DIR = "bad"


def _check_args(count: int, levels: Sequence[str], sides: Sequence[str], width: int,
                styles: Sequence[str]) -> None:  # fmt: skip
    if count < 0:
        raise ValueError("count must be >= 0")
    if not levels or any(level not in LEVELS for level in levels):
        raise ValueError(f"levels must be a non-empty subset of {LEVELS}, not {levels!r}")
    if not sides or any(side not in SIDES for side in sides):
        raise ValueError(f"sides must be a non-empty subset of {SIDES}, not {sides!r}")
    if width < 300:
        raise ValueError("width must be at least 300 px")
    if not styles or any(style not in LAYOUTS for style in styles):
        raise ValueError(f"styles must be a non-empty subset of {tuple(LAYOUTS)}, not {styles!r}")


def _plan(index: int, levels: Sequence[str], sides: Sequence[str],
          styles: Sequence[str]) -> tuple[str, str, str]:  # fmt: skip
    """Picture `index`'s level, side and style: levels cycle fastest, then sides, then
    styles, so every style gets every level and side once
    count >= len(levels) * len(sides) * len(styles)."""
    per_style = len(levels) * len(sides)
    return (levels[index % len(levels)], sides[(index // len(levels)) % len(sides)],
            styles[(index // per_style) % len(styles)])  # fmt: skip


def _card_label(source: str, sample: Sample) -> dict[str, Any]:
    return {
        "source": source,
        "side": sample.side,
        "level": sample.level,
        "style": sample.style.layout.name,
        "traits": sample.traits,
        "fields": sample.fields.model_dump(),
        "expected_error": None,
        "transform": sample.transform,
    }


def _bad_label(item: BadInput) -> dict[str, Any]:
    return {
        "source": f"{BAD_DIR}/{item.name}",
        "side": item.side,
        "level": "bad",
        "style": None,
        "traits": None,
        "fields": item.fields.model_dump() if item.fields else None,
        "expected_error": item.expected_error,
        "transform": {"rotation": 0} if item.expected_error is None else None,
    }


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _up_to_date(dest: Path, params: dict[str, Any]) -> bool:
    labels, saved = dest / LABELS_FILE, dest / PARAMS_FILE
    if not (labels.is_file() and saved.is_file()):
        return False
    try:
        recorded = json.loads(saved.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if recorded.get("params") != params or recorded.get("labels_sha256") != _digest(labels):
        return False
    return all((dest / source).is_file() for source in load_labels(dest))


def _remove_previous(dest: Path) -> None:
    """Delete the pictures a previous run listed (and only those)."""
    (dest / PARAMS_FILE).unlink(missing_ok=True)
    if not (dest / LABELS_FILE).is_file():
        return
    try:
        previous = load_labels(dest)
    except ValueError:
        previous = {}
    for source in previous:
        path = dest / source
        if ".." not in Path(source).parts and path.is_file():
            path.unlink()


def generate_set(
    dest: Path,
    count: int,
    seed: int = 0,
    levels: Sequence[str] = LEVELS,
    sides: Sequence[str] = SIDES,
    width: int = 1000,
    bad_inputs: bool = False,
    styles: Sequence[str] = STYLES,
    watermark: bool = False,
) -> Path:
    """Write `count` card pictures (plus the bad inputs if asked) and their labels
    under `dest`; return `dest`. See the module docstring for the layout.

    `styles` are the layout styles drawn (`STYLES`: all), cycled per card after
    levels and sides (see `_plan`). `watermark`: every picture carries a KYC watermark
    (`synth.watermark`; held out of the default sets).

    `width` is the card's width in `clean` pictures; `photo`/`hard` picture sizes
    scale with it (1000–2000 px long side at the default 1000).
    """
    dest = Path(dest)
    levels, sides, styles = tuple(levels), tuple(sides), tuple(styles)
    _check_args(count, levels, sides, width, styles)
    params = {"version": GENERATOR_VERSION, "count": count, "seed": seed, "levels": levels,
              "sides": sides, "width": width, "bad_inputs": bad_inputs,
              "styles": styles, "watermark": watermark}  # fmt: skip
    params = json.loads(json.dumps(params))  # tuples → lists, as read back
    if _up_to_date(dest, params):
        return dest
    _remove_previous(dest)
    digits = max(4, len(str(count)))
    lines: list[dict[str, Any]] = []
    for index in range(count):
        level, side, style = _plan(index, levels, sides, styles)
        sample = make_sample(f"{seed}:{index}", side, level, width, style, watermark)
        source = f"{level}/{index + 1:0{digits}d}-{side}.jpg"
        (dest / level).mkdir(parents=True, exist_ok=True)
        (dest / source).write_bytes(sample.jpeg())
        lines.append(_card_label(source, sample))
    if bad_inputs:
        written = _badinputs.bad_inputs(dest / BAD_DIR, seed, width)
        lines.extend(_bad_label(item) for item in written)
    labels = dest / LABELS_FILE
    dest.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    labels.write_text(text, encoding="utf-8")
    record = {"params": params, "labels_sha256": _digest(labels)}
    (dest / PARAMS_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return dest


def load_labels(dest: Path) -> dict[str, dict[str, Any]]:
    """The labels of a generated set: source (relative POSIX path) → label line."""
    out: dict[str, dict[str, Any]] = {}
    with (Path(dest) / LABELS_FILE).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                label = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{LABELS_FILE} line {number}: {exc}") from exc
            out[label["source"]] = label
    return out
