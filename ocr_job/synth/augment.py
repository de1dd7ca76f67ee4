"""Difficulty levels: how a rendered card ends up in the picture a user uploads.

* ``clean``: the card as rendered, on a thin light margin.
* ``photo``: the card lying on a desk-like background 1.2–1.8× its size, seen a
  little off-axis (corners jittered a few %, rotated up to ±8°), light noise and
  blur, JPEG quality 75–95; the photo's long side is 1000–2000 px.
* ``hard``: a photo with one or more of: strong blur or motion blur, JPEG quality
  30–70, a low-resolution card (500–700 px wide), a glare spot, a 90/180/270°
  turn of the whole picture, a stronger perspective, a huge (≤ 4000 px) photo, or
  a greyscale copy (a photocopy's contrast, saved as a one-channel JPEG).

The pixel sizes above are for the nominal width 1000 and scale with ``width``
(no photo exceeds 4000 px on its long side). Photos draw the card at the size it
has in the picture, so its text is as sharp as a real phone photo's.
Every choice comes from the `random.Random` passed in, so a shot is a pure
function of its seed. The returned transform says where the card ended up.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
from PIL import Image

from ocr_job.synth.render import CARD_H_MM, card_height, corner_mask

LEVELS: tuple[str, ...] = ("clean", "photo", "hard")
HARD_EFFECTS: tuple[str, ...] = (
    "blur", "motion_blur", "low_quality", "low_res", "glare", "turn", "perspective", "huge",
    "greyscale",
)  # fmt: skip
CANVAS_ASPECTS: tuple[float, ...] = (4 / 3, 3 / 2, 16 / 9, 1.0, 3 / 4)
CARD_ASPECT = card_height(100_000) / 100_000
MAX_PHOTO_SIDE = 4000  # no photo is larger on its long side, whatever the width


@dataclass
class Shot:
    """The final picture (RGB) and how it was made."""

    image: np.ndarray
    jpeg_quality: int
    transform: dict[str, Any] = field(default_factory=dict)

    def jpeg(self) -> bytes:
        return encode_jpeg(self.image, self.jpeg_quality, grey=bool(self.transform.get("grey")))


def encode_jpeg(rgb: np.ndarray, quality: int, grey: bool = False) -> bytes:
    """JPEG bytes of an RGB array (deterministic for the same input); `grey`: a
    one-channel JPEG of its first channel (the picture must be grey already)."""
    buf = io.BytesIO()
    subsampling = 0 if quality >= 95 else 2
    image = Image.fromarray(np.ascontiguousarray(rgb[..., 0])) if grey else Image.fromarray(rgb)
    image.save(buf, "JPEG", quality=quality, subsampling=subsampling)
    return buf.getvalue()


RenderFn = Callable[[int], np.ndarray]


def make_shot(level: str, render: RenderFn, rng: random.Random, width: int = 1000) -> Shot:
    """Render a card with `render(card_width_px)` and turn it into a `level` picture."""
    if level == "clean":
        return _clean(render(width), rng)
    if level == "photo":
        return _photo(render, rng, width / 1000, effects=())
    if level == "hard":
        count = rng.choices((1, 2, 3), weights=(5, 4, 2))[0]
        return _photo(render, rng, width / 1000, effects=tuple(rng.sample(HARD_EFFECTS, count)))
    raise ValueError(f"level must be one of {LEVELS}, not {level!r}")


# --------------------------------------------------------------------------- clean


def _clean(card: np.ndarray, rng: random.Random) -> Shot:
    h, w = card.shape[:2]
    margin = rng.randint(0, max(1, round(w * 0.02)))
    shade = rng.randint(242, 255)
    canvas = np.full((h + 2 * margin, w + 2 * margin, 3), shade, np.uint8)
    region = canvas[margin : margin + h, margin : margin + w]
    region[:] = _blend(region, card, corner_mask(w))
    corners = [[margin, margin], [margin + w, margin], [margin + w, margin + h],
               [margin, margin + h]]  # fmt: skip
    transform = _transform(canvas, corners, rotation=0, angle=0.0, card_width=w, quality=95)
    return Shot(canvas, 95, transform)


def _blend(under: np.ndarray, over: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`over` where `mask` is 255, `under` where it is 0, mixed in between."""
    alpha = mask.astype(np.float32) * np.float32(1 / 255)
    return cv2.blendLinear(under, over, 1 - alpha, alpha)


# --------------------------------------------------------------------------- photo


@dataclass(frozen=True)
class _Geometry:
    canvas: tuple[int, int]  # w, h
    card_width: int
    corners: np.ndarray  # 4×2 float32 destination corners TL TR BR BL
    angle: float


