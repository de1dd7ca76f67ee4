"""Pictures for the quality and authenticity warnings (`ocr_job.quality`), each with the
warnings it must raise, and clean colour scans and photos that must raise none.

Kinds (`KINDS`), each a pure function of its key:

* ``clean_scan``, ``clean_photo``: the generator's ``clean`` and ``photo`` levels: no warning.
* ``photocopy``: a greyscale copy with a copier's contrast and toner noise (speckles,
  streaks, a grey paper tone), scanned (one-channel or three-channel JPEG) or photographed
  on a desk under a coloured light.
* ``screen``: the card shown on a screen (its pixels drawn as RGB sub-pixel stripes with a
  dark grid) and photographed: the camera samples the grid, which makes moiré.
* ``cut``: a photo (tilted, in perspective) whose card runs past one edge of the picture
  or two (a corner), by 5–35 % of the card on each.
* ``occluded``: an object over the card's text: a finger or a thumb holding the card
  (skin of several tones, from any edge), a pen lying across it, a sticker or a scrap of
  paper, or a coin.
* ``glare``: a saturated highlight over the card's text: a spot or a band, of several
  sizes, on a photo or on a scan.
* ``blur``: a card out of focus (Gaussian, 2.5–4.5 px a 1,000 px card) or shaken (motion
  blur of 14–28 px a 1,000 px card).
* ``two_cards``: two cards of different people in one photo, one larger.
* ``occluded_other``, ``blur_other``: objects and blurs of other kinds, which the
  detectors were not tuned on (`ocr_job.synth.kyc_held_out`).

Every kind is drawn in every layout style (`ocr_job.synth.layouts`).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ocr_job.synth import kyc_held_out
from ocr_job.synth.augment import (
    CARD_ASPECT,
    _blend,
    _lay,
    _lighting,
    _motion_blur,
    _noise,
    desk_texture,
    encode_jpeg,
)
from ocr_job.synth.layouts import STYLES, layout
from ocr_job.synth.render import Style, corner_mask, render_card
from ocr_job.synth.sample import identity_for, make_sample

#: The warnings each kind must raise.
EXPECTED: dict[str, frozenset[str]] = {
    "clean_scan": frozenset(),
    "clean_photo": frozenset(),
    "photocopy": frozenset({"photocopy"}),
    "screen": frozenset({"screen_recapture"}),
    "cut": frozenset({"card_incomplete"}),
    "occluded": frozenset({"occlusion"}),
    "glare": frozenset({"glare"}),
    "blur": frozenset({"image_blurry"}),
    "two_cards": frozenset({"multiple_cards"}),
    "occluded_other": frozenset({"occlusion"}),
    "blur_other": frozenset({"image_blurry"}),
}
KINDS: tuple[str, ...] = tuple(EXPECTED)
CLEAN_KINDS: tuple[str, ...] = ("clean_scan", "clean_photo")
#: Kinds of objects and blurs the detectors were not tuned on (`ocr_job.synth.kyc_held_out`).
HELD_OUT_KINDS: tuple[str, ...] = ("occluded_other", "blur_other")


@dataclass
class KycCase:
    """One picture (RGB), what it shows and the warnings it must raise."""

    kind: str
    side: str
    style: str
    image: np.ndarray
    grey: bool = False  # saved as a one-channel JPEG
    quality: int = 90
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def expected(self) -> frozenset[str]:
        return EXPECTED[self.kind]

    @property
    def bgr(self) -> np.ndarray:
        return np.ascontiguousarray(self.image[..., ::-1])

    def jpeg(self) -> bytes:
        return encode_jpeg(self.image, self.quality, grey=self.grey)


def make_case(kind: str, key: str, side: str = "front", style: str = "classic") -> KycCase:
    """A `kind` picture of `side` in layout `style`, a pure function of the arguments."""
    if kind not in EXPECTED:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    rng = random.Random(f"{key}:{kind}:{side}:{style}:kyc")
    if kind in CLEAN_KINDS:
        sample = make_sample(key, side, "clean" if kind == "clean_scan" else "photo", 1000, style)
        return KycCase(kind, side, style, sample.image, grey=False,
                       quality=sample.shot.jpeg_quality)  # fmt: skip
    render = _renderer(key, side, style)
    image, info, grey, quality = _MAKERS[kind](render, rng)
    return KycCase(kind, side, style, image, grey=grey, quality=quality, info=info)


def cases(seed: int, per_kind: int, styles: tuple[str, ...] = STYLES,
          kinds: tuple[str, ...] = KINDS) -> list[tuple[str, KycCase]]:  # fmt: skip
    """`per_kind` cases of each kind, sides and styles cycled, named `kind/NNNN-side.jpg`."""
    out = []
    for kind in kinds:
        for i in range(per_kind):
            side = ("front", "back")[i % 2]
            style = styles[(i // 2) % len(styles)]
            case = make_case(kind, f"{seed}:{i}", side, style)
            out.append((f"{kind}/{i + 1:04d}-{side}.jpg", case))
    return out


# --------------------------------------------------------------------------- helpers

Render = Any  # Callable[[int], np.ndarray]: the card, `width` px wide, RGB


def _renderer(key: str, side: str, style: str) -> Render:
    who = identity_for(key)
    drawn = Style.draw(random.Random(f"{key}:style"), layout(style))

    def render(width: int) -> np.ndarray:
        return render_card(who, side, width, style=drawn)

    render.side = side  # type: ignore[attr-defined]
    return render


def _corners(cx: float, cy: float, card_w: float, angle: float, rng: random.Random,
             jitter: float = 0.02) -> np.ndarray:  # fmt: skip
    half = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * [card_w / 2, card_w * CARD_ASPECT / 2]
    half += [[rng.uniform(-jitter, jitter) * card_w for _ in range(2)] for _ in range(4)]
    rad = math.radians(angle)
    rot = np.array([[math.cos(rad), -math.sin(rad)], [math.sin(rad), math.cos(rad)]])
    corners: np.ndarray = (half @ rot.T + [cx, cy]).astype(np.float32)
    return corners


def _desk_photo(render: Render, rng: random.Random, card_w: int, canvas: tuple[int, int],
                corners: np.ndarray) -> np.ndarray:  # fmt: skip
    """The card laid at `corners` on a desk of `canvas` (w, h), lit unevenly."""
    image = desk_texture(rng, canvas, shadow=corners)
    _lay(image, render(card_w), corners)
    _lighting(image, rng)
    return image


def _finish(image: np.ndarray, rng: random.Random, card_w: float) -> np.ndarray:
    """A camera's light blur and noise."""
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 0.7) * max(0.5, card_w / 1000))
    _noise(image, rng, rng.uniform(1.0, 3.0))
    return image


