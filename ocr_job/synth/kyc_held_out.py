"""Held-out cases of the occlusion and blur warnings: objects and blurs of kinds the
detectors of `ocr_job.quality` were not tuned on (`ocr_job.synth.kyc_cases` has those),
so that bench.kyc can report their recall apart.

* ``occluded_other``: a black binder clip gripping the card's edge, a key lying on it, a
  phone's corner over it, a white receipt with printed lines, a sticky note of another
  colour with handwriting, or two fingers side by side of skin tones outside the tuned
  cases' range.
* ``blur_other``: a defocused lens (a disc kernel, not a Gaussian), a low-resolution
  camera (the picture taken with the card 140–200 px wide, then enlarged back as a
  viewer or an upload form does), or a shake along a bent path with a little defocus.

Every maker takes the tuned kinds' `render` (the card at a width, RGB) and a seeded
`random.Random`, and returns (picture RGB, info, grey, JPEG quality).
"""

from __future__ import annotations

import math
import random
from typing import Any

import cv2
import numpy as np

Made = tuple[np.ndarray, dict[str, Any], bool, int]
Render = Any

#: Skin tones outside the tuned cases' seven (paler, ruddier, olive, darker).
SKIN_OTHER = ((246, 214, 198), (222, 150, 130), (176, 150, 100), (78, 52, 40))
#: Sticky notes of colours the tuned stickers do not have (orange, purple, mint, grey).
NOTES = ((252, 170, 90), (200, 170, 235), (180, 240, 220), (205, 205, 200))
OBJECTS = ("clip", "key", "phone", "receipt", "note", "fingers")
BLURS = ("defocus", "low_res", "shake")


def occluded_other(render: Render, rng: random.Random, photo: Any) -> Made:
    """`photo(render, rng)` → (image, matrix mm→px, card_w): a desk photo of the card; one
    held-out object is drawn over its text."""
    image, matrix, card_w = photo(render, rng)
    px_per_mm = card_w / 85.6

    def at(point_mm: tuple[float, float]) -> np.ndarray:
        point: np.ndarray = cv2.perspectiveTransform(np.array([[point_mm]], np.float32), matrix)[0, 0]
        return point

    what = rng.choice(OBJECTS)
    place = _place(rng, render)
    info: dict[str, Any] = {"object": what, "at_mm": [round(v, 1) for v in place], "card_w": card_w}
    if what == "clip":
        _draw_clip(image, at, place, rng)
    elif what == "key":
        _draw_key(image, at(place), px_per_mm, rng.uniform(0, 360), rng)
    elif what == "phone":
        # beyond the card's corner nearest the place: the phone hides that corner
        corner = (-rng.uniform(3, 10) if place[0] < 42.8 else 85.6 + rng.uniform(3, 10),
                  -rng.uniform(3, 10) if place[1] < 27 else 54 + rng.uniform(3, 10))  # fmt: skip
        _draw_phone(image, at, corner, place, rng)
    elif what in ("receipt", "note"):
        size = px_per_mm * rng.uniform(18, 30), px_per_mm * rng.uniform(12, 20)
        colour = (rng.uniform(244, 252),) * 3 if what == "receipt" else rng.choice(NOTES)
        _draw_paper(image, at(place), size, rng.uniform(-35, 35), np.array(colour, np.float32), what, rng)
    else:
        _draw_fingers(image, at, place, card_w, rng)
    return image, info, False, rng.randint(80, 95)


def _place(rng: random.Random, render: Render) -> tuple[float, float]:
    if getattr(render, "side", "front") == "front":
        return rng.uniform(12, 46), rng.uniform(10, 46)
    return rng.choice(
        ((rng.uniform(32, 76), rng.uniform(11, 21)), (rng.uniform(14, 68), rng.uniform(41, 49)))
    )


def _soft_paint(image: np.ndarray, mask: np.ndarray, colour: np.ndarray, edge: float = 1.0) -> None:
    """Paint `colour` (h×w×3 or 3) where `mask` (uint8) is set, its edge softened (in place)."""
    soft = cv2.GaussianBlur(mask, (0, 0), edge).astype(np.float32)[..., None] / 255
    out = image.astype(np.float32) * (1 - soft) + colour * soft
    image[:] = np.clip(out, 0, 255).astype(np.uint8)


