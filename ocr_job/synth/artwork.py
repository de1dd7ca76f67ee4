"""The card's printed artwork, drawn from shapes: security backgrounds (guilloche
waves, a rosette guilloche, a plain tint, a diagonal lattice, arcs over a colour
ramp, a halftone dot screen), the portrait (a grey silhouette or a photo-like drawn face), the national
emblem and a Great Wall outline.

Backgrounds are computed once at `PATTERN_WIDTH` and scaled; everything else is
drawn at the card's size. All choices come from the arguments (no randomness
here): the per-card variation is drawn by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CARD_W_MM = 85.6
CARD_H_MM = 54.0
PATTERN_WIDTH = 1000  # backgrounds are computed once at this width, then scaled
EMBLEM_RGB = (206, 32, 36)
BACKGROUNDS: tuple[str, ...] = ("waves", "rosette", "plain", "mesh", "arcs", "dots")

RGB = tuple[int, int, int]


def card_height(width: int) -> int:
    return round(width * CARD_H_MM / CARD_W_MM)


# --------------------------------------------------------------------------- backgrounds


def _mm_grid() -> tuple[np.ndarray, np.ndarray]:
    w = PATTERN_WIDTH
    y, x = np.mgrid[0 : card_height(w), 0:w].astype(np.float32) / np.float32(w / CARD_W_MM)
    return x, y


def _mix(base: RGB, layers: list[tuple[RGB, np.ndarray]]) -> np.ndarray:
    """`base` with each (colour, weight 0..1) layer painted over it, as uint8 RGB."""
    h, w = layers[0][1].shape
    img = np.empty((h, w, 3), np.float32)
    for c in range(3):
        chan = np.full((h, w), base[c], np.float32)
        for colour, weight in layers:
            chan += (colour[c] - chan) * weight
        img[..., c] = chan
    out = np.clip(img, 0, 255).astype(np.uint8)
    out.setflags(write=False)
    return out


def _waves(side: str, variant: int) -> np.ndarray:
    """Two families of wavy lines over a warm glow (the project's first background)."""
    x, y = _mm_grid()
    phase = variant * 0.9
    wave_a = np.cos(4.1 * x + 3.4 * np.sin(0.41 * y + phase) + 1.2 * np.sin(0.23 * x))
    wave_b = np.cos(3.7 * y + 3.9 * np.sin(0.37 * x - phase) + 1.1 * np.sin(0.19 * y))
    line_a = np.clip((wave_a - 0.55) * 2.2, 0, 1)
    line_b = np.clip((wave_b - 0.6) * 2.5, 0, 1)
    gx, gy = x / CARD_W_MM, y / CARD_H_MM
    if side == "front":
        base: RGB = (236, 240, 242)
        warm = np.exp(-(((gx - 0.45) / 0.35) ** 2) - ((gy - 0.55) / 0.45) ** 2)
        col_a, col_b, col_w = (170, 196, 224), (222, 200, 160), (250, 232, 214)
    else:
        base = (232, 238, 244)
        warm = np.exp(-(((gx - 0.6) / 0.4) ** 2) - ((gy - 0.35) / 0.35) ** 2)
        col_a, col_b, col_w = (160, 190, 226), (226, 206, 168), (244, 232, 210)
    return _mix(base, [(col_w, 0.65 * warm), (col_a, 0.38 * line_a), (col_b, 0.32 * line_b)])


def _rosette(side: str, variant: int) -> np.ndarray:
    """The printed card's security print: a rosette of fine interlaced lines centred
    on the card, fine wavy micro-lines over the whole card, and a pale colour ramp
    (blue-green at the edges, warm in the middle)."""
    x, y = _mm_grid()
    cx, cy = (40.0, 30.0) if side == "front" else (50.0, 32.0)
    cx += variant * 1.3
    r = np.hypot(x - cx, y - cy)
    theta = np.arctan2(y - cy, x - cx)
    petals = 11 + variant
    ring_a = np.cos(2.6 * r + 2.2 * np.sin(petals * theta))
    ring_b = np.cos(2.6 * r - 2.2 * np.sin(petals * theta + 0.5))
    fade = np.clip(1.2 - r / 34.0, 0, 1)
    rosette = (np.clip((ring_a - 0.82) * 5.5, 0, 1) + np.clip((ring_b - 0.82) * 5.5, 0, 1)) * fade
    micro = np.cos(7.5 * y + 1.6 * np.sin(0.55 * x + variant) + 0.8 * np.sin(1.7 * x))
    micro = np.clip((micro - 0.7) * 3.3, 0, 1) * (1 - 0.6 * fade)
    gx, gy = x / CARD_W_MM, y / CARD_H_MM
    warm = np.exp(-(((gx - 0.5) / 0.42) ** 2) - ((gy - 0.5) / 0.5) ** 2)
    if side == "front":
        base: RGB = (222, 236, 236)
        layers = [((246, 236, 222), 0.8 * warm), ((236, 184, 196), 0.42 * rosette),
                  ((150, 196, 214), 0.3 * micro)]  # fmt: skip
    else:
        base = (220, 232, 242)
        layers = [((244, 238, 220), 0.75 * warm), ((206, 186, 226), 0.4 * rosette),
                  ((160, 200, 196), 0.3 * micro)]  # fmt: skip
    return _mix(base, layers)


def _plain(side: str, variant: int) -> np.ndarray:
    """A pale even tint with faint hairlines (a card printed without much art)."""
    x, y = _mm_grid()
    lines = np.clip((np.cos(9.0 * (y + 0.12 * x) + variant) - 0.93) * 12, 0, 1)
    shade = (x / CARD_W_MM - 0.5) * 0.5
    base: RGB = (244, 242, 236) if side == "front" else (240, 242, 244)
    return _mix(base, [((226, 222, 214), 0.5 * np.clip(shade, 0, 1)),
                       ((206, 214, 226), 0.45 * lines)])  # fmt: skip


def _mesh(side: str, variant: int) -> np.ndarray:
    """A lattice of fine lines crossing on the diagonals, bent by a slow swell, over a
    band of pale rose across the middle (a security print of another kind)."""
    x, y = _mm_grid()
    swell = 1.4 * np.sin(0.16 * x + 0.5 * variant) + 1.1 * np.sin(0.21 * y - 0.3 * variant)
    line_a = np.clip((np.cos(2.9 * (x + y) + swell) - 0.8) * 4.5, 0, 1)
    line_b = np.clip((np.cos(2.9 * (x - y) - swell) - 0.8) * 4.5, 0, 1)
    gy = y / CARD_H_MM
    band = np.exp(-(((gy - (0.45 if side == "front" else 0.6)) / 0.22) ** 2))
    base: RGB = (238, 240, 236) if side == "front" else (236, 238, 242)
    return _mix(base, [((240, 214, 214), 0.55 * band), ((168, 198, 206), 0.34 * line_a),
                       ((196, 186, 214), 0.3 * line_b)])  # fmt: skip


def _arcs(side: str, variant: int) -> np.ndarray:
    """Fine concentric arcs about a centre below the card, rippled, over a ramp from pale
    cyan at the top to pale yellow at the bottom, and a faint screen of dots."""
    x, y = _mm_grid()
    cx, cy = (30.0 + 4.0 * variant, 90.0) if side == "front" else (60.0 - 4.0 * variant, 95.0)
    r = np.hypot(x - cx, y - cy)
    theta = np.arctan2(y - cy, x - cx)
    arcs = np.clip((np.cos(3.4 * r + 0.9 * np.sin(23.0 * theta + variant)) - 0.75) * 4.0, 0, 1)
    dots = np.clip((np.cos(5.0 * x) * np.cos(5.0 * y) - 0.85) * 6.0, 0, 1)
    gy = y / CARD_H_MM
    base: RGB = (226, 240, 242) if side == "front" else (230, 238, 246)
    return _mix(base, [((248, 240, 206), 0.85 * gy), ((150, 190, 200), 0.32 * arcs),
                       ((200, 180, 170), 0.25 * dots)])  # fmt: skip


def _dots(side: str, variant: int) -> np.ndarray:
    """A halftone screen: dots on a turned grid whose size follows slow hills, in pale
    green and gold, under a band of fine sine lines across the card's middle."""
    x, y = _mm_grid()
    u, v = 0.8 * x + 0.6 * y, -0.6 * x + 0.8 * y  # the screen is turned by 37 degrees
    hills = 0.5 + 0.5 * np.sin(0.11 * x + 0.7 * variant) * np.cos(0.17 * y - 0.4 * variant)
    cell = np.hypot(np.mod(u, 0.9) - 0.45, np.mod(v, 0.9) - 0.45)
    dots = np.clip((0.12 + 0.2 * hills - cell) * 12.0, 0, 1)
    mid = 27.0 if side == "front" else 34.0
    band = np.exp(-(((y - mid) / 9.0) ** 2))
    lines = np.clip((np.cos(6.0 * (y + 1.2 * np.sin(0.3 * x + variant))) - 0.9) * 8.0, 0, 1)
    base: RGB = (242, 244, 232) if side == "front" else (238, 242, 238)
    return _mix(base, [((214, 230, 196), 0.6 * dots), ((236, 216, 170), 0.35 * dots * hills),
                       ((190, 196, 226), 0.4 * lines * band)])  # fmt: skip


@lru_cache(maxsize=32)
def pattern(kind: str, side: str, variant: int) -> np.ndarray:
    """Background `kind` of `side` at `PATTERN_WIDTH` (read-only, cached)."""
    makers = {
        "waves": _waves,
        "rosette": _rosette,
        "plain": _plain,
        "mesh": _mesh,
        "arcs": _arcs,
        "dots": _dots,
    }
    if kind not in makers:
        raise ValueError(f"background must be one of {BACKGROUNDS}, not {kind!r}")
    return makers[kind](side, variant)


def background(kind: str, side: str, variant: int, width: int,
               tint: tuple[int, int, int]) -> np.ndarray:  # fmt: skip
    """The background at `width`, shifted in colour by `tint`."""
    image = pattern(kind, side, variant)
    if width != PATTERN_WIDTH:
        shrink = width < PATTERN_WIDTH
        image = cv2.resize(image, (width, card_height(width)),
                           interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)  # fmt: skip
    ramp = np.arange(256, dtype=np.int16)
    lut = np.stack([np.clip(ramp + t, 0, 255) for t in tint], axis=1).astype(np.uint8)
    return cv2.LUT(image, lut.reshape(256, 1, 3))


# --------------------------------------------------------------------------- portrait


@dataclass(frozen=True)
class Sitter:
    """How the drawn person in the portrait looks."""

    shade: int  # -25..25: overall brightness shift
    skin: RGB
    hair: RGB
    clothes: RGB
    long_hair: bool
    face_width: float  # share of the photo's width, 0.36..0.46


def silhouette(image: Image.Image, box: tuple[int, int, int, int], sitter: Sitter) -> None:
    """A grey head-and-shoulders placeholder (the first style's portrait)."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    shade = 150 + sitter.shade
    layer = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(layer)
    d.ellipse((w * 0.27, h * 0.12, w * 0.73, h * 0.58), fill=255)  # head
    d.rectangle((w * 0.41, h * 0.5, w * 0.59, h * 0.72), fill=255)  # neck
    d.ellipse((w * 0.0, h * 0.66, w * 1.0, h * 1.35), fill=255)  # shoulders
    body = Image.new("RGB", (w, h), (shade, shade, shade + 4))
    hair = Image.new("L", (w, h), 0)
    ImageDraw.Draw(hair).chord((w * 0.26, h * 0.1, w * 0.74, h * 0.5), 180, 360, fill=255)
    image.paste(body, (x0, y0), layer)
    image.paste((shade - 70,) * 3, (x0, y0), hair)


def _shift(rgb: RGB, by: int) -> RGB:
    return tuple(min(255, max(0, c + by)) for c in rgb)  # type: ignore[return-value]


def face(image: Image.Image, box: tuple[int, int, int, int], sitter: Sitter) -> None:
    """A photo-like portrait: light backdrop, shoulders in clothes, a shaded face with
    hair, eyes, brows, nose and mouth; softened like a printed photo."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    if w < 8 or h < 8:
        return
    yy = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    top, bottom = (
        np.array(_shift((236, 238, 240), sitter.shade // 3), np.float32),
        np.array(_shift((214, 220, 226), sitter.shade // 3), np.float32),
    )
    backdrop = (top + (bottom - top) * yy) * np.ones((1, w, 1), np.float32)
    photo = Image.fromarray(backdrop.astype(np.uint8))
    d = ImageDraw.Draw(photo)
    fw = w * sitter.face_width
    cx, face_top, face_bottom = w * 0.5, h * 0.2, h * 0.66
    skin, dark_skin = _shift(sitter.skin, sitter.shade), _shift(sitter.skin, sitter.shade - 40)
    if sitter.long_hair:
        d.rounded_rectangle((cx - fw * 0.72, face_top - h * 0.04, cx + fw * 0.72, h * 0.86),
                            radius=fw * 0.5, fill=sitter.hair)  # fmt: skip
    d.ellipse((-w * 0.1, h * 0.74, w * 1.1, h * 1.5), fill=sitter.clothes)  # shoulders
    d.polygon([(cx - w * 0.12, h * 0.75), (cx, h * 0.9), (cx + w * 0.12, h * 0.75)],
              fill=_shift(sitter.clothes, 60))  # collar  # fmt: skip
    d.rectangle((cx - fw * 0.26, h * 0.58, cx + fw * 0.26, h * 0.8), fill=dark_skin)  # neck
    for side in (-1, 1):  # ears
        ex = cx + side * fw * 0.5
        d.ellipse((ex - fw * 0.08, h * 0.38, ex + fw * 0.08, h * 0.5), fill=dark_skin)
    d.ellipse((cx - fw / 2, face_top, cx + fw / 2, face_bottom), fill=skin)
    d.chord((cx - fw * 0.56, face_top - h * 0.06, cx + fw * 0.56, face_top + h * 0.2), 180, 360,
            fill=sitter.hair)  # fmt: skip
    d.rectangle((cx - fw * 0.5, face_top + h * 0.04, cx + fw * 0.5, face_top + h * 0.075),
                fill=sitter.hair)  # fringe  # fmt: skip
    eye_y, brow_y = h * 0.4, h * 0.365
    for side in (-1, 1):
        ex = cx + side * fw * 0.2
        d.line((ex - fw * 0.1, brow_y, ex + fw * 0.1, brow_y), fill=sitter.hair,
               width=max(1, round(h * 0.012)))  # fmt: skip
        d.ellipse((ex - fw * 0.075, eye_y - h * 0.012, ex + fw * 0.075, eye_y + h * 0.012),
                  fill=(250, 250, 250))  # fmt: skip
        d.ellipse((ex - fw * 0.035, eye_y - h * 0.012, ex + fw * 0.035, eye_y + h * 0.012),
                  fill=(40, 32, 30))  # fmt: skip
    d.line((cx, h * 0.43, cx - fw * 0.04, h * 0.5), fill=dark_skin, width=max(1, round(h * 0.01)))
    d.line((cx - fw * 0.13, h * 0.56, cx + fw * 0.13, h * 0.56), fill=(170, 90, 90),
           width=max(1, round(h * 0.012)))  # fmt: skip
    photo = photo.filter(ImageFilter.GaussianBlur(max(0.4, w / 220)))
    image.paste(photo, (x0, y0))


# --------------------------------------------------------------------------- emblem side


def _star(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, fill: RGB) -> None:
    points = []
    for i in range(10):
        rad = r if i % 2 == 0 else r * 0.38
        a = -np.pi / 2 + i * np.pi / 5
        points.append((cx + rad * np.cos(a), cy + rad * np.sin(a)))
    draw.polygon(points, fill=fill)


def emblem(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float) -> None:
    """The national emblem: a red disc with a gold ring, a big star and four small
    ones over a gate, and the wheat ring's base (pixels)."""
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=EMBLEM_RGB)
    ring = r * 0.86
    draw.ellipse((cx - ring, cy - ring, cx + ring, cy + ring), outline=(246, 200, 60),
                 width=max(1, round(r * 0.05)))  # fmt: skip
    gold = (250, 210, 70)
    _star(draw, cx - r * 0.2, cy - r * 0.2, r * 0.34, gold)
    for i in range(4):
        angle = np.deg2rad(-60 + i * 30)
        _star(draw, cx - r * 0.2 + np.cos(angle) * r * 0.55,
              cy - r * 0.2 + np.sin(angle) * r * 0.55, r * 0.11, gold)  # fmt: skip
    draw.rectangle((cx - r * 0.55, cy + r * 0.35, cx + r * 0.55, cy + r * 0.5), fill=gold)


def great_wall(image: Image.Image, k: float, colour: RGB) -> None:
    """A pale outline of the Great Wall on its ridges across the back's middle
    (`k`: pixels per millimetre), blended into the background."""
    w, h = image.size
    layer = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(layer)
    xs = np.linspace(6.0, 80.0, 90)
    ridge = 31.0 - 3.2 * np.sin(xs / 9.0) - 1.6 * np.sin(xs / 3.7 + 1.0)
    hills = [(x * k, (y + 2.4) * k) for x, y in zip(xs, ridge, strict=True)]
    d.polygon([(6.0 * k, 38.0 * k), *hills, (80.0 * k, 38.0 * k)], fill=70)
    wall = [(x * k, y * k) for x, y in zip(xs, ridge, strict=True)]
    d.line(wall, fill=200, width=max(1, round(0.7 * k)))
    for x, y in zip(xs[::3], ridge[::3], strict=True):  # battlements
        d.rectangle((x * k, (y - 0.7) * k, (x + 0.35) * k, y * k), fill=200)
    for x in (14.0, 33.0, 52.0, 71.0):  # towers
        y = float(np.interp(x, xs, ridge))
        d.rectangle(((x - 1.1) * k, (y - 2.6) * k, (x + 1.1) * k, y * k), fill=200)
    layer = layer.filter(ImageFilter.GaussianBlur(max(0.3, k * 0.08)))
    fade = np.clip((38.0 - np.arange(h, dtype=np.float32) / k) / 6.0, 0, 1)[:, None]
    alpha = (np.asarray(layer, np.float32) * fade * 0.45).astype(np.uint8)
    tint = Image.new("RGB", (w, h), colour)
    image.paste(tint, (0, 0), Image.fromarray(alpha))