def _photo_geometry(
    rng: random.Random, perspective: float = 0.02
) -> tuple[int, tuple[int, int], np.ndarray, float]:
    """A card 600–1300 px wide on a canvas 1.25–1.7 times its size, wholly inside, its
    corners moved by up to `perspective` of its width (a camera not square to it)."""
    card_w = rng.randint(600, 1300)
    cw = round(card_w * rng.uniform(1.25, 1.7))
    ch = round(cw / rng.choice((4 / 3, 3 / 2, 16 / 9)))
    ch = max(ch, round(card_w * CARD_ASPECT * 1.35))
    angle = rng.uniform(-7, 7)
    centre = cw / 2 + rng.uniform(-0.06, 0.06) * cw, ch / 2 + rng.uniform(-0.05, 0.05) * ch
    corners = _corners(*centre, card_w, angle, rng, perspective)
    return card_w, (cw, ch), corners, angle


# --------------------------------------------------------------------------- kinds

Made = tuple[np.ndarray, dict[str, Any], bool, int]


def _photocopy(render: Render, rng: random.Random) -> Made:
    card_w = rng.randint(700, 1200)
    card = render(card_w)
    grey = cv2.cvtColor(card, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gain, lift = rng.uniform(1.15, 1.6), rng.uniform(0, 30)
    grey = (grey - 128) * gain + 128 + lift
    nrng = np.random.default_rng(rng.getrandbits(32))
    grey += nrng.normal(0, rng.uniform(4, 10), grey.shape)  # toner grain
    dots = nrng.random(grey.shape) < rng.uniform(0.0005, 0.004)  # toner specks
    grey[dots] = rng.uniform(20, 80)
    if rng.random() < 0.5:  # a streak from the drum
        x = rng.randrange(card_w)
        grey[:, x : x + rng.randint(1, 3)] -= rng.uniform(30, 70)
    h, w = grey.shape
    margin = rng.randint(10, 80)
    paper = np.full((h + 2 * margin, w + 2 * margin), rng.uniform(225, 250), np.float32)
    paper += nrng.normal(0, 2.0, paper.shape)
    inner = paper[margin : margin + h, margin : margin + w]
    mask = corner_mask(w).astype(np.float32) / 255
    inner[:] = inner * (1 - mask) + grey * mask
    page = cv2.GaussianBlur(np.clip(paper, 0, 255), (0, 0), rng.uniform(0.4, 0.9))
    rgb = cv2.cvtColor(page.astype(np.uint8), cv2.COLOR_GRAY2RGB)
    how = rng.choice(("grey_scan", "colour_scan", "photo"))
    if how == "photo":  # the copy lying on a desk, under a tinted light
        cw, ch = round(rgb.shape[1] * rng.uniform(1.15, 1.4)), round(rgb.shape[0] * rng.uniform(1.2, 1.5))
        ph, pw = rgb.shape[:2]
        corners = _corners(cw / 2, ch / 2, pw, rng.uniform(-5, 5), rng, 0.01)
        corners[:, 1] = (corners[:, 1] - ch / 2) * (ph / (pw * CARD_ASPECT)) + ch / 2
        desk = desk_texture(rng, (cw, ch), shadow=corners)
        _lay_page(desk, rgb, corners)
        tint = np.array([rng.uniform(0.92, 1.06) for _ in range(3)], np.float32)
        rgb = np.clip(desk.astype(np.float32) * tint, 0, 255).astype(np.uint8)
        rgb = _finish(rgb, rng, card_w)
    elif how == "colour_scan":
        _noise(rgb, rng, rng.uniform(0.5, 2.0))
    return rgb, {"how": how}, how == "grey_scan", rng.randint(75, 95)


def _lay_page(canvas: np.ndarray, page: np.ndarray, corners: np.ndarray) -> None:
    h, w = page.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, corners.astype(np.float32))
    size = (canvas.shape[1], canvas.shape[0])
    warped = cv2.warpPerspective(page, matrix, size, flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), matrix, size)
    canvas[:] = _blend(canvas, warped, mask)


