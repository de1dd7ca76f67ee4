"""The temporary resident identity card (临时居民身份证), drawn for tests and benchmarks.

As 《中华人民共和国临时居民身份证管理办法》 describes it (第四条, 第五条, 第七条): a single
laminated card of the ID-1 size (85.6 × 54 mm), light green; one side (`title`) bears the
card's name in two lines, 中华人民共和国 / 临时居民身份证, above the middle, and a brown
Great Wall below it; the other side (`data`) carries all nine items — 姓名, 性别, 民族,
出生, 住址, 公民身份号码, a black-and-white photograph, 签发机关 and 有效期限 — on a light
green wave pattern. The period is three months from the day of issue.

`make_temporary(key, side, width)` draws a person's card (the person of `identity_for(key)`
with a three-month period), `temporary_shot(key, side, level)` a picture of it (scan,
photo, hard photo); `temporary_fields(key)` are the nine fields it shows.
"""

from __future__ import annotations

import dataclasses
import datetime
import random

import numpy as np
from PIL import Image

from ocr_job.idcard.temporary import add_months
from ocr_job.records import Fields
from ocr_job.synth import artwork
from ocr_job.synth.augment import Shot, make_shot
from ocr_job.synth.identity import Identity
from ocr_job.synth.layouts import REALDESIGN
from ocr_job.synth.render import Style, _Pen, wrap_address
from ocr_job.synth.sample import identity_for

TEMPORARY_SIDES: tuple[str, ...] = ("data", "title")
#: The months a temporary card is valid for (管理办法 第七条).
TEMPORARY_MONTHS = 3
#: Light green: the card's main colour, a shift of the wave pattern's tint.
GREEN_TINT = (-14, 6, -18)
BROWN = (128, 84, 52)

# Data side, millimetres: label and value columns, baselines (eight rows in 54 mm).
LABEL_X, VALUE_X = 4.2, 12.6
NAME_Y, SEX_Y, BIRTH_Y, ADDRESS_Y, ADDRESS_STEP = 7.6, 12.6, 17.6, 22.6, 3.7
ADDRESS_CHARS, ADDRESS_LINES = 12, 4
NUMBER_Y, AUTHORITY_Y, VALIDITY_Y = 39.4, 44.8, 50.0
LABEL_EM, VALUE_EM, NAME_EM, NUMBER_EM = 2.3, 2.8, 3.2, 3.4
PHOTO_BOX = (59.0, 5.0, 81.0, 33.0)


def temporary_identity(key: str | int) -> Identity:
    """The person of `key`, with a temporary card's period: three months from an issue
    date after the holder's 16th birthday."""
    who = identity_for(str(key))
    rng = random.Random(f"{key}:temporary")
    first = max(who.birth_date.replace(year=who.birth_date.year + 16), datetime.date(2004, 1, 1))
    last = datetime.date(2025, 12, 31)
    start = first + datetime.timedelta(days=rng.randrange(max(1, (last - first).days)))
    return dataclasses.replace(who, valid_from=start, valid_to=add_months(start, TEMPORARY_MONTHS))


def temporary_fields(key: str | int) -> Fields:
    return temporary_identity(key).fields()


def make_temporary(key: str | int, side: str = "data", width: int = 1000) -> np.ndarray:
    """One side (`data` or `title`) of person `key`'s temporary card, RGB, `width` px wide."""
    if side not in TEMPORARY_SIDES:
        raise ValueError(f"side must be one of {TEMPORARY_SIDES}, not {side!r}")
    who = temporary_identity(key)
    style = Style.draw(random.Random(f"{key}:style"), REALDESIGN)
    style = dataclasses.replace(style, tint=GREEN_TINT, dx_mm=style.dx_mm / 2, dy_mm=style.dy_mm / 2)
    image = Image.fromarray(artwork.background("waves", "back", style.pattern, width, GREEN_TINT))
    pen = _Pen(image, width, style)
    if side == "title":
        _title(image, pen)
    else:
        _data(image, pen, who)
    return np.asarray(image)


def temporary_shot(key: str | int, side: str = "data", level: str = "clean", width: int = 1000) -> Shot:
    """A picture of one side of person `key`'s temporary card at difficulty `level` (as
    `make_sample`: a scan, a photo on a desk, a hard photo)."""
    return make_shot(
        level,
        lambda w: make_temporary(key, side, w),
        random.Random(f"{key}:{side}:{level}:temporary-shot"),
        width,
    )


def _title(image: Image.Image, pen: _Pen) -> None:
    artwork.great_wall(image, pen.k, BROWN)
    ink = (24, 24, 28)
    pen.spaced(24.0, 17.0, "中华人民共和国", 4.6, 1.4, ink, "ming")
    pen.spaced(14.0, 27.5, "临时居民身份证", 7.0, 1.0, ink, "ming")


def _data(image: Image.Image, pen: _Pen, who: Identity) -> None:
    s = pen.style
    x0, y0, x1, y1 = (pen.px(v) for v in PHOTO_BOX)
    box = (x0, y0, x1, y1)
    artwork.face(image, box, s.sitter)
    photo = image.crop(box).convert("L").convert("RGB")  # a black-and-white photograph
    image.paste(photo, (x0, y0))
    right = PHOTO_BOX[0] - 0.6

    def label(x: float, y: float, text: str) -> float:
        return pen.spaced(x, y, text, LABEL_EM, 0.9, s.label, s.label_face)

    label(LABEL_X, NAME_Y, "姓名")
    pen.text(VALUE_X, NAME_Y, who.name, NAME_EM, s.ink, max_x_mm=right)
    label(LABEL_X, SEX_Y, "性别")
    pen.text(VALUE_X, SEX_Y, who.sex, VALUE_EM, s.ink)
    end = label(24.0, SEX_Y, "民族")
    pen.text(end + 2.4, SEX_Y, who.ethnicity, VALUE_EM, s.ink, max_x_mm=right)
    label(LABEL_X, BIRTH_Y, "出生")
    b = who.birth_date
    for x, text in ((VALUE_X, f"{b.year}"), (VALUE_X + 10.6, f"{b.month}"), (VALUE_X + 17.4, f"{b.day}")):
        pen.text(x, BIRTH_Y, text, VALUE_EM, s.ink)
    for x, text in ((VALUE_X + 7.6, "年"), (VALUE_X + 14.4, "月"), (VALUE_X + 21.2, "日")):
        pen.text(x, BIRTH_Y, text, LABEL_EM, s.label, s.label_face)
    label(LABEL_X, ADDRESS_Y, "住址")
    for i, line in enumerate(wrap_address(who.address, ADDRESS_CHARS, ADDRESS_LINES)):
        pen.text(VALUE_X, ADDRESS_Y + i * ADDRESS_STEP, line, VALUE_EM, s.ink, max_x_mm=right)
    pen.text(LABEL_X, NUMBER_Y, "公民身份号码", LABEL_EM + 0.1, s.label, s.label_face)
    pen.text(27.0, NUMBER_Y, who.id_number, NUMBER_EM, s.ink, face="ocrb", max_x_mm=82.6,
             tracking_mm=0.35)  # fmt: skip
    label(LABEL_X, AUTHORITY_Y, "签发机关")
    pen.text(19.6, AUTHORITY_Y, who.issuing_authority, VALUE_EM, s.ink, max_x_mm=82.6)
    label(LABEL_X, VALIDITY_Y, "有效期限")
    pen.text(19.6, VALIDITY_Y, who.validity_text, VALUE_EM, s.ink, max_x_mm=82.6)
