"""Difficulty levels: sizes, geometry bookkeeping and determinism."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image

from ocr_job.synth.augment import LEVELS, make_shot
from ocr_job.synth.render import card_height, render_card
from ocr_job.synth.sample import identity_for, make_sample


def _inside(corners: list[list[float]], size: list[int]) -> bool:
    w, h = size
    return all(-1 <= x <= w + 1 and -1 <= y <= h + 1 for x, y in corners)


@pytest.mark.parametrize("level", LEVELS)
def test_levels_are_deterministic(level: str) -> None:
    a = make_sample("det", "front", level, 600)
    b = make_sample("det", "front", level, 600)
    assert a.jpeg() == b.jpeg()
    assert a.transform == b.transform
    assert a.jpeg() != make_sample("det2", "front", level, 600).jpeg()


def test_clean_is_the_card_on_a_thin_margin() -> None:
    s = make_sample("clean", "back", "clean", 1000)
    h, w = s.image.shape[:2]
    assert 1000 <= w <= 1042
    assert h - card_height(1000) == w - 1000
    (x0, y0), _, (x2, y2), _ = s.transform["corners"]
    assert (x2 - x0, y2 - y0) == (1000, card_height(1000))
    assert s.transform["rotation"] == 0
    assert Image.open(io.BytesIO(s.jpeg())).size == (w, h)


def test_photos_are_1000_to_2000_px_with_the_card_inside() -> None:
    for i in range(12):
        s = make_sample(f"photo{i}", "front" if i % 2 else "back", "photo", 1000)
        t = s.transform
        h, w = s.image.shape[:2]
        assert t["size"] == [w, h]
        assert 995 <= max(w, h) <= 2005
        assert t["rotation"] == 0
        assert abs(t["angle"]) <= 8
        assert 75 <= t["jpeg_quality"] <= 95
        assert _inside(t["corners"], t["size"])
        card_area = _quad_area(t["corners"])
        assert 0.12 < card_area / (w * h) < 0.75  # background 1.2–1.8× the card


def _quad_area(corners: list[list[float]]) -> float:
    xs, ys = np.array(corners).T
    return 0.5 * abs(float(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1))))


def test_hard_covers_every_effect_and_tracks_the_turn() -> None:
    effects: set[str] = set()
    rotations: set[int] = set()
    who = identity_for("hard")
    for i in range(60):
        shot = make_shot("hard", lambda w: render_card(who, "front", w, seed=1),
                         random.Random(f"hard:{i}"), 250)  # fmt: skip
        t = shot.transform
        effects.update(t["effects"])
        rotations.add(t["rotation"])
        assert 1 <= len(t["effects"]) <= 3
        assert _inside(t["corners"], t["size"])
        assert (t["rotation"] != 0) == ("turn" in t["effects"])
        if "low_quality" in t["effects"]:
            assert 30 <= t["jpeg_quality"] <= 70
        if "low_res" in t["effects"]:
            assert 120 <= t["card_width"] <= 180  # 500–700 px at width 1000
        if "greyscale" in t["effects"]:
            assert t["grey"]
            image = Image.open(io.BytesIO(shot.jpeg()))
            assert image.mode == "L" and image.size == tuple(t["size"])
            assert np.array_equal(shot.image[..., 0], shot.image[..., 2])
        else:
            assert not t["grey"]
    assert effects == {"blur", "motion_blur", "low_quality", "low_res", "glare", "turn",
                       "perspective", "huge", "greyscale"}  # fmt: skip
    assert rotations == {0, 90, 180, 270}


def test_turn_maps_the_corners() -> None:
    """After a turn, the card's top edge (TL→TR) points the way the picture was turned."""
    turned = 0
    for i in range(40):
        t = make_sample(f"turn{i}", "front", "hard", 300).transform
        if t["rotation"] == 0:
            continue
        turned += 1
        (x0, y0), (x1, y1), _, _ = t["corners"]
        top_edge = np.degrees(np.arctan2(y1 - y0, x1 - x0)) % 360  # image y points down
        off = abs(top_edge - t["rotation"]) % 360
        assert min(off, 360 - off) < 25, t
    assert turned