def _screen(render: Render, rng: random.Random) -> Made:
    """The card shown at `pixels` screen pixels wide, each drawn as R, G, B stripes over
    a dark grid (`sub` × `sub` camera samples a pixel), then photographed smaller."""
    pixels = rng.randint(360, 720)
    card = render(pixels).astype(np.float32)
    sub = 4
    big = np.repeat(np.repeat(card, sub, axis=0), sub, axis=1)
    stripes = np.zeros((sub, sub, 3), np.float32)
    for c in range(3):
        stripes[:, c, c] = 1.0
    stripes[:, 3, :] = 0.15
    stripes[3, :, :] *= 0.25
    big *= np.tile(stripes, (card.shape[0], card.shape[1], 1)) * rng.uniform(3.2, 4.0)
    screen_rgb = np.clip(big, 0, 255)
    backlight = np.array([rng.uniform(0.85, 0.95), rng.uniform(0.92, 1.0), 1.0], np.float32)
    screen_rgb = (screen_rgb * backlight).astype(np.uint8)
    card_w = rng.randint(600, 1100)  # the card in the photo: 1.3–3.3 samples a screen pixel... fewer
    bezel = round(card_w * rng.uniform(0.04, 0.1))
    cw = round((card_w + 2 * bezel) * rng.uniform(1.15, 1.45))
    ch = round(cw / rng.choice((4 / 3, 3 / 2)))
    ch = max(ch, round((card_w * CARD_ASPECT + 2 * bezel) * 1.2))
    angle = rng.uniform(-6, 6)
    corners = _corners(cw / 2, ch / 2, card_w, angle, rng, 0.015)
    outer = _corners(cw / 2, ch / 2, card_w + 2 * bezel, angle, rng, 0.0)
    outer = (outer - [cw / 2, ch / 2]) * [
        1,
        (card_w * CARD_ASPECT + 2 * bezel) / ((card_w + 2 * bezel) * CARD_ASPECT),
    ] + [cw / 2, ch / 2]
    image = desk_texture(rng, (cw, ch), shadow=outer)
    cv2.fillConvexPoly(image, np.round(outer).astype(np.int32), (12, 12, 14))
    h, w = screen_rgb.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, corners)
    warped = cv2.warpPerspective(screen_rgb, matrix, (cw, ch), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), matrix, (cw, ch))
    image = _blend(image, warped, mask)
    if rng.random() < 0.5:  # a reflection on the glass
        yy, xx = np.mgrid[0:ch, 0:cw].astype(np.float32)
        ramp = np.clip(1 - np.hypot(xx - rng.uniform(0, cw), yy - rng.uniform(0, ch)) / (0.8 * cw), 0, 1)
        image = np.clip(image + (ramp * rng.uniform(20, 50))[..., None], 0, 255).astype(np.uint8)
    image = _finish(image, rng, card_w)
    return image, {"screen_pixels": pixels, "card_width": card_w}, False, rng.randint(80, 95)


