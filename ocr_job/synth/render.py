"""Drawing both sides of a second-generation resident identity card.

Geometry is in millimetres of the real 85.6 × 54 mm card and scaled to the
requested pixel width, so the layout is the same at 500 px and at 4000 px. Where
each text goes, and in which face, comes from the card's layout style
(`ocr_job.synth.layouts`); the small per-card variation (registration, ink,
tint, which of the style's value faces, the portrait's sitter) from `Style`.
Images are RGB `uint8` arrays (H, W, 3).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from ocr_job.synth import artwork
from ocr_job.synth.artwork import CARD_H_MM, CARD_W_MM, Sitter, card_height
from ocr_job.synth.fonts import font, runs
from ocr_job.synth.identity import Identity
from ocr_job.synth.layouts import CLASSIC, Layout

__all__ = ["CARD_H_MM", "CARD_W_MM", "SIDES", "Style", "card_height", "corner_mask",
           "drawn_texts", "render_card", "wrap_address"]  # fmt: skip

CORNER_MM = 3.18
SIDES: tuple[str, ...] = ("front", "back")

_SKINS = ((236, 200, 170), (226, 186, 150), (214, 170, 134), (196, 150, 114), (176, 130, 96))
_HAIRS = ((24, 22, 22), (40, 32, 28), (62, 50, 42), (110, 108, 106))
_CLOTHES = ((30, 34, 44), (52, 60, 80), (238, 238, 234), (90, 40, 40), (40, 70, 60))


@dataclass(frozen=True)
class Style:
    """The small per-card variation a real card has, within its layout style."""

    layout: Layout
    face: str  # the value face
    dx_mm: float
    dy_mm: float
    ink: tuple[int, int, int]
    label: tuple[int, int, int]
    tint: tuple[int, int, int]
    pattern: int
    sitter: Sitter

    @classmethod
    def draw(cls, rng: random.Random, layout: Layout = CLASSIC) -> Style:
        def jitter(rgb: tuple[int, int, int], by: int) -> tuple[int, int, int]:
            return tuple(min(255, max(0, c + rng.randint(-by, by))) for c in rgb)  # type: ignore[return-value]

        return cls(
            layout=layout,
            face=rng.choice(layout.value_faces),
            dx_mm=rng.uniform(-0.45, 0.45),
            dy_mm=rng.uniform(-0.35, 0.35),
            ink=jitter(layout.value_rgb, 10),
            label=jitter(layout.label_rgb, 14),
            tint=(rng.randint(-8, 8), rng.randint(-8, 8), rng.randint(-8, 8)),
            pattern=rng.randrange(4),
            sitter=Sitter(
                shade=rng.randint(-25, 25),
                skin=rng.choice(_SKINS),
                hair=rng.choice(_HAIRS),
                clothes=rng.choice(_CLOTHES),
                long_hair=rng.random() < 0.4,
                face_width=rng.uniform(0.36, 0.46),
            ),
        )

    @property
    def label_face(self) -> str:
        return self.layout.label_face or self.face


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

    def length_mm(self, text: str, em_mm: float, face: str, tracking_mm: float = 0.0) -> float:
        size = self.px(em_mm)
        drawn = sum(font(key, size).getlength(part) for key, part in runs(face, text))
        return drawn / self.k + tracking_mm * max(0, len(text) - 1)

    def text(
        self,
        x_mm: float,
        y_mm: float,
        text: str,
        em_mm: float,
        fill: tuple[int, int, int],
        face: str | None = None,
        max_x_mm: float | None = None,
        tracking_mm: float = 0.0,
    ) -> None:
        """`text` with its baseline's left end at (x, y); a character the face lacks
        comes from the fallback face; shrunk to end at `max_x_mm` if it would not."""
        key = face or self.style.face
        size = self.px(em_mm)
        if max_x_mm is not None:
            length = self.length_mm(text, em_mm, key, tracking_mm)
            if length > max_x_mm - x_mm:
                size = int(size * (max_x_mm - x_mm) / length)
                tracking_mm *= (max_x_mm - x_mm) / length
        x = (x_mm + self.style.dx_mm) * self.k
        y = self.px(y_mm + self.style.dy_mm)
        for part_key, part in runs(key, text):
            f = font(part_key, size)
            if not tracking_mm:
                self.draw.text((round(x), y), part, font=f, fill=fill, anchor="ls")
                x += f.getlength(part)
                continue
            for ch in part:
                self.draw.text((round(x), y), ch, font=f, fill=fill, anchor="ls")
                x += f.getlength(ch) + tracking_mm * self.k

    def spaced(self, x0: float, y: float, text: str, em: float, gap: float,
               fill: tuple[int, int, int], face: str | None = None) -> float:  # fmt: skip
        """Characters one em plus `gap` apart from x0 (the card's letter-spaced labels
        and titles); returns the right end (mm)."""
        for i, ch in enumerate(text):
            self.text(x0 + i * (em + gap), y, ch, em, fill, face)
        return x0 + len(text) * em + (len(text) - 1) * gap

    def label(self, x: float, y: float, text: str) -> float:
        """A field label in the label colour and face; returns its right end (mm)."""
        lay = self.style.layout
        return self.spaced(x, y, text, lay.label_em, lay.label_gap, self.style.label,
                           self.style.label_face)  # fmt: skip


def _units(ch: str) -> float:
    """Width of `ch` in the address block: digits, Latin letters and hyphens are half
    the width of a Chinese character."""
    return 0.5 if ch.isascii() else 1.0


def wrap_address(address: str, per_line: int = CLASSIC.address_chars,
                 max_lines: int = CLASSIC.address_lines) -> list[str]:  # fmt: skip
    """The address as printed: lines as wide as `per_line` Chinese characters (a
    digit takes half), broken wherever the line is full, even inside a number, as the
    card's printer does. An address longer than the block is an error (the label
    would not match the picture)."""
    lines: list[str] = []
    line, width = "", 0.0
    for ch in address:
        if width + _units(ch) > per_line:
            lines.append(line)
            line, width = "", 0.0
        line += ch
        width += _units(ch)
    if line:
        lines.append(line)
    if len(lines) > max_lines:
        raise ValueError(f"address of {len(address)} characters does not fit "
                         f"{max_lines} lines of {per_line}")  # fmt: skip
    return lines


def _birth(pen: _Pen, who: Identity) -> None:
    """The birth date: in columns with 年 月 日 in the labels' colour, or as one run."""
    s, lay, b = pen.style, pen.style.layout, who.birth_date
    year_x, nian_x, month_x, yue_x, day_x, ri_x = lay.birth_columns
    month, day = (f"{b.month:02}", f"{b.day:02}") if lay.birth_padded else (b.month, b.day)
    if lay.birth_joined:
        pen.text(year_x, lay.birth_y, f"{b.year}年{month}月{day}日", lay.value_em, s.ink)
        return
    for x, text in ((year_x, str(b.year)), (month_x, str(month)), (day_x, str(day))):
        pen.text(x, lay.birth_y, text, lay.value_em, s.ink)
    for x, text in ((nian_x, "年"), (yue_x, "月"), (ri_x, "日")):
        pen.text(x, lay.birth_y, text, lay.label_em, s.label, s.label_face)


