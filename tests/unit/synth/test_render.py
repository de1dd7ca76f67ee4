"""Drawing: the layout scales, the fonts cover every character drawn, fonts are found."""

from __future__ import annotations

import functools
import random
from pathlib import Path

import numpy as np
import pytest

from ocr_job.synth import fonts
from ocr_job.synth.identity import RARE_CHARS, make_identity
from ocr_job.synth.layouts import STYLES, layout
from ocr_job.synth.render import SIDES, card_height, corner_mask, drawn_texts, render_card
from ocr_job.synth.sample import identity_for


@pytest.mark.parametrize("width", [500, 1000, 4000])
@pytest.mark.parametrize("side", SIDES)
def test_card_has_the_real_proportions_at_any_width(width: int, side: str) -> None:
    image = render_card(identity_for("r"), side, width, seed=1)
    assert image.shape == (card_height(width), width, 3)
    assert image.dtype == np.uint8
    assert abs(image.shape[1] / image.shape[0] - 85.6 / 54) < 0.01
    dark = (image.max(axis=2) < 90).mean()
    assert 0.005 < dark < 0.2  # there is text, and the card is light


def test_rendering_is_deterministic_and_varies_with_the_seed() -> None:
    who = identity_for("d")
    a = render_card(who, "front", 600, seed=3)
    assert np.array_equal(a, render_card(who, "front", 600, seed=3))
    assert not np.array_equal(a, render_card(who, "front", 600, seed=4))


def test_back_has_a_red_emblem_top_left() -> None:
    image = render_card(identity_for("e"), "back", 856, seed=0).astype(int)
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    red = (r > 150) & (g < 90) & (b < 90)
    h, w = red.shape
    assert red[: h // 2, : w // 3].mean() > 0.1
    assert red[:, w // 2 :].mean() == 0


def test_every_drawn_character_has_a_glyph() -> None:
    text = set("".join(RARE_CHARS))
    for i in range(600):
        who = make_identity(random.Random(f"glyph:{i}"), fonts.covered)
        for side in SIDES:
            text.update("".join(drawn_texts(who, side)))
    used = "".join(sorted(text - set(RARE_CHARS)))
    assert not fonts.missing_glyphs(used, ("sans", "serif", "sans-bold", "serif-bold"))
    # the check itself works: a private-use and an unassigned code point are missing
    assert fonts.missing_glyphs("\ue000\u0378", ("sans",)) == {"\ue000", "\u0378"}
    assert fonts.has_glyph("ocrb", "X")
    assert all(fonts.has_glyph("ocrb", d) for d in "0123456789")


def test_rare_characters_only_used_when_covered() -> None:
    names = [make_identity(random.Random(f"rare:{i}"), fonts.covered).name for i in range(3000)]
    used = {c for n in names for c in n if c in RARE_CHARS}
    assert used, "some names should use a rare character"
    assert all(fonts.covered(c) for c in used)
    never = {make_identity(random.Random(f"rare:{i}"), lambda _c: False).name for i in range(500)}
    assert not any(c in RARE_CHARS for n in never for c in n)


def test_corner_mask_is_rounded() -> None:
    mask = corner_mask(1000)
    h, w = mask.shape
    assert mask[0, 0] == mask[0, w - 1] == mask[h - 1, 0] == mask[h - 1, w - 1] == 0
    assert mask[h // 2, w // 2] == mask[0, w // 2] == mask[h // 2, 0] == 255


def test_missing_font_names_the_debian_package(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:  # fmt: skip
    monkeypatch.setattr(fonts, "FONT_DIRS", (tmp_path,))
    monkeypatch.setattr(fonts.shutil, "which", lambda _name: None)
    fonts.face.cache_clear()
    try:
        with pytest.raises(fonts.FontNotFoundError, match="fonts-ocr-b"):
            fonts.face("ocrb")
        with pytest.raises(fonts.FontNotFoundError, match="fonts-noto-cjk"):
            fonts.face("serif")
    finally:
        fonts.face.cache_clear()


@functools.cache
def _cmap(key: str) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    face = fonts.face(key)
    return frozenset(TTFont(face.path, fontNumber=face.index, lazy=True).getBestCmap())


@pytest.mark.parametrize("style", STYLES)
def test_every_value_face_draws_the_rare_name_characters_from_its_own_map(style: str) -> None:
    """A rare name character (骉 婳 琤 燚 …) is drawn by a face whose character map holds
    it (read with fontTools, apart from `has_glyph`'s own test): the face of the style, or
    the fallback where the style's face lacks it (Micro Hei has no 䶮). So a name the
    recognisers miss on a style was printed, not a .notdef box."""
    for key in layout(style).value_faces:
        for part_key, part in fonts.runs(key, "".join(RARE_CHARS)):
            assert all(ord(ch) in _cmap(part_key) for ch in part), (style, key, part_key)
    if style == "realdesign":  # its hei faces hold all but one themselves
        assert sum(ord(ch) not in _cmap("microhei") for ch in RARE_CHARS) == 1
        assert all(ord(ch) in _cmap("hei") for ch in RARE_CHARS)
