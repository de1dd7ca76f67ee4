"""Drawing both sides of a second-generation resident identity card.

Geometry is in millimetres of the real 85.6 × 54 mm card and scaled to the
requested pixel width, so the layout is the same at 500 px and at 4000 px.
Images are RGB `uint8` arrays (H, W, 3).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw

from ocr_job.synth.fonts import font
from ocr_job.synth.identity import ADDRESS_LINE_CHARS, Identity

CARD_W_MM = 85.6
CARD_H_MM = 54.0
CORNER_MM = 3.18
SIDES: tuple[str, ...] = ("front", "back")

LABEL_RGB = (36, 110, 170)
VALUE_RGB = (22, 22, 24)
EMBLEM_RGB = (206, 32, 36)

# Front (人像面), millimetres: label column, value column, text baselines.
LABEL_X = 5.6
VALUE_X = 15.6
NAME_Y = 10.2
SEX_Y = 16.6
BIRTH_Y = 23.0
ADDRESS_Y = 29.4
ADDRESS_STEP = 4.6
NUMBER_Y = 48.6
NUMBER_LABEL_X = 5.6
NUMBER_X = 30.2
NUMBER_END_X = 78.6
ETHNIC_LABEL_X = 27.6
ETHNIC_X = 36.0
PHOTO_BOX = (53.8, 5.6, 79.8, 38.6)  # x0, y0, x1, y1
# Birth line: left edges of year, 年, month, 月, day, 日.
BIRTH_COLUMNS = (15.6, 23.5, 27.4, 31.5, 35.4, 39.5)

LABEL_EM = 2.55
VALUE_EM = 3.1
NAME_EM = 3.3
NUMBER_EM = 3.55

# Back (国徽面).
EMBLEM_CENTER = (13.6, 14.2)
EMBLEM_R = 8.6
TITLE_X0, TITLE_X1 = 28.0, 78.6
TITLE1_Y, TITLE1_EM = 11.8, 4.3
TITLE2_Y, TITLE2_EM = 21.6, 6.4
BACK_LABEL_X = 16.6
BACK_VALUE_X = 31.2
AUTHORITY_Y = 42.0
VALIDITY_Y = 48.0
BACK_MAX_X = 82.6


@dataclass(frozen=True)
class Style:
    """The small per-card variation a real card has: typeface, colour, registration."""

    serif: bool
    dx_mm: float
    dy_mm: float
    ink: tuple[int, int, int]
    label: tuple[int, int, int]
    tint: tuple[int, int, int]
    pattern: int
    portrait_shade: int

    @classmethod
    def draw(cls, rng: random.Random) -> Style:
        def jitter(rgb: tuple[int, int, int], by: int) -> tuple[int, int, int]:
            return tuple(min(255, max(0, c + rng.randint(-by, by))) for c in rgb)  # type: ignore[return-value]

        return cls(
            serif=rng.random() < 0.35,
            dx_mm=rng.uniform(-0.45, 0.45),
            dy_mm=rng.uniform(-0.35, 0.35),
            ink=jitter(VALUE_RGB, 10),
            label=jitter(LABEL_RGB, 14),
            tint=(rng.randint(-8, 8), rng.randint(-8, 8), rng.randint(-8, 8)),
            pattern=rng.randrange(4),
            portrait_shade=rng.randint(-25, 25),
        )

    @property
    def text_face(self) -> str:
        return "serif" if self.serif else "sans"


def card_height(width: int) -> int:
    return round(width * CARD_H_MM / CARD_W_MM)


# --------------------------------------------------------------------------- background


PATTERN_WIDTH = 1000  # the background pattern is computed once at this width, then scaled


@lru_cache(maxsize=16)
def _guilloche(side: str, variant: int) -> np.ndarray:
    """A pale guilloche-like pattern (read-only, cached): two families of wavy lines."""
    w = PATTERN_WIDTH
    h = card_height(w)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32) / np.float32(w / CARD_W_MM)
    phase = variant * 0.9
    wave_a = np.cos(4.1 * x + 3.4 * np.sin(0.41 * y + phase) + 1.2 * np.sin(0.23 * x))
    wave_b = np.cos(3.7 * y + 3.9 * np.sin(0.37 * x - phase) + 1.1 * np.sin(0.19 * y))
    line_a = np.clip((wave_a - 0.55) * 2.2, 0, 1)
    line_b = np.clip((wave_b - 0.6) * 2.5, 0, 1)
    gx = x / CARD_W_MM
    gy = y / CARD_H_MM
    if side == "front":
        base = np.array([236, 240, 242], np.float32)
        warm = np.exp(-(((gx - 0.45) / 0.35) ** 2) - ((gy - 0.55) / 0.45) ** 2)
        col_a, col_b, col_w = (170, 196, 224), (222, 200, 160), (250, 232, 214)
    else:
        base = np.array([232, 238, 244], np.float32)
        warm = np.exp(-(((gx - 0.6) / 0.4) ** 2) - ((gy - 0.35) / 0.35) ** 2)
        col_a, col_b, col_w = (160, 190, 226), (226, 206, 168), (244, 232, 210)
    img = np.empty((h, w, 3), np.float32)
    for c in range(3):
        chan = base[c] + (col_w[c] - base[c]) * 0.65 * warm
        chan += (col_a[c] - chan) * 0.38 * line_a
        chan += (col_b[c] - chan) * 0.32 * line_b
        img[..., c] = chan
    out = np.clip(img, 0, 255).astype(np.uint8)
    out.setflags(write=False)
    return out


def _background(width: int, side: str, style: Style) -> np.ndarray:
    pattern = _guilloche(side, style.pattern)
    if width != PATTERN_WIDTH:
        shrink = width < PATTERN_WIDTH
        pattern = cv2.resize(pattern, (width, card_height(width)),
                             interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)  # fmt: skip
    ramp = np.arange(256, dtype=np.int16)
    lut = np.stack([np.clip(ramp + t, 0, 255) for t in style.tint], axis=1).astype(np.uint8)
    return cv2.LUT(pattern, lut.reshape(256, 1, 3))


@lru_cache(maxsize=64)
def corner_mask(width: int) -> np.ndarray:
    """uint8 mask (255 inside, anti-aliased edge) of the card's rounded-rectangle outline."""
    height = card_height(width)
    r = CORNER_MM * width / CARD_W_MM
    n = int(np.ceil(r))
    c = np.arange(n, dtype=np.float32) + 0.5
    dist = np.hypot(*np.meshgrid(r - c, r - c, indexing="ij"))
    corner = (np.clip(r - dist + 0.5, 0, 1) * 255).round().astype(np.uint8)
    corner[(c[:, None] >= r) | (c[None, :] >= r)] = 255
    mask = np.full((height, width), 255, np.uint8)
    mask[:n, :n] = corner
    mask[:n, width - n :] = corner[:, ::-1]
    mask[height - n :, :n] = corner[::-1, :]
    mask[height - n :, width - n :] = corner[::-1, ::-1]
    mask.setflags(write=False)
    return mask