def _shade(image: np.ndarray, mask: np.ndarray, depth: float, spread: float, offset: tuple[int, int]) -> None:
    """A soft drop shadow of `mask` moved by `offset` (in place)."""
    moved = np.roll(mask, offset, axis=(0, 1))
    dark = cv2.GaussianBlur(moved, (0, 0), max(1.0, spread)).astype(np.float32)[..., None] / 255
    image[:] = np.clip(image * (1 - depth * dark), 0, 255).astype(np.uint8)


def _draw_clip(image: np.ndarray, at: Any, place: tuple[float, float], rng: random.Random) -> None:
    """A black binder clip gripping the card from its nearest edge, reaching the place."""
    x, y = place
    edge = min((("left", x), ("right", 85.6 - x), ("top", y), ("bottom", 54 - y)), key=lambda e: e[1])[0]
    half = rng.uniform(8, 13)
    reach = {"left": x, "right": 85.6 - x, "top": y, "bottom": 54 - y}[edge] + rng.uniform(2, 5)
    if edge in ("left", "right"):
        x0 = -4.0 if edge == "left" else 89.6
        x1 = x0 + (reach + 4) * (1 if edge == "left" else -1)
        quad = [(x0, y - half), (x1, y - half * 0.8), (x1, y + half * 0.8), (x0, y + half)]
    else:
        y0 = -4.0 if edge == "top" else 58.0
        y1 = y0 + (reach + 4) * (1 if edge == "top" else -1)
        quad = [(x - half, y0), (x - half * 0.8, y1), (x + half * 0.8, y1), (x + half, y0)]
    pts = np.array([at(p) for p in quad], np.float32)
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, np.round(pts).astype(np.int32), 255)
    _shade(image, mask, 0.35, 6, (4, 4))
    _soft_paint(image, mask, np.array([22, 22, 26], np.float32) * rng.uniform(0.8, 1.3))
    # the wire handles, silver, folded back over the body
    mid = (pts[0] + pts[3]) / 2
    for a, b in ((pts[0], pts[1]), (pts[3], pts[2])):
        wire = np.zeros_like(mask)
        cv2.line(wire, tuple(int(v) for v in a * 0.7 + mid * 0.3), tuple(int(v) for v in b * 0.8 + mid * 0.2),
                 255, max(2, int(np.linalg.norm(pts[0] - pts[3]) / 25)))  # fmt: skip
        _soft_paint(image, wire, np.array([200, 200, 205], np.float32))


def _draw_key(
    image: np.ndarray, centre: np.ndarray, px_per_mm: float, angle: float, rng: random.Random
) -> None:
    """A key: a round bow and a toothed blade, brass or nickel, lit from one side."""
    metal = np.array(rng.choice(((196, 160, 90), (170, 172, 176), (150, 120, 70))), np.float32)
    mask = np.zeros(image.shape[:2], np.uint8)
    d = np.array([math.cos(math.radians(angle)), math.sin(math.radians(angle))])
    n = np.array([-d[1], d[0]])
    bow = centre - d * 14 * px_per_mm
    cv2.circle(mask, tuple(int(v) for v in bow), int(11 * px_per_mm), 255, -1)
    blade = [
        centre - d * 5 * px_per_mm + n * 3.5 * px_per_mm,
        centre + d * 22 * px_per_mm + n * 3.5 * px_per_mm,
        centre + d * 22 * px_per_mm - n * 1.5 * px_per_mm,
        centre - d * 5 * px_per_mm - n * 3.5 * px_per_mm,
    ]
    cv2.fillConvexPoly(mask, np.round(np.array(blade)).astype(np.int32), 255)
    for k in range(5):  # the teeth
        base = centre + d * (2 + 4 * k) * px_per_mm - n * 1.5 * px_per_mm
        tooth = [
            base,
            base + d * 3 * px_per_mm,
            base + d * 1.5 * px_per_mm - n * rng.uniform(1.5, 3) * px_per_mm,
        ]
        cv2.fillConvexPoly(mask, np.round(np.array(tooth)).astype(np.int32), 255)
    cv2.circle(mask, tuple(int(v) for v in bow - d * 6 * px_per_mm), int(2.5 * px_per_mm), 0, -1)  # the hole
    _shade(image, mask, 0.3, 3, (3, 3))
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = rng.uniform(0, 2 * math.pi)
    ramp = 0.9 + 0.2 * ((xx - centre[0]) * math.cos(light) + (yy - centre[1]) * math.sin(light)) / (
        30 * px_per_mm
    )
    _soft_paint(image, mask, metal[None, None, :] * np.clip(ramp, 0.6, 1.2)[..., None])


