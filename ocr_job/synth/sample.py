"""One generated picture in memory: the person, the side, the level, the pixels."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np

from ocr_job.records import Fields
from ocr_job.synth import watermark as _watermark
from ocr_job.synth.augment import Shot, make_shot
from ocr_job.synth.fonts import covered
from ocr_job.synth.identity import Identity, make_identity
from ocr_job.synth.layouts import layout
from ocr_job.synth.render import Style, render_card, wrap_address


@dataclass(frozen=True)
class Sample:
    """A generated picture of one side of one card."""

    identity: Identity
    side: str
    level: str
    shot: Shot
    style: Style

    @property
    def image(self) -> np.ndarray:
        """RGB uint8 array."""
        return self.shot.image

    @property
    def bgr(self) -> np.ndarray:
        """BGR uint8 array, as OpenCV and the OCR engines want it."""
        return np.ascontiguousarray(self.shot.image[..., ::-1])

    @property
    def fields(self) -> Fields:
        return self.identity.side_fields(self.side)

    @property
    def transform(self) -> dict[str, Any]:
        return self.shot.transform

    def jpeg(self) -> bytes:
        return self.shot.jpeg()

    @property
    def traits(self) -> dict[str, Any]:
        """What kind of card this is, for per-class reports: the classes of name and
        address, the address's printed lines and the value face."""
        lay = self.style.layout
        lines = len(wrap_address(self.identity.address, lay.address_chars, lay.address_lines))
        mark = self.shot.transform.get("watermark")
        return {"name": self.identity.name_kind, "address": self.identity.address_kind,
                "address_lines": lines, "face": self.style.face,
                "watermark": mark["colour"] if mark else None}  # fmt: skip


def identity_for(key: str) -> Identity:
    """The person of sample `key` (any string; the same key gives the same person)."""
    return make_identity(random.Random(f"{key}:who"), covered)


def make_sample(key: str | int, side: str = "front", level: str = "clean",
                width: int = 1000, style: str = "classic", watermark: bool = False) -> Sample:  # fmt: skip
    """A picture of `side` at difficulty `level` in layout style `style`, with a KYC
    `watermark` laid over it if asked (`synth.watermark`), a pure function of its
    arguments."""
    who = identity_for(str(key))
    drawn = Style.draw(random.Random(f"{key}:style"), layout(style))
    shot = make_shot(
        level,
        lambda w: render_card(who, side, w, style=drawn),
        random.Random(f"{key}:{side}:{level}:shot"),
        width,
    )
    if watermark:
        shot = _watermark.lay(shot, random.Random(f"{key}:{side}:{level}:watermark"))
    return Sample(who, side, level, shot, drawn)
