"""A KYC watermark laid over a copy of a card: rows of translucent text across the picture.

Banks, telecom shops and employers stamp a copy of an ID card before they keep it
("仅供办理银行开户使用 他用无效": for opening an account only, void for any other use), as
software does on the picture it stores. The text is the card's own script, as dark as a
label or darker where the stamp is black, and it runs over the values: the recogniser
reads its characters into a name or an address line it crosses.

`lay` draws it over a finished picture (`augment.Shot`), sized to the card in it; held out
of the default sets (`ocr-job samples --watermark`). Every choice comes from the
`random.Random` passed in.
"""

from __future__ import annotations

import random
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw

from ocr_job.synth import fonts
from ocr_job.synth.augment import Shot

USES: tuple[str, ...] = (
    "仅供办理银行开户使用", "仅供办理手机入网使用", "仅供入职登记使用", "仅供社保办理使用",
    "仅供本次贷款申请使用", "仅供实名认证使用", "仅限办理宽带业务", "仅供证券开户使用",
)  # fmt: skip
TAILS: tuple[str, ...] = ("他用无效", "复印无效", "再次复印无效", "")
#: RGB stamp colours: red, grey, blue, black.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "grey": (140, 140, 140),
    "blue": (40, 90, 200),
    "black": (30, 30, 30),
}
FACES: tuple[str, ...] = ("sans-bold", "sans", "hei", "serif-bold", "kai")
#: How much of the stamp's colour covers what is under it, by colour (black is lighter).
OPACITY: dict[str, tuple[float, float]] = {
    "red": (0.2, 0.35),
    "grey": (0.2, 0.35),
    "blue": (0.2, 0.35),
    "black": (0.12, 0.22),
}


def lay(shot: Shot, rng: random.Random) -> Shot:
    """`shot` with a watermark over its whole picture; its transform says which."""
    colour = rng.choice(tuple(COLOURS))
    text = "  ".join(t for t in (rng.choice(USES), rng.choice(TAILS)) if t)
    card_w = float(shot.transform.get("card_width") or shot.image.shape[1])
    em = max(10, round(card_w * rng.uniform(0.035, 0.07)))
    angle = rng.choice((-1, 1)) * rng.uniform(15, 45) if rng.random() < 0.85 else 0.0
    opacity = rng.uniform(*OPACITY[colour])
    face = rng.choice(FACES)
    mask = _rows(shot.image.shape[:2], text, em, angle, face, rng)
    rgb = np.array(COLOURS[colour], np.float32)
    if shot.transform.get("grey"):  # a grey copy stays grey: its JPEG keeps one channel
        rgb = np.full(3, float(rgb @ np.array([0.299, 0.587, 0.114], np.float32)), np.float32)
    alpha = mask.astype(np.float32)[..., None] * np.float32(opacity / 255)
    image = (shot.image.astype(np.float32) * (1 - alpha) + rgb * alpha).round().astype(np.uint8)
    mark: dict[str, Any] = {"colour": colour, "opacity": round(opacity, 3), "em": em,
                            "angle": round(angle, 1), "face": face}  # fmt: skip
    return Shot(image, shot.jpeg_quality, {**shot.transform, "watermark": mark})


def _rows(size: tuple[int, int], text: str, em: int, angle: float, face: str,
          rng: random.Random) -> np.ndarray:  # fmt: skip
    """A mask (uint8, `size`) of rows of `text` repeated, turned `angle` degrees."""
    h, w = size
    side = int(np.hypot(h, w)) + 2 * em
    canvas = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(canvas)
    font = fonts.font(face, em)
    row = (text + "    ") * (side // max(1, em * len(text)) + 2)
    step = round(em * rng.uniform(2.6, 4.0))
    for i, y in enumerate(range(-em, side, step)):
        draw.text((-(i * em * 3) % (em * 6) - em * 6, y), row, fill=255, font=font)
    turn = cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0)
    turn[:, 2] += np.array(((w - side) / 2, (h - side) / 2))
    out: np.ndarray = cv2.warpAffine(np.asarray(canvas), turn, (w, h), flags=cv2.INTER_LINEAR)
    return out