_CUTS = (("left",), ("right",), ("top",), ("bottom",), ("left", "top"), ("right", "top"),
         ("left", "bottom"), ("right", "bottom"))  # fmt: skip


def _cut(render: Render, rng: random.Random) -> Made:
    """A photo of the card (tilted, in perspective) cut by one edge of the picture or two
    (a corner), by 5–35 % of the card on each."""
    card_w, (cw, ch), corners, _ = _photo_geometry(rng, perspective=rng.uniform(0.01, 0.06))
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    span = hi - lo
    edges = rng.choice(_CUTS)
    shares = {}
    shift = np.zeros(2)
    for edge in edges:
        axis = 0 if edge in ("left", "right") else 1
        shares[edge] = share = rng.uniform(0.05, 0.35)
        if edge in ("left", "top"):
            shift[axis] = -lo[axis] - share * span[axis]
        else:
            shift[axis] = (cw, ch)[axis] - hi[axis] + share * span[axis]
    corners = (corners + shift).astype(np.float32)
    image = _finish(_desk_photo(render, rng, card_w, (cw, ch), corners), rng, card_w)
    info = {"edges": list(edges), "shares": {k: round(v, 3) for k, v in shares.items()}}
    return image, info, False, rng.randint(80, 95)


_MM = np.array([[0, 0], [85.6, 0], [85.6, 54], [0, 54]], np.float32)
#: Where an object comes from (a point beyond the card's edge, mm), by edge.
_ENTRY = ("left", "right", "top", "bottom")


def _occluded(render: Render, rng: random.Random) -> Made:
    """A photo of the card with an object over its text: a finger or a thumb holding it
    (skin of several tones, from any edge; a thumb is broader), a pen lying across it, a sticker or a scrap
    of paper, or a coin."""
    card_w, canvas, corners, _ = _photo_geometry(rng, perspective=rng.uniform(0.0, 0.04))
    image = _desk_photo(render, rng, card_w, canvas, corners)
    matrix = cv2.getPerspectiveTransform(_MM, corners)
    px_per_mm = card_w / 85.6

    def at(point_mm: tuple[float, float]) -> np.ndarray:
        point: np.ndarray = cv2.perspectiveTransform(np.array([[point_mm]], np.float32), matrix)[0, 0]
        return point

    what = rng.choice(("finger", "thumb", "pen", "sticker", "coin"))
    place = _text_place(rng, render)
    info: dict[str, Any] = {"object": what, "at_mm": [round(v, 1) for v in place]}
    if what in ("finger", "thumb", "pen"):
        edge = rng.choice(_ENTRY)
        info["from"] = edge
        beyond = rng.uniform(6, 20)
        along = place[0] + rng.uniform(-10, 10), place[1] + rng.uniform(-6, 6)
        start_mm = {"left": (-beyond, along[1]), "right": (85.6 + beyond, along[1]),
                    "top": (along[0], -beyond), "bottom": (along[0], 54 + beyond)}[edge]  # fmt: skip
        if what == "pen":  # it lies across the card: from beyond one edge past the place
            d = np.subtract(place, start_mm)
            end_mm = tuple(np.add(place, d / np.linalg.norm(d) * rng.uniform(15, 60)))
            _draw_pen(image, at(start_mm), at(end_mm), card_w * rng.uniform(0.08, 0.12), rng)
        else:
            width = card_w * (rng.uniform(0.12, 0.19) if what == "finger" else rng.uniform(0.2, 0.27))
            _draw_finger(image, at(start_mm), at(place), width, rng)
    elif what == "sticker":
        size = card_w * rng.uniform(0.16, 0.3), card_w * rng.uniform(0.1, 0.2)
        _draw_sticker(image, at(place), size, rng.uniform(-30, 30), rng)
    else:
        _draw_coin(image, at(place), px_per_mm * rng.uniform(9.5, 12.5), rng)
    image = _finish(image, rng, card_w)
    return image, info, False, rng.randint(80, 95)