def _draw_phone(image: np.ndarray, at: Any, corner: tuple[float, float], place: tuple[float, float],
                rng: random.Random) -> None:  # fmt: skip
    """A phone's rounded corner over the card, from beyond the card's corner to the place."""
    cx, cy = corner
    sx, sy = (1 if place[0] > cx else -1), (1 if place[1] > cy else -1)
    far = (place[0] + sx * rng.uniform(2, 8), place[1] + sy * rng.uniform(2, 8))
    quad = np.array([at((cx, cy)), at((far[0], cy)), at(far), at((cx, far[1]))], np.float32)
    drawn = np.zeros(image.shape[:2], np.uint8)
    cv2.fillConvexPoly(drawn, np.round(quad).astype(np.int32), 255)
    radius = max(3, int(np.linalg.norm(quad[1] - quad[0]) * 0.08))
    rounded = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
    mask: np.ndarray = cv2.morphologyEx(drawn, cv2.MORPH_OPEN, rounded)
    _shade(image, mask, 0.3, 5, (5, 5))
    body = np.array(rng.choice(((28, 28, 32), (60, 62, 70), (210, 205, 200))), np.float32)
    _soft_paint(image, mask, body)
    glint = np.zeros_like(mask)
    cv2.line(glint, tuple(int(v) for v in quad[0]), tuple(int(v) for v in quad[2]), 255,
             max(2, radius))  # fmt: skip
    _soft_paint(image, cv2.bitwise_and(glint, mask), np.clip(body + 60, 0, 255), edge=radius)


def _draw_paper(image: np.ndarray, centre: np.ndarray, size: tuple[float, float], angle: float,
                colour: np.ndarray, what: str, rng: random.Random) -> None:  # fmt: skip
    """A receipt (printed grey lines) or a sticky note (blue handwriting), with a shadow."""
    box = cv2.boxPoints(((float(centre[0]), float(centre[1])), size, angle))
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, np.round(box).astype(np.int32), 255)
    _shade(image, mask, 0.3, size[0] / 30, (int(size[0] * 0.02) + 1, int(size[0] * 0.02) + 1))
    sheet: np.ndarray = np.zeros(image.shape, np.float32)
    sheet[:] = colour
    ink = np.zeros(image.shape[:2], np.uint8)
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    along, across = np.array([c, s]), np.array([-s, c])
    rows = 4 if what == "note" else 7
    for r in range(rows):
        v = (r + 1) / (rows + 1) - 0.5
        length = rng.uniform(0.4, 0.85)
        a = centre + across * v * size[1] - along * 0.42 * size[0]
        b = a + along * length * size[0]
        if what == "receipt":  # small print: dashes of characters
            for k in range(int(length * 20)):
                p = a + (b - a) * (k / (length * 20))
                q = p + along * size[0] * 0.025
                cv2.line(
                    ink, tuple(int(t) for t in p), tuple(int(t) for t in q), 255, max(1, int(size[1] / 40))
                )
        else:  # handwriting: a wavy stroke
            pts = [a + (b - a) * t + across * math.sin(t * rng.uniform(20, 35)) * size[1] * 0.04
                   for t in np.linspace(0, 1, 40)]  # fmt: skip
            cv2.polylines(
                ink, [np.round(np.array(pts)).astype(np.int32)], False, 255, max(2, int(size[1] / 35))
            )
    ink_colour = np.array((90, 90, 95) if what == "receipt" else (30, 50, 150), np.float32)
    alpha = (cv2.bitwise_and(ink, mask).astype(np.float32) / 255 * 0.8)[..., None]
    sheet = sheet * (1 - alpha) + ink_colour * alpha
    _soft_paint(image, mask, sheet)