# --------------------------------------------------------------------------- text


class _Pen:
    """Draws text at millimetre positions on one card image."""

    def __init__(self, image: Image.Image, width: int, style: Style) -> None:
        self.draw = ImageDraw.Draw(image)
        self.k = width / CARD_W_MM
        self.style = style

    def px(self, mm: float) -> int:
        return round(mm * self.k)

    def text(
        self,
        x_mm: float,
        y_mm: float,
        text: str,
        em_mm: float,
        fill: tuple[int, int, int],
        face: str | None = None,
        anchor: str = "ls",
        max_x_mm: float | None = None,
    ) -> None:
        key = face or self.style.text_face
        f = font(key, self.px(em_mm))
        if max_x_mm is not None:
            room = (max_x_mm - x_mm) * self.k
            length = f.getlength(text)
            if length > room:
                f = font(key, int(self.px(em_mm) * room / length))
        pos = (self.px(x_mm + self.style.dx_mm), self.px(y_mm + self.style.dy_mm))
        self.draw.text(pos, text, font=f, fill=fill, anchor=anchor)

    def spaced(
        self, x0: float, x1: float, y: float, text: str, em: float, fill: tuple[int, int, int]
    ) -> None:
        """Characters spread evenly from x0 to x1 (the card's letter-spaced titles)."""
        step = (x1 - x0 - em) / max(1, len(text) - 1)
        for i, ch in enumerate(text):
            self.text(x0 + i * step, y, ch, em, fill)

    def label(self, x: float, y: float, text: str) -> None:
        """A two-character field label, letter-spaced like 姓 名."""
        if len(text) == 2:
            self.spaced(x, x + 2.0 * LABEL_EM + 0.9, y, text, LABEL_EM, self.style.label)
        else:
            self.text(x, y, text, LABEL_EM, self.style.label)


def wrap_address(address: str, per_line: int = ADDRESS_LINE_CHARS) -> list[str]:
    """The address as printed: `per_line` characters a line, at most three lines."""
    return [address[i : i + per_line] for i in range(0, len(address), per_line)][:3]