_SKIN = ((226, 180, 150), (210, 160, 128), (190, 140, 110), (160, 112, 84), (236, 196, 170),
         (130, 90, 66), (100, 68, 50))  # fmt: skip


def _draw_finger(image: np.ndarray, start: np.ndarray, tip: np.ndarray, width: float,
                 rng: random.Random) -> None:  # fmt: skip
    """A capsule from `start` to `tip`, `width` wide, skin-coloured, shaded across (in place)."""
    skin = np.array(rng.choice(_SKIN), np.float32) + [rng.uniform(-12, 12) for _ in range(3)]
    _draw_capsule(image, start, tip, width, skin, 0.35)


def _draw_capsule(image: np.ndarray, start: np.ndarray, tip: np.ndarray, width: float,
                  colour: np.ndarray, rim: float, round_tip: bool = True) -> None:  # fmt: skip
    h, w = image.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    a, b = tuple(int(v) for v in start), tuple(int(v) for v in tip)
    cv2.line(mask, a, b, 255, thickness=max(3, int(width)))
    if round_tip:
        cv2.circle(mask, b, max(2, int(width / 2)), 255, -1)
    dist = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
    shade = np.clip(dist / (width / 2), 0, 1) ** 0.5  # darker at the rim
    painted = colour[None, None, :] * ((1 - rim) + rim * shade[..., None])
    soft = cv2.GaussianBlur(mask, (0, 0), max(1.0, width / 40)).astype(np.float32)[..., None] / 255
    out = image.astype(np.float32) * (1 - soft) + painted * soft
    image[:] = np.clip(out, 0, 255).astype(np.uint8)


_PENS = ((25, 30, 90), (20, 20, 24), (170, 30, 35), (180, 182, 188), (235, 235, 232))


def _draw_pen(image: np.ndarray, start: np.ndarray, end: np.ndarray, width: float,
              rng: random.Random) -> None:  # fmt: skip
    """A pen's barrel from `start` to `end`, with a highlight along it (in place)."""
    body = np.array(rng.choice(_PENS), np.float32)
    _draw_capsule(image, start, end, width, body, 0.5, round_tip=False)
    d = (end - start) / max(1e-6, float(np.linalg.norm(end - start)))
    off = np.array([-d[1], d[0]]) * width * 0.2
    glint = np.zeros(image.shape[:2], np.uint8)
    cv2.line(glint, tuple(int(v) for v in start + off), tuple(int(v) for v in end + off), 255,
             max(1, int(width / 8)))  # fmt: skip
    alpha = cv2.GaussianBlur(glint, (0, 0), max(1.0, width / 16)).astype(np.float32)[..., None] / 255 * 0.5
    image[:] = np.clip(image * (1 - alpha) + 250 * alpha, 0, 255).astype(np.uint8)


_PAPERS = ((250, 236, 120), (250, 196, 205), (190, 235, 170), (246, 244, 238), (170, 215, 245))