def _front(pen: _Pen, who: Identity) -> None:
    s, lay = pen.style, pen.style.layout
    right = lay.value_right
    pen.label(lay.label_x, lay.name_y, "姓名")
    pen.text(lay.value_x, lay.name_y, who.name, lay.name_em, s.ink, max_x_mm=right,
             tracking_mm=lay.name_tracking)  # fmt: skip
    pen.label(lay.label_x, lay.sex_y, "性别")
    pen.text(lay.value_x, lay.sex_y, who.sex, lay.value_em, s.ink)
    label_end = pen.label(lay.ethnic_label_x, lay.sex_y, "民族")
    length = pen.length_mm(who.ethnicity, lay.value_em, s.face)
    ethnic_x = max(label_end + 0.8, min(lay.ethnic_x, right - length))
    pen.text(ethnic_x, lay.sex_y, who.ethnicity, lay.value_em, s.ink, max_x_mm=right)
    pen.label(lay.label_x, lay.birth_y, "出生")
    _birth(pen, who)
    pen.label(lay.label_x, lay.address_y, "住址")
    for i, line in enumerate(wrap_address(who.address, lay.address_chars, lay.address_lines)):
        y = lay.address_y + i * lay.address_step
        pen.text(lay.value_x, y, line, lay.value_em, s.ink, max_x_mm=right)
    pen.text(lay.number_label_x, lay.number_y, "公民身份号码", lay.label_em + 0.15, s.label,
             s.label_face)  # fmt: skip
    pen.text(lay.number_x, lay.number_y, who.id_number, lay.number_em, s.ink, face=lay.number_face,
             max_x_mm=CARD_W_MM - 3.0, tracking_mm=lay.number_tracking)  # fmt: skip