def _front(pen: _Pen, who: Identity) -> None:
    s = pen.style
    pen.label(LABEL_X, NAME_Y, "姓名")
    pen.text(VALUE_X, NAME_Y, who.name, NAME_EM, s.ink, max_x_mm=PHOTO_BOX[0] - 0.8)
    pen.label(LABEL_X, SEX_Y, "性别")
    pen.text(VALUE_X, SEX_Y, who.sex, VALUE_EM, s.ink)
    pen.label(ETHNIC_LABEL_X, SEX_Y, "民族")
    pen.text(ETHNIC_X, SEX_Y, who.ethnicity, VALUE_EM, s.ink)
    pen.label(LABEL_X, BIRTH_Y, "出生")
    b = who.birth_date
    year_x, nian_x, month_x, yue_x, day_x, ri_x = BIRTH_COLUMNS
    pen.text(year_x, BIRTH_Y, str(b.year), VALUE_EM, s.ink)
    pen.text(nian_x, BIRTH_Y, "年", LABEL_EM, s.label)
    pen.text(month_x, BIRTH_Y, str(b.month), VALUE_EM, s.ink)
    pen.text(yue_x, BIRTH_Y, "月", LABEL_EM, s.label)
    pen.text(day_x, BIRTH_Y, str(b.day), VALUE_EM, s.ink)
    pen.text(ri_x, BIRTH_Y, "日", LABEL_EM, s.label)
    pen.label(LABEL_X, ADDRESS_Y, "住址")
    for i, line in enumerate(wrap_address(who.address)):
        y = ADDRESS_Y + i * ADDRESS_STEP
        pen.text(VALUE_X, y, line, VALUE_EM, s.ink, max_x_mm=PHOTO_BOX[0] - 0.3)
    pen.text(NUMBER_LABEL_X, NUMBER_Y, "公民身份号码", LABEL_EM + 0.15, s.label)
    pen.text(NUMBER_X, NUMBER_Y, who.id_number, NUMBER_EM, s.ink, face="ocrb",
             max_x_mm=NUMBER_END_X + 1.5)  # fmt: skip


def _portrait(image: Image.Image, pen: _Pen) -> None:
    """A grey head-and-shoulders placeholder where the photo is printed."""
    x0, y0, x1, y1 = (pen.px(v) for v in PHOTO_BOX)
    w, h = x1 - x0, y1 - y0
    shade = 150 + pen.style.portrait_shade
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


def _emblem(draw: ImageDraw.ImageDraw, pen: _Pen) -> None:
    """The national emblem as a red disc with a ring, a big star and four small ones."""
    cx, cy = (pen.px(v) for v in EMBLEM_CENTER)
    r = EMBLEM_R * pen.k
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


def _star(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, fill: tuple[int, ...]) -> None:
    points = []
    for i in range(10):
        rad = r if i % 2 == 0 else r * 0.38
        a = -np.pi / 2 + i * np.pi / 5
        points.append((cx + rad * np.cos(a), cy + rad * np.sin(a)))
    draw.polygon(points, fill=fill)


def _back(pen: _Pen, who: Identity) -> None:
    s = pen.style
    _emblem(pen.draw, pen)
    pen.spaced(TITLE_X0, TITLE_X1, TITLE1_Y, "中华人民共和国", TITLE1_EM, s.ink)
    title_face = "serif-bold" if s.serif else "sans-bold"
    step = (TITLE_X1 - TITLE_X0 - TITLE2_EM) / 4
    for i, ch in enumerate("居民身份证"):
        pen.text(TITLE_X0 + i * step, TITLE2_Y, ch, TITLE2_EM, s.ink, face=title_face)
    pen.spaced(BACK_LABEL_X, BACK_LABEL_X + 4 * LABEL_EM + 0.6, AUTHORITY_Y, "签发机关",
               LABEL_EM, s.label)  # fmt: skip
    pen.text(BACK_VALUE_X, AUTHORITY_Y, who.issuing_authority, VALUE_EM, s.ink,
             max_x_mm=BACK_MAX_X)  # fmt: skip
    pen.spaced(BACK_LABEL_X, BACK_LABEL_X + 4 * LABEL_EM + 0.6, VALIDITY_Y, "有效期限",
               LABEL_EM, s.label)  # fmt: skip
    pen.text(BACK_VALUE_X, VALIDITY_Y, who.validity_text, VALUE_EM, s.ink, max_x_mm=BACK_MAX_X)


def drawn_texts(who: Identity, side: str) -> list[str]:
    """Every string `render_card` draws in a CJK face for `side` (for glyph checks)."""
    if side == "front":
        return ["姓名性别民族出生年月日住址公民身份号码", who.name, who.sex, who.ethnicity,
                who.address, str(who.birth_date.year)]  # fmt: skip
    return ["中华人民共和国居民身份证签发机关有效期限", who.issuing_authority, who.validity_text]


def render_card(who: Identity, side: str, width: int = 1000, seed: int | None = None,
                style: Style | None = None) -> np.ndarray:  # fmt: skip
    """Draw one side of `who`'s card, `width` pixels wide, as an RGB array.

    Pixels outside the rounded corners are the background pattern; use
    `corner_mask(width)` to cut the card out.
    """
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, not {side!r}")
    if width < 100:
        raise ValueError("width must be at least 100 px")
    style = style or Style.draw(random.Random(seed))
    image = Image.fromarray(_background(width, side, style))
    pen = _Pen(image, width, style)
    if side == "front":
        _portrait(image, pen)
        _front(pen, who)
    else:
        _back(pen, who)
    return np.asarray(image)