def _draw_sticker(image: np.ndarray, centre: np.ndarray, size: tuple[float, float], angle: float,
                  rng: random.Random) -> None:  # fmt: skip
    """A sticker or a scrap of paper (a rotated rectangle) with a soft shadow (in place)."""
    box = cv2.boxPoints(((float(centre[0]), float(centre[1])), size, angle))
    shadow = np.zeros(image.shape[:2], np.uint8)
    cv2.fillConvexPoly(shadow, np.round(box + size[0] * 0.02).astype(np.int32), 255)
    dark = cv2.GaussianBlur(shadow, (0, 0), max(1.0, size[0] / 30)).astype(np.float32)[..., None] / 255
    out = image.astype(np.float32) * (1 - 0.3 * dark)
    paper = np.array(rng.choice(_PAPERS), np.float32) * rng.uniform(0.9, 1.0)
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, np.round(box).astype(np.int32), 255)
    soft = cv2.GaussianBlur(mask, (0, 0), 1.0).astype(np.float32)[..., None] / 255
    out = out * (1 - soft) + paper * soft
    image[:] = np.clip(out, 0, 255).astype(np.uint8)


_COINS = ((200, 165, 80), (185, 185, 190), (184, 115, 70))


def _draw_coin(image: np.ndarray, centre: np.ndarray, radius: float, rng: random.Random) -> None:
    """A coin: a metal disc lit from one side, with a raised rim (in place)."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = xx - centre[0], yy - centre[1]
    r = np.hypot(dx, dy) / radius
    light = rng.uniform(0, 2 * math.pi)
    shade = 0.85 + 0.25 * (dx * math.cos(light) + dy * math.sin(light)) / radius
    shade -= 0.2 * ((r > 0.86) & (r < 0.9))  # the rim's groove
    metal = np.array(rng.choice(_COINS), np.float32)[None, None, :] * shade[..., None]
    alpha = np.clip((1 - r) * radius / 1.5, 0, 1)[..., None]
    out = image.astype(np.float32) * (1 - alpha) + metal * alpha
    image[:] = np.clip(out, 0, 255).astype(np.uint8)


def _glare(render: Render, rng: random.Random) -> Made:
    """A saturated highlight over the card's text: a spot (a lamp) or a band (a window or
    a strip light), of several sizes, on a photo or on a scan of the card (a glossy
    laminate under the scanner's lamp)."""
    how = rng.choice(("photo", "photo", "scan"))
    if how == "scan":
        card_w = rng.randint(800, 1200)
        image = render(card_w).copy()
        corners = np.array([[0, 0], [card_w, 0], [card_w, image.shape[0]], [0, image.shape[0]]], np.float32)
    else:
        card_w, canvas, corners, _ = _photo_geometry(rng, perspective=rng.uniform(0.0, 0.04))
        image = _desk_photo(render, rng, card_w, canvas, corners)
    matrix = cv2.getPerspectiveTransform(_MM, corners)
    centre_mm = _text_place(rng, render)
    cx, cy = cv2.perspectiveTransform(np.array([[centre_mm]], np.float32), matrix)[0, 0]
    shape = rng.choice(("spot", "band"))
    if shape == "spot":
        rx, ry = card_w * rng.uniform(0.05, 0.2), card_w * rng.uniform(0.03, 0.09)
    else:
        rx, ry = card_w * rng.uniform(0.25, 0.6), card_w * rng.uniform(0.02, 0.045)
    theta = rng.uniform(0, 180)
    yy, xx = np.mgrid[0 : image.shape[0], 0 : image.shape[1]].astype(np.float32)
    c, s = math.cos(math.radians(theta)), math.sin(math.radians(theta))
    u, v = (xx - cx) * c + (yy - cy) * s, -(xx - cx) * s + (yy - cy) * c
    dist = (u / rx) ** 2 + (v / ry) ** 2
    alpha = np.clip(1.5 - dist, 0, 1)[..., None] ** 1.2  # saturated core, soft rim
    out = image.astype(np.float32) + (290 - image.astype(np.float32)) * alpha
    image = np.clip(out, 0, 255).astype(np.uint8)
    if how == "scan":
        _noise(image, rng, rng.uniform(0.5, 2.0))
    else:
        image = _finish(image, rng, card_w)
    info = {"how": how, "shape": shape, "centre_mm": [round(v, 1) for v in centre_mm]}
    return image, info, False, rng.randint(80, 95)


def _text_place(rng: random.Random, render: Render) -> tuple[float, float]:
    """A place (mm) on the card's text: the front's fields, or the back's title and dates."""
    if getattr(render, "side", "front") == "front":
        return rng.uniform(10, 48), rng.uniform(9, 48)
    return rng.choice(((rng.uniform(30, 78), rng.uniform(10, 22)),
                       (rng.uniform(12, 70), rng.uniform(40, 50))))  # fmt: skip


def _blur(render: Render, rng: random.Random) -> Made:
    card_w, canvas, corners, _ = _photo_geometry(rng)
    image = _desk_photo(render, rng, card_w, canvas, corners)
    if rng.random() < 0.5:
        sigma = rng.uniform(2.5, 4.5) * card_w / 1000
        image = cv2.GaussianBlur(image, (0, 0), sigma)
        info: dict[str, Any] = {"sigma_per_1000": round(sigma * 1000 / card_w, 2)}
    else:
        length = max(5, round(rng.uniform(14, 28) * card_w / 1000))
        image = _motion_blur(image, length, rng.uniform(0, 180))
        info = {"motion_per_1000": round(length * 1000 / card_w, 1)}
    _noise(image, rng, rng.uniform(1.0, 3.0))
    return image, info, False, rng.randint(80, 95)


def _two_cards(render: Render, rng: random.Random) -> Made:
    big_w = rng.randint(600, 1000)
    small_w = round(big_w * rng.uniform(0.6, 0.9))
    gap = big_w * rng.uniform(0.08, 0.25)
    across = rng.random() < 0.6  # side by side, else one above the other
    if across:
        cw = round((big_w + small_w + gap) * rng.uniform(1.12, 1.3))
        ch = round(big_w * CARD_ASPECT * rng.uniform(1.3, 1.6))
        a = _corners(cw / 2 - (small_w + gap) / 2, ch / 2, big_w, rng.uniform(-5, 5), rng)
        b = _corners(cw / 2 + (big_w + gap) / 2, ch / 2, small_w, rng.uniform(-5, 5), rng)
    else:
        cw = round(big_w * rng.uniform(1.25, 1.5))
        ch = round((big_w + small_w) * CARD_ASPECT * rng.uniform(1.25, 1.45) + gap)
        a = _corners(cw / 2, ch / 2 - (small_w * CARD_ASPECT + gap) / 2, big_w, rng.uniform(-5, 5), rng)
        b = _corners(cw / 2, ch / 2 + (big_w * CARD_ASPECT + gap) / 2, small_w, rng.uniform(-5, 5), rng)
    image = desk_texture(rng, (cw, ch), shadow=a)
    _lay(image, render(big_w), a)
    other = _renderer(f"other:{rng.random()}", rng.choice(("front", "back")), rng.choice(STYLES))
    _lay(image, other(small_w), b)
    _lighting(image, rng)
    image = _finish(image, rng, big_w)
    return image, {"across": across}, False, rng.randint(80, 95)


def _held_out_photo(render: Render, rng: random.Random) -> tuple[np.ndarray, np.ndarray, int]:
    """A desk photo of the card for the held-out kinds: (picture, matrix mm → px, card width)."""
    card_w, canvas, corners, _ = _photo_geometry(rng, perspective=rng.uniform(0.0, 0.04))
    image = _desk_photo(render, rng, card_w, canvas, corners)
    return image, cv2.getPerspectiveTransform(_MM, corners), card_w


def _occluded_other(render: Render, rng: random.Random) -> Made:
    image, info, grey, quality = kyc_held_out.occluded_other(render, rng, _held_out_photo)
    return _finish(image, rng, info.get("card_w", 1000)), info, grey, quality


def _blur_other(render: Render, rng: random.Random) -> Made:
    return kyc_held_out.blur_other(render, rng, _held_out_photo, _noise)


_MAKERS = {"photocopy": _photocopy, "screen": _screen, "cut": _cut, "occluded": _occluded,
           "glare": _glare, "blur": _blur, "two_cards": _two_cards,
           "occluded_other": _occluded_other, "blur_other": _blur_other}  # fmt: skip