#: Microprint: rows of JMSFZ (居民身份证's initials) MICROTEXT_EM high, MICROTEXT_STEP
#: apart, in a colour a little darker than the paper, under everything else.
MICROTEXT_EM = 0.9
MICROTEXT_STEP = 2.3
MICROTEXT_RGB = (190, 202, 210)


def _microtext(pen: _Pen) -> None:
    row = "JMSFZ" * 40
    y = 2.0
    while y < CARD_H_MM:
        shift = (y * 7.3) % 4.0  # the rows' letters do not line up in columns
        pen.text(-shift, y, row, MICROTEXT_EM, MICROTEXT_RGB, face="sans")
        y += MICROTEXT_STEP


def _back(image: Image.Image, pen: _Pen, who: Identity) -> None:
    s, lay = pen.style, pen.style.layout
    if lay.great_wall:
        artwork.great_wall(image, pen.k, (150, 150, 168))
    cx, cy = (pen.px(v) for v in lay.emblem_center)
    artwork.emblem(pen.draw, cx, cy, lay.emblem_r * pen.k)
    (x0, x1), (y1, y2), (em1, em2) = lay.title_x, lay.title_y, lay.title_em
    face1, face2 = lay.title_faces
    title1, title2 = "中华人民共和国", "居民身份证"
    pen.spaced(x0, y1, title1, em1, (x1 - x0 - len(title1) * em1) / 6, s.ink, face1)
    pen.spaced(x0, y2, title2, em2, (x1 - x0 - len(title2) * em2) / 4, s.ink, face2)
    for y, label, value in ((lay.authority_y, "签发机关", who.issuing_authority),
                            (lay.validity_y, "有效期限", who.validity_text)):  # fmt: skip
        pen.spaced(lay.back_label_x, y, label, lay.label_em, lay.back_label_gap, s.label,
                   s.label_face)  # fmt: skip
        pen.text(lay.back_value_x, y, value, lay.back_value_em, s.ink, max_x_mm=CARD_W_MM - 3.0)


def drawn_texts(who: Identity, side: str) -> list[str]:
    """Every string `render_card` draws in a CJK face for `side` (for glyph checks)."""
    if side == "front":
        return ["姓名性别民族出生年月日住址公民身份号码", who.name, who.sex, who.ethnicity,
                who.address, str(who.birth_date.year)]  # fmt: skip
    return ["中华人民共和国居民身份证签发机关有效期限", who.issuing_authority, who.validity_text]


def render_card(who: Identity, side: str, width: int = 1000, seed: int | None = None,
                style: Style | None = None) -> np.ndarray:  # fmt: skip
    """Draw one side of `who`'s card, `width` pixels wide, as an RGB array, in
    `style` (default: a classic-layout style drawn from `seed`).

    Pixels outside the rounded corners are the background pattern; use
    `corner_mask(width)` to cut the card out.
    """
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, not {side!r}")
    if width < 100:
        raise ValueError("width must be at least 100 px")
    style = style or Style.draw(random.Random(seed))
    lay = style.layout
    image = Image.fromarray(artwork.background(lay.background, side, style.pattern, width,
                                               style.tint))  # fmt: skip
    pen = _Pen(image, width, style)
    if lay.microtext:
        _microtext(pen)
    if side == "front":
        box = (pen.px(lay.photo_box[0]), pen.px(lay.photo_box[1]), pen.px(lay.photo_box[2]),
               pen.px(lay.photo_box[3]))  # fmt: skip
        portrait = artwork.face if lay.portrait == "face" else artwork.silhouette
        portrait(image, box, style.sitter)
        _front(pen, who)
    else:
        _back(image, pen, who)
    return np.asarray(image)
