"""The bench's photographed set: cards as a phone or a copier would give them.

    python -m bench.photoset DEST --count N [--seed S]

Each picture is one side of a card drawn by `ocr_job.synth.render_card` (every layout
style the generator offers, in turn) and laid on a background the project draws
itself, seen in perspective and under uneven light:

* backgrounds (`BACKGROUNDS`): ``texture`` (stone/fabric-like noise at several
  scales), ``table`` (a wood or plain desk with its edge and the floor beyond),
  ``paper`` (a printed page with lines of text-like marks under the card),
  ``hands`` (skin-coloured fingers holding the card by its edges, the thumb over
  its margin) and ``gradient`` (a coloured sheet lit from one side);
* light: a colour cast, a brightness falloff, now and then the soft shadow of a
  phone across the picture, a little focus blur, sensor noise, JPEG;
* styles: every layout style of `ocr_job.synth.STYLES`, in turn (two pictures,
  front and back, per style before the next);
* kinds (`KINDS`, the label's ``level``): ``desk`` pictures of 1,500–3,000 px on
  their long side, ``phone`` photos of 4,000 px (4:3, 3:4 or 16:9, card 35–65 %
  of the width), and ``grey`` copies (a desk picture saved as a greyscale JPEG).

Labels are written as `ocr_job.synth.generate_set` writes them (``labels.jsonl``,
one line per picture: source, side, level, fields, transform), plus ``style``.
Everything is a pure function of (count, seed, the generator's styles): a set that
is up to date on disk is left alone.

Nothing in a picture covers the card's text: fingers reach at most `THUMB_MM` into
the card from its short edges, where no style prints anything.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

KINDS: tuple[str, ...] = ("desk", "phone", "grey")
#: How often each kind comes up, in order (one cycle of the plan).
KIND_CYCLE: tuple[str, ...] = ("desk", "phone", "desk", "grey", "desk", "phone", "desk", "grey")
BACKGROUNDS: tuple[str, ...] = ("texture", "table", "paper", "hands", "gradient")
SIDES: tuple[str, ...] = ("front", "back")
#: Long side of a `desk` (and `grey`) picture, px.
DESK_SIDE = (1500, 3000)
#: A phone photo's long side, px, and its aspect ratios (w / h).
PHONE_SIDE = 4000
PHONE_ASPECTS: tuple[float, ...] = (4 / 3, 3 / 4, 16 / 9)
DESK_ASPECTS: tuple[float, ...] = (4 / 3, 3 / 2, 1.0, 3 / 4, 16 / 9)
#: The card's width as a share of the picture's width or height, whichever is
#: smaller, so the card fits with room for its background.
CARD_SHARE = {"desk": (0.45, 0.8), "phone": (0.55, 0.85), "grey": (0.45, 0.8)}
#: How far a thumb reaches into the card from a short edge, in mm of the 85.6 mm card.
THUMB_MM = 2.6
CARD_W_MM, CARD_H_MM = 85.6, 54.0
#: Bump when the pictures change for the same arguments.
VERSION = 2
LABELS_FILE = "labels.jsonl"
PARAMS_FILE = ".params.json"


# --------------------------------------------------------------------------- styles


def styles() -> tuple[str, ...]:
    """The card layout styles the generator offers (`ocr_job.synth.STYLES`)."""
    from ocr_job.synth import STYLES

    return tuple(STYLES)


def render(key: str, side: str, width: int, style: str) -> tuple[np.ndarray, Any]:
    """One side of person `key`'s card in layout `style`, `width` px wide (RGB), and its
    fields (as `ocr_job.synth.make_sample` draws a card)."""
    from ocr_job.synth import render_card
    from ocr_job.synth.layouts import layout
    from ocr_job.synth.render import Style
    from ocr_job.synth.sample import identity_for

    who = identity_for(key)
    drawn = Style.draw(random.Random(f"{key}:style"), layout(style))
    return render_card(who, side, width, style=drawn), who.side_fields(side)


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True, slots=True)
class Plan:
    """What picture `index` of a set shows and how it is taken."""

    index: int
    key: str  # the person (and the card's per-card variation)
    side: str
    style: str
    kind: str
    background: str


def plan(count: int, seed: int, style_names: tuple[str, ...]) -> list[Plan]:
    """Pictures 0..count-1: sides alternate, styles and kinds cycle, backgrounds are drawn
    so that every background meets every kind."""
    out = []
    for i in range(count):
        rng = random.Random(f"photoset:{seed}:{i}:plan")
        kind = KIND_CYCLE[i % len(KIND_CYCLE)]
        background = BACKGROUNDS[(i // len(KIND_CYCLE) + i) % len(BACKGROUNDS)]
        if rng.random() < 0.1:  # a little disorder so no background is tied to an index
            background = rng.choice(BACKGROUNDS)
        # sides alternate, and swap every cycle of kinds, so each kind sees both sides
        side = SIDES[(i + i // len(KIND_CYCLE)) % 2]
        out.append(
            Plan(
                index=i,
                key=f"photoset:{seed}:{i}",
                side=side,
                style=style_names[(i // 2 + i // len(KIND_CYCLE)) % len(style_names)],
                kind=kind,
                background=background,
            )
        )
    return out


# --------------------------------------------------------------------------- composing


@dataclass(slots=True)
class Picture:
    image: np.ndarray  # RGB, or 2-D grey for `grey`
    corners: list[list[float]]  # card TL TR BR BL in the picture
    quality: int
    details: dict[str, Any]

    def jpeg(self) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(self.image).save(buf, "JPEG", quality=self.quality, subsampling=2)
        return buf.getvalue()


def canvas_size(kind: str, rng: random.Random) -> tuple[int, int]:
    """(width, height) of a picture of `kind`."""
    if kind == "phone":
        aspect = rng.choice(PHONE_ASPECTS)
        long_side = PHONE_SIDE
    else:
        aspect = rng.choice(DESK_ASPECTS)
        long_side = rng.randint(*DESK_SIDE)
    if aspect >= 1:
        return long_side, round(long_side / aspect)
    return round(long_side * aspect), long_side


def card_corners(rng: random.Random, size: tuple[int, int], card_w: float) -> np.ndarray:
    """Where the card's corners land (TL TR BR BL): turned up to ±12°, seen off-axis
    (each corner moved up to 6% of the card width), wholly inside the picture."""
    w, h = size
    card_h = card_w * CARD_H_MM / CARD_W_MM
    pts = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * [card_w / 2, card_h / 2]
    jitter = rng.uniform(0.01, 0.06)
    # a perspective, not noise: one side of the card is nearer than the other
    near = rng.choice(((0, 3), (1, 2), (0, 1), (2, 3)))
    for i in range(4):
        grow = jitter if i in near else -jitter
        pts[i] *= 1 + grow
        pts[i] += [rng.uniform(-0.01, 0.01) * card_w for _ in range(2)]
    angle = math.radians(rng.uniform(-12, 12))
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    pts = pts @ rot.T
    span = pts.max(axis=0) - pts.min(axis=0)
    pts *= min(1.0, 0.9 * w / span[0], 0.9 * h / span[1])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    margin = 0.03 * min(w, h)
    cx = rng.uniform(margin - lo[0], w - margin - hi[0])
    cy = rng.uniform(margin - lo[1], h - margin - hi[1])
    return (pts + np.array([cx, cy])).astype(np.float32)


def compose(
    card: np.ndarray, size: tuple[int, int], background: str, rng: random.Random, *, grey: bool = False
) -> Picture:
    """`card` (RGB, drawn at about the width it should have) laid on `background` in a
    picture of `size` (w, h), in perspective, under uneven light."""
    card_w = card.shape[1]
    corners = card_corners(rng, size, card_w)
    canvas = BACKGROUND_DRAWERS[background](rng, size)
    details: dict[str, Any] = {"background": background}
    held = background == "hands"
    if held:
        details["hand"] = _hand_behind(canvas, corners, rng)
    _shadow_under(canvas, corners, rng)
    _lay(canvas, card, corners)
    if held:
        _thumb(canvas, corners, rng, details["hand"])
    details.update(_light(canvas, rng))
    sigma = rng.uniform(0.4, 1.1) * max(1.0, card_w / 1500)
    canvas = cv2.GaussianBlur(canvas, (0, 0), sigma)
    _noise(canvas, rng, rng.uniform(1.5, 4.0))
    details["blur_sigma"] = round(sigma, 2)
    image = cv2.cvtColor(canvas, cv2.COLOR_RGB2GRAY) if grey else canvas
    return Picture(
        image=image, corners=corners.round(1).tolist(), quality=rng.randint(72, 92), details=details
    )


def _lay(canvas: np.ndarray, card: np.ndarray, corners: np.ndarray) -> None:
    """Warp `card` (RGB) onto `canvas` at `corners`, rounded corners cut out (in place)."""
    from ocr_job.synth.render import corner_mask

    ch, cw = card.shape[:2]
    src = np.array([[0, 0], [cw, 0], [cw, ch], [0, ch]], np.float32)
    x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int) - 2, 0)
    x1 = min(canvas.shape[1], int(np.ceil(corners[:, 0].max())) + 2)
    y1 = min(canvas.shape[0], int(np.ceil(corners[:, 1].max())) + 2)
    matrix = cv2.getPerspectiveTransform(src, corners - np.float32([x0, y0]))
    size = (x1 - x0, y1 - y0)
    warped = cv2.warpPerspective(card, matrix, size, flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(corner_mask(cw), matrix, size, flags=cv2.INTER_LINEAR)
    alpha = mask.astype(np.float32)[..., None] / 255
    region = canvas[y0:y1, x0:x1]
    region[:] = (region * (1 - alpha) + warped * alpha).astype(np.uint8)


def _shadow_under(canvas: np.ndarray, corners: np.ndarray, rng: random.Random) -> None:
    """The soft shadow a card lying or held above the background casts (in place)."""
    h, w = canvas.shape[:2]
    scale = 8
    mask = np.zeros((h // scale + 1, w // scale + 1), np.float32)
    offset = np.array([rng.uniform(-0.5, 1.0), rng.uniform(0.0, 1.5)]) * 0.01 * max(w, h)
    cv2.fillConvexPoly(mask, np.round((corners + offset) / scale).astype(np.int32), 1.0)
    mask = cv2.GaussianBlur(mask, (0, 0), rng.uniform(1.0, 3.0))
    factor = 1 - cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR) * rng.uniform(0.2, 0.45)
    canvas[:] = (canvas * factor[..., None]).astype(np.uint8)


# --------------------------------------------------------------------------- backgrounds


def _smooth_noise(nrng: np.random.Generator, size: tuple[int, int], cells: int) -> np.ndarray:
    """Noise in [-1, 1]-ish that varies over about `cells` cells across (w, h)."""
    w, h = size
    gw, gh = max(2, cells), max(2, round(cells * h / w))
    coarse = nrng.normal(0, 1, (gh, gw)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def _texture(rng: random.Random, size: tuple[int, int]) -> np.ndarray:
    """Stone- or fabric-like: noise at several scales over a drawn colour."""
    w, h = size
    sw, sh = max(16, w // 4), max(16, h // 4)
    nrng = np.random.default_rng(rng.getrandbits(32))
    base = np.array([rng.randint(40, 220) for _ in range(3)], np.float32)
    field = sum(_smooth_noise(nrng, (sw, sh), cells) * amp for cells, amp in ((4, 18), (24, 10), (120, 7)))
    speckle = nrng.normal(0, rng.uniform(3, 10), (sh, sw)).astype(np.float32)
    small = base + (field + speckle)[..., None] * np.float32(rng.uniform(0.6, 1.4))
    return cv2.resize(np.clip(small, 0, 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)


def _table(rng: random.Random, size: tuple[int, int]) -> np.ndarray:
    """A desk (the generator's own desk textures) with its front edge and the dark floor
    beyond it along one side of the picture."""
    from ocr_job.synth.augment import desk_texture

    w, h = size
    canvas = desk_texture(rng, (w, h))
    edge = rng.uniform(0.04, 0.12)
    if rng.random() < 0.5:  # the table ends at the top or bottom of the picture
        rows = max(1, round(edge * h))
        part = slice(0, rows) if rng.random() < 0.5 else slice(h - rows, h)
        canvas[part, :] = (canvas[part, :] * rng.uniform(0.15, 0.4)).astype(np.uint8)
    else:
        cols = max(1, round(edge * w))
        part = slice(0, cols) if rng.random() < 0.5 else slice(w - cols, w)
        canvas[:, part] = (canvas[:, part] * rng.uniform(0.15, 0.4)).astype(np.uint8)
    return canvas


def _paper(rng: random.Random, size: tuple[int, int]) -> np.ndarray:
    """A printed page: off-white paper with rows of text-like marks (not characters),
    on a darker desk around it."""
    w, h = size
    nrng = np.random.default_rng(rng.getrandbits(32))
    desk = np.array([rng.randint(60, 140)] * 3, np.float32) + [rng.uniform(-10, 10) for _ in range(3)]
    canvas = np.empty((h, w, 3), np.uint8)
    canvas[:] = np.clip(desk, 0, 255).astype(np.uint8)
    px0, py0 = round(rng.uniform(-0.1, 0.08) * w), round(rng.uniform(-0.1, 0.08) * h)
    px1, py1 = round(rng.uniform(0.92, 1.1) * w), round(rng.uniform(0.92, 1.1) * h)
    x0, y0, x1, y1 = max(0, px0), max(0, py0), min(w, px1), min(h, py1)
    tone = rng.randint(225, 250)
    canvas[y0:y1, x0:x1] = (tone, tone, max(0, tone - rng.randint(0, 12)))
    line_h = max(6, round(min(w, h) * rng.uniform(0.012, 0.022)))
    mark = (rng.randint(30, 90),) * 3
    y = y0 + 3 * line_h
    while y < y1 - 3 * line_h:
        x = x0 + 3 * line_h + (2 * line_h if rng.random() < 0.15 else 0)
        end = x1 - 3 * line_h - (rng.randint(0, 12) * line_h if rng.random() < 0.3 else 0)
        while x < end:
            word = nrng.integers(1, 6) * line_h
            # a word of strokes: short vertical and horizontal bars, as print looks from afar
            for bx in range(x, min(x + int(word), end), max(2, line_h // 2)):
                if nrng.random() < 0.8:
                    top = y + int(nrng.integers(0, line_h // 3 + 1))
                    cv2.rectangle(canvas, (bx, top), (bx + max(1, line_h // 4), y + line_h), mark, -1)
            x += int(word) + line_h
        y += round(line_h * rng.uniform(1.7, 2.2))
    return canvas


SKIN: tuple[tuple[int, int, int], ...] = (
    (235, 200, 175), (224, 178, 150), (198, 150, 118), (160, 112, 82), (120, 80, 58),
)  # fmt: skip


def _hands_background(rng: random.Random, size: tuple[int, int]) -> np.ndarray:
    """What lies behind a card held in the hand: a blurred room (smooth noise)."""
    w, h = size
    nrng = np.random.default_rng(rng.getrandbits(32))
    sw, sh = max(16, w // 8), max(16, h // 8)
    base = np.array([rng.randint(50, 200) for _ in range(3)], np.float32)
    field = (_smooth_noise(nrng, (sw, sh), 3) * 35 + _smooth_noise(nrng, (sw, sh), 8) * 15)[..., None]
    return cv2.resize(np.clip(base + field, 0, 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)


def _hand_behind(canvas: np.ndarray, corners: np.ndarray, rng: random.Random) -> dict[str, Any]:
    """The hand holding the card by one short edge, drawn before the card is laid (in
    place): the palm beyond that edge and two or three fingertips showing past a long
    edge. Returns what `_thumb` needs."""
    tl, tr, br, bl = (corners[i].astype(np.float64) for i in range(4))
    left = rng.random() < 0.5
    top, bottom = (tl, bl) if left else (tr, br)
    inward = ((tr - tl) if left else (tl - tr)) / np.linalg.norm(tr - tl)
    mm = float(np.linalg.norm(tr - tl)) / CARD_W_MM
    colour = np.array(rng.choice(SKIN), np.float64) + [rng.uniform(-12, 12) for _ in range(3)]
    skin = tuple(int(c) for c in np.clip(colour, 0, 255))
    shade = tuple(int(c * 0.8) for c in skin)
    height = float(np.linalg.norm(bottom - top))
    down = (bottom - top) / height
    grip = top + (bottom - top) * rng.uniform(0.35, 0.65)
    palm = grip - inward * height * 0.55
    cv2.ellipse(
        canvas,
        _pt(palm),
        (int(height * 0.6), int(height * 0.5)),
        math.degrees(math.atan2(inward[1], inward[0])),
        0,
        360,
        skin,
        -1,
    )
    fingers = rng.randint(2, 3)
    for k in range(fingers):
        base = bottom - down * height * 0.1 + inward * mm * (4 + 10 * k)
        tip = bottom + down * height * rng.uniform(0.12, 0.22) + inward * mm * (4 + 10 * k)
        cv2.line(canvas, _pt(base), _pt(tip), shade, max(2, int(mm * 8)))
        cv2.line(canvas, _pt(base), _pt(tip), skin, max(2, int(mm * 7)))
    return {
        "edge": "left" if left else "right",
        "fingers": fingers,
        "skin": skin,
        "grip": grip.tolist(),
        "inward": inward.tolist(),
        "mm": mm,
    }


def _thumb(canvas: np.ndarray, corners: np.ndarray, rng: random.Random, hand: dict[str, Any]) -> None:
    """The thumb over the card's margin: a rounded bar from the palm that reaches at most
    THUMB_MM into the card (in place)."""
    mm, inward, grip = hand["mm"], np.array(hand["inward"]), np.array(hand["grip"])
    skin = tuple(hand["skin"])
    shade = tuple(int(c * 0.8) for c in skin)
    half = 5.0 * mm  # half the bar's width: its round end reaches that far past its end
    reach = rng.uniform(0.5, 1.0) * THUMB_MM * mm
    end = grip + inward * (reach - half)
    start = grip - inward * 30 * mm
    cv2.line(canvas, _pt(start), _pt(end), shade, max(2, int(2 * half)))
    cv2.line(canvas, _pt(start), _pt(end - inward * 0.5 * mm), skin, max(2, int(2 * half - mm)))


def _pt(v: np.ndarray) -> tuple[int, int]:
    return round(float(v[0])), round(float(v[1]))


def _gradient(rng: random.Random, size: tuple[int, int]) -> np.ndarray:
    """A coloured sheet: two colours blended along a direction, or from a bright spot."""
    w, h = size
    sw, sh = max(16, w // 8), max(16, h // 8)
    a = np.array([rng.randint(0, 255) for _ in range(3)], np.float32)
    b = np.array([rng.randint(0, 255) for _ in range(3)], np.float32)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    if rng.random() < 0.5:
        angle = rng.uniform(0, 2 * math.pi)
        t = (xx / sw - 0.5) * math.cos(angle) + (yy / sh - 0.5) * math.sin(angle) + 0.5
    else:
        cx, cy = rng.uniform(0, sw), rng.uniform(0, sh)
        t = np.hypot(xx - cx, yy - cy) / math.hypot(sw, sh)
    t = np.clip(t, 0, 1)[..., None]
    small = a * (1 - t) + b * t
    return cv2.resize(np.clip(small, 0, 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)


BACKGROUND_DRAWERS: dict[str, Callable[[random.Random, tuple[int, int]], np.ndarray]] = {
    "texture": _texture,
    "table": _table,
    "paper": _paper,
    "hands": _hands_background,
    "gradient": _gradient,
}


# --------------------------------------------------------------------------- light


def _light(canvas: np.ndarray, rng: random.Random) -> dict[str, Any]:
    """A colour cast, a smooth falloff and sometimes a phone's shadow (in place)."""
    h, w = canvas.shape[:2]
    cast = np.array([rng.uniform(0.88, 1.08) for _ in range(3)], np.float32)
    gain = np.array([[rng.uniform(0.7, 1.1) for _ in range(3)] for _ in range(3)], np.float32)
    field = cv2.resize(gain, (64, 64), interpolation=cv2.INTER_CUBIC)
    shadow = rng.random() < 0.35
    if shadow:  # a band of soft shadow across the picture
        yy, xx = np.mgrid[0:64, 0:64].astype(np.float32) / 64
        angle = rng.uniform(0, math.pi)
        d = (xx - 0.5) * math.cos(angle) + (yy - 0.5) * math.sin(angle) - rng.uniform(-0.3, 0.3)
        field *= 1 - rng.uniform(0.25, 0.45) * (1 / (1 + np.exp(-d / 0.04)))
    full = cv2.resize(field, (w, h), interpolation=cv2.INTER_LINEAR)
    lut_scale = full[..., None] * cast
    canvas[:] = np.clip(canvas * lut_scale, 0, 255).astype(np.uint8)
    return {"cast": [round(float(c), 3) for c in cast], "shadow": shadow}


def _noise(canvas: np.ndarray, rng: random.Random, sigma: float) -> None:
    h, w = canvas.shape[:2]
    nrng = np.random.default_rng(rng.getrandbits(32))
    tile = (nrng.normal(0, sigma, (251, 257, 3))).astype(np.int16)
    reps = (h // 251 + 1, w // 257 + 1, 1)
    noise = np.tile(tile, reps)[:h, :w]
    canvas[:] = np.clip(canvas.astype(np.int16) + noise, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- the set


def picture(p: Plan) -> tuple[Picture, dict[str, Any]]:
    """Picture `p` and its fields (as a Fields dump)."""
    rng = random.Random(f"{p.key}:{p.kind}:{p.background}:shot")
    size = canvas_size(p.kind, rng)
    share = rng.uniform(*CARD_SHARE[p.kind])
    card_w = round(share * min(size[0], size[1] * CARD_W_MM / CARD_H_MM))
    card, fields = render(p.key, p.side, card_w, p.style)
    shot = compose(card, size, p.background, rng, grey=p.kind == "grey")
    return shot, fields.model_dump()


def generate_photoset(dest: Path, count: int, seed: int = 0) -> Path:
    """Write `count` pictures and their labels under `dest` (see the module docstring);
    return `dest`. An up-to-date set is left as it is."""
    dest = Path(dest)
    style_names = styles()
    params = {"version": VERSION, "count": count, "seed": seed,
              "styles": [s for s in style_names]}  # fmt: skip
    saved = dest / PARAMS_FILE
    if saved.is_file() and (dest / LABELS_FILE).is_file():
        recorded = json.loads(saved.read_text(encoding="utf-8"))
        if recorded.get("params") == params and recorded.get("labels_sha256") == _digest(dest / LABELS_FILE):
            return dest
    lines = []
    digits = max(4, len(str(count)))
    for p in plan(count, seed, style_names):
        shot, fields = picture(p)
        source = f"{p.kind}/{p.index + 1:0{digits}d}-{p.side}.jpg"
        (dest / p.kind).mkdir(parents=True, exist_ok=True)
        (dest / source).write_bytes(shot.jpeg())
        h, w = shot.image.shape[:2]
        lines.append(
            {
                "source": source,
                "side": p.side,
                "level": p.kind,
                "style": p.style,
                "fields": fields,
                "expected_error": None,
                "transform": {
                    "rotation": 0,
                    "corners": shot.corners,
                    "size": [w, h],
                    "jpeg_quality": shot.quality,
                    **shot.details,
                },
            }
        )
    labels = dest / LABELS_FILE
    labels.write_text(
        "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8"
    )
    saved.write_text(
        json.dumps({"params": params, "labels_sha256": _digest(labels)}, indent=2) + "\n", encoding="utf-8"
    )
    return dest


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.photoset",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dest", type=Path)
    parser.add_argument("--count", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    generate_photoset(args.dest, args.count, args.seed)
    print(f"wrote {args.count} pictures under {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