def _geometry(rng: random.Random, scale: float, effects: tuple[str, ...]) -> _Geometry:
    long_side = rng.uniform(1000, 2000)
    if "huge" in effects:
        long_side = rng.uniform(2600, 4000)
    ratio = rng.uniform(1.2, 1.8)
    aspect = rng.choice(CANVAS_ASPECTS)
    cw, ch = (long_side, long_side / aspect) if aspect >= 1 else (long_side * aspect, long_side)
    card_w = min(cw / ratio, ch / (CARD_ASPECT * 1.25))
    if "low_res" in effects:
        card_w = rng.uniform(500, 700)
        grow = card_w * ratio / cw
        cw, ch = cw * grow, ch * grow
    scale = min(scale, MAX_PHOTO_SIDE / max(cw, ch))
    cw, ch, card_w = cw * scale, ch * scale, card_w * scale
    strong = "perspective" in effects
    angle = rng.uniform(-14, 14) if strong else rng.uniform(-8, 8)
    jitter = rng.uniform(0.05, 0.09) if strong else rng.uniform(0.0, 0.035)
    corners = _place(rng, (cw, ch), card_w, angle, jitter)
    return _Geometry((round(cw), round(ch)), max(100, round(card_w)), corners, angle)


def _place(rng: random.Random, canvas: tuple[float, float], card_w: float, angle: float,
           jitter: float) -> np.ndarray:  # fmt: skip
    """Destination corners: the card rotated by `angle`, corners jittered, inside the canvas."""
    cw, ch = canvas
    card_h = card_w * CARD_ASPECT
    half = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * [card_w / 2, card_h / 2]
    pts = half + [[rng.uniform(-jitter, jitter) * card_w for _ in range(2)] for _ in range(4)]
    rad = math.radians(angle)
    rot = np.array([[math.cos(rad), -math.sin(rad)], [math.sin(rad), math.cos(rad)]])
    pts = pts @ rot.T
    span = pts.max(axis=0) - pts.min(axis=0)
    shrink = min(1.0, 0.96 * cw / span[0], 0.96 * ch / span[1])
    pts *= shrink
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    cx = rng.uniform(-lo[0], cw - hi[0]) if cw - hi[0] > -lo[0] else cw / 2
    cy = rng.uniform(-lo[1], ch - hi[1]) if ch - hi[1] > -lo[1] else ch / 2
    corners: np.ndarray = (pts + np.array([cx, cy])).astype(np.float32)
    return corners


def _photo(render: RenderFn, rng: random.Random, scale: float, effects: tuple[str, ...]) -> Shot:
    geo = _geometry(rng, scale, effects)
    card = render(geo.card_width)
    canvas = desk_texture(rng, geo.canvas, shadow=geo.corners)
    _lay(canvas, card, geo.corners)
    _lighting(canvas, rng)
    sigma = rng.uniform(1.3, 2.4) if "blur" in effects else rng.uniform(0.3, 0.8)
    canvas = cv2.GaussianBlur(canvas, (0, 0), sigma * max(0.5, geo.card_width / 1000))
    # Blur lengths scale with the card, so a small card is as legible as a large one:
    # "hard" means hard for a machine, never unreadable for a person.
    motion = max(3, round(rng.uniform(5, 10) * geo.card_width / 1000)) if "motion_blur" in effects else None
    if motion:
        canvas = _motion_blur(canvas, motion, rng.uniform(0, 180))
    glare = _glare(canvas, geo.corners, rng) if "glare" in effects else None
    _noise(canvas, rng, rng.uniform(2.0, 5.0) if effects else rng.uniform(1.0, 3.0))
    if "greyscale" in effects:
        canvas = _photocopy(canvas, rng)
    corners = geo.corners.astype(np.float64)
    rotation = rng.choice((90, 180, 270)) if "turn" in effects else 0
    if rotation:
        canvas, corners = _turn(canvas, corners, rotation)
    quality = rng.randint(30, 70) if "low_quality" in effects else rng.randint(75, 95)
    transform = _transform(canvas, corners.round(1).tolist(), rotation, round(geo.angle, 2),
                           geo.card_width, quality)  # fmt: skip
    transform.update(effects=sorted(effects), blur_sigma=round(sigma, 2), motion_blur=motion,
                     glare=glare, grey="greyscale" in effects)  # fmt: skip
    return Shot(canvas, quality, transform)