def _draw_fingers(
    image: np.ndarray, at: Any, place: tuple[float, float], card_w: int, rng: random.Random
) -> None:
    """Two fingers side by side from the nearest edge, skin of a held-out tone."""
    x, y = place
    skin = np.array(rng.choice(SKIN_OTHER), np.float32) + [rng.uniform(-8, 8) for _ in range(3)]
    width = card_w * rng.uniform(0.1, 0.15)
    horizontal = min(x, 85.6 - x) < min(y, 54 - y)
    for k, shift in enumerate((-0.5, 0.5)):
        off = shift * 14 + (3 if k else 0)
        if horizontal:
            start, tip = (
                ((-15.0 if x < 43 else 100.0), y + off),
                (x + (4 if k else 0) * (1 if x < 43 else -1), y + off),
            )
        else:
            start, tip = (
                (x + off, (-15.0 if y < 27 else 70.0)),
                (x + off, y + (4 if k else 0) * (1 if y < 27 else -1)),
            )
        a, b = at(start), at(tip)
        mask = np.zeros(image.shape[:2], np.uint8)
        cv2.line(mask, tuple(int(v) for v in a), tuple(int(v) for v in b), 255, int(width))
        cv2.circle(mask, tuple(int(v) for v in b), int(width / 2), 255, -1)
        dist = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
        shade = np.clip(dist / (width / 2), 0, 1) ** 0.5
        _soft_paint(
            image, mask, skin[None, None, :] * (0.7 + 0.3 * shade[..., None]), edge=max(1.0, width / 40)
        )


# --------------------------------------------------------------------------- blurs


def blur_other(render: Render, rng: random.Random, photo: Any, noise: Any) -> Made:
    """A desk photo of the card (`photo(render, rng)`), blurred in a held-out way."""
    image, _, card_w = photo(render, rng)
    how = rng.choice(BLURS)
    scale = card_w / 1000
    info: dict[str, Any] = {"how": how}
    if how == "defocus":
        radius = rng.uniform(5.0, 9.0) * scale
        image = cv2.filter2D(image, -1, _disc(radius))
        info["radius_per_1000"] = round(radius / scale, 2)
    elif how == "low_res":
        small_w = rng.randint(140, 200)
        factor = small_w / card_w
        h, w = image.shape[:2]
        small = cv2.resize(
            image, (max(8, round(w * factor)), max(8, round(h * factor))), interpolation=cv2.INTER_AREA
        )
        image = cv2.resize(small, (w, h), interpolation=rng.choice((cv2.INTER_LINEAR, cv2.INTER_CUBIC)))
        info["card_px"] = small_w
    else:
        image = _bent_shake(image, rng.uniform(12, 22) * scale, rng)
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(1.0, 1.8) * scale)
        info["shake"] = True
    noise(image, rng, rng.uniform(1.0, 3.0))
    return image, info, False, rng.randint(80, 95)


def _disc(radius: float) -> np.ndarray:
    size = 2 * math.ceil(radius) + 1
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) - size // 2
    kernel = np.clip(radius + 0.5 - np.hypot(xx, yy), 0, 1).astype(np.float32)
    result: np.ndarray = kernel / kernel.sum()
    return result


def _bent_shake(image: np.ndarray, length: float, rng: random.Random) -> np.ndarray:
    """A hand's shake: the kernel a path of two strokes at an angle (an L or a V)."""
    size = 2 * math.ceil(length) + 1
    kernel = np.zeros((size, size), np.float32)
    c = size // 2
    a = rng.uniform(0, math.pi)
    b = a + rng.uniform(0.6, 1.6)
    first, second = length * rng.uniform(0.4, 0.7), length
    p0 = (c - first * math.cos(a) / 2, c - first * math.sin(a) / 2)
    p1 = (p0[0] + first * math.cos(a), p0[1] + first * math.sin(a))
    p2 = (p1[0] + (second - first) * math.cos(b), p1[1] + (second - first) * math.sin(b))
    for u, v in ((p0, p1), (p1, p2)):
        cv2.line(kernel, tuple(round(t) for t in u), tuple(round(t) for t in v), 1.0, 1)
    result: np.ndarray = cv2.filter2D(image, -1, kernel / kernel.sum())
    return result