def _transform(image: np.ndarray, corners: list[list[float]], rotation: int, angle: float,
               card_width: int, quality: int) -> dict[str, Any]:  # fmt: skip
    return {
        "rotation": rotation,
        "angle": angle,
        "corners": corners,
        "size": [int(image.shape[1]), int(image.shape[0])],
        "card_width": card_width,
        "jpeg_quality": quality,
    }


def _lay(canvas: np.ndarray, card: np.ndarray, corners: np.ndarray) -> None:
    """Warp the card onto the canvas (in place) at `corners`."""
    h, w = card.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, corners)
    x0, y0 = np.floor(corners.min(axis=0)).astype(int)
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int)
    x0, y0 = max(0, x0 - 2), max(0, y0 - 2)
    x1, y1 = min(canvas.shape[1], x1 + 2), min(canvas.shape[0], y1 + 2)
    shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64) @ matrix
    size = (x1 - x0, y1 - y0)
    flags = cv2.INTER_AREA if w > 2 * size[0] else cv2.INTER_LINEAR
    warped = cv2.warpPerspective(card, shift, size, flags=flags)
    mask = cv2.warpPerspective(corner_mask(w), shift, size, flags=cv2.INTER_LINEAR)
    region = canvas[y0:y1, x0:x1]
    region[:] = _blend(region, warped, mask)


# --------------------------------------------------------------------------- textures

_DESK_COLOURS: tuple[tuple[int, int, int], ...] = (
    (150, 105, 70), (186, 140, 96), (110, 74, 48), (200, 200, 196), (90, 92, 96),
    (60, 62, 66), (228, 226, 220), (170, 160, 140), (120, 140, 160), (40, 40, 44),
)  # fmt: skip


def desk_texture(rng: random.Random, size: tuple[int, int],
                 shadow: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """A desk-like background: wood grain, a plain or speckled surface, or cloth;
    with the soft shadow of a card lying at `shadow` (4×2 corners) if given."""
    w, h = size
    sw, sh = max(8, w // 6), max(8, h // 6)
    nrng = np.random.default_rng(rng.getrandbits(32))
    kind = rng.choice(("wood", "plain", "cloth"))
    colours = _DESK_COLOURS[:3] if kind == "wood" else _DESK_COLOURS
    base = np.array(rng.choice(colours), np.float32)
    base += [rng.uniform(-15, 15) for _ in range(3)]
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    if kind == "wood":
        coarse = nrng.normal(0, 1, (sh // 24 + 2, sw // 40 + 2)).astype(np.float32)
        turb = cv2.resize(coarse, (sw, sh), interpolation=cv2.INTER_CUBIC)
        grain = np.sin(yy * rng.uniform(0.12, 0.3) + turb * 0.9 + xx * rng.uniform(-0.02, 0.02))
        field = grain * 12 + np.sin(yy * 1.3 + turb * 3) * 4 + nrng.normal(0, 2, (sh, sw))
    elif kind == "cloth":
        weave = np.sin(xx * 1.9) * np.sin(yy * 1.9)
        field = weave * 8 + nrng.normal(0, 4, (sh, sw))
    else:
        field = nrng.normal(0, 5, (sh, sw))
        field = cv2.GaussianBlur(field.astype(np.float32), (0, 0), 1.5) * 1.6
    grad = (xx / sw - 0.5) * rng.uniform(-30, 30) + (yy / sh - 0.5) * rng.uniform(-30, 30)
    small = base + (field + grad)[..., None].astype(np.float32)
    if shadow is not None:
        small *= _shadow(shadow * [sw / w, sh / h], (sw, sh), rng)[..., None]
    small = np.clip(small, 0, 255).astype(np.uint8)
    texture: np.ndarray = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return texture


def _shadow(corners: np.ndarray, size: tuple[int, int], rng: random.Random) -> np.ndarray:
    """Brightness factor (≤ 1) of a soft drop shadow under a card at `corners`."""
    mask: np.ndarray = np.zeros((size[1], size[0]), np.float32)
    offset = np.array([rng.uniform(-1, 1.5), rng.uniform(-1, 1.5)])
    cv2.fillConvexPoly(mask, np.round(corners + offset).astype(np.int32), 1.0)
    mask = cv2.GaussianBlur(mask, (0, 0), 1.2)
    return 1 - mask * rng.uniform(0.15, 0.4)


def _lighting(canvas: np.ndarray, rng: random.Random) -> None:
    """A smooth brightness falloff, as from a lamp or a window (in place)."""
    gain = np.array([[rng.uniform(0.85, 1.08) for _ in range(3)] for _ in range(3)], np.float32)
    small = cv2.resize(gain * 128, (32, 32), interpolation=cv2.INTER_CUBIC)
    field = cv2.resize(np.clip(small, 0, 255).astype(np.uint8), (canvas.shape[1], canvas.shape[0]),
                       interpolation=cv2.INTER_LINEAR)  # fmt: skip
    canvas[:] = cv2.multiply(canvas, cv2.cvtColor(field, cv2.COLOR_GRAY2RGB), scale=1 / 128)


@lru_cache(maxsize=1)
def _noise_tile() -> np.ndarray:
    tile = np.random.default_rng(20240501).normal(0, 1, (257, 263, 3)) * 32
    out = tile.clip(-127, 127).astype(np.int8)
    out.setflags(write=False)
    return out


def _noise(canvas: np.ndarray, rng: random.Random, sigma: float) -> None:
    """Add sensor-like noise of about `sigma` grey levels (in place)."""
    h, w = canvas.shape[:2]
    tile = np.roll(_noise_tile(), (rng.randrange(257), rng.randrange(263)), axis=(0, 1))
    reps = (h // tile.shape[0] + 1, w // tile.shape[1] + 1, 1)
    noise = np.ascontiguousarray(np.tile(tile, reps)[:h, :w])
    canvas[:] = cv2.addWeighted(canvas, 1.0, noise, sigma / 32, 0, dtype=cv2.CV_8U)


def _photocopy(image: np.ndarray, rng: random.Random) -> np.ndarray:
    """A greyscale copy: luminance only, with a copier's raised contrast (pale tints
    wash out, ink darkens); returned as RGB with three equal channels."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gain, lift = rng.uniform(1.1, 1.45), rng.uniform(0, 25)
    grey = np.clip((grey - 128) * gain + 128 + lift, 0, 255).astype(np.uint8)
    rgb: np.ndarray = cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)
    return rgb


def _motion_blur(image: np.ndarray, length: int, angle: float) -> np.ndarray:
    kernel: np.ndarray = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), angle, 1.0)
    kernel = cv2.warpAffine(kernel, rot, (length, length))
    return cv2.filter2D(image, -1, kernel / max(kernel.sum(), 1e-6))


#: Heights (mm from the top) of text rows of either side, where glare hurts.
_TEXT_ROWS_MM: tuple[float, ...] = (9.2, 15.6, 22.0, 28.4, 33.0, 37.6, 47.4, 10.5, 19.8, 41.0, 47.0)


def _glare(canvas: np.ndarray, corners: np.ndarray, rng: random.Random) -> dict[str, float]:
    """A soft bright ellipse on the card, about one text line high (in place)."""
    card_w = float(np.linalg.norm(corners[1] - corners[0]))
    t = rng.uniform(0.15, 0.65)
    s = (rng.choice(_TEXT_ROWS_MM) + rng.uniform(-0.6, 0.6)) / CARD_H_MM
    top = corners[0] + (corners[1] - corners[0]) * t
    bottom = corners[3] + (corners[2] - corners[3]) * t
    cx, cy = top + (bottom - top) * s
    rx, ry = card_w * rng.uniform(0.1, 0.24), card_w * rng.uniform(0.014, 0.024)
    x0, x1 = max(0, int(cx - 2 * rx)), min(canvas.shape[1], int(cx + 2 * rx) + 1)
    y0, y1 = max(0, int(cy - 2 * ry)), min(canvas.shape[0], int(cy + 2 * ry) + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dist = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
    strength = rng.uniform(0.75, 0.97)
    alpha = (np.clip(1.6 - dist, 0, 1) ** 1.5 * strength)[..., None]
    region = canvas[y0:y1, x0:x1].astype(np.float32)
    canvas[y0:y1, x0:x1] = (region + (255 - region) * alpha).astype(np.uint8)
    return {"x": round(float(cx), 1), "y": round(float(cy), 1), "rx": round(rx, 1),
            "ry": round(ry, 1)}  # fmt: skip


def _turn(image: np.ndarray, corners: np.ndarray, rotation: int) -> tuple[np.ndarray, np.ndarray]:
    """Turn the whole picture `rotation` degrees clockwise; map the corners along."""
    h, w = image.shape[:2]
    x, y = corners[:, 0], corners[:, 1]
    if rotation == 90:
        return np.ascontiguousarray(np.rot90(image, -1)), np.stack([h - y, x], axis=1)
    if rotation == 180:
        return np.ascontiguousarray(image[::-1, ::-1]), np.stack([w - x, h - y], axis=1)
    return np.ascontiguousarray(np.rot90(image, 1)), np.stack([y, w - x], axis=1)
