"""The photographed set's compositor: where the card lands, what covers it, the set's mix."""

from __future__ import annotations

import json
import random
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from bench import photoset


def _card(width: int = 600) -> np.ndarray:
    """A card-sized RGB picture with structure everywhere (so a cover or a misplacement
    shows), drawn here rather than rendered: the compositor takes any card picture."""
    height = round(width * photoset.CARD_H_MM / photoset.CARD_W_MM)
    rng = np.random.default_rng(7)
    small = rng.integers(0, 255, (height // 12 + 1, width // 12 + 1, 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)


def _card_back_from(picture: np.ndarray, corners: list[list[float]], card: np.ndarray) -> np.ndarray:
    h, w = card.shape[:2]
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    matrix = cv2.getPerspectiveTransform(np.array(corners, np.float32), dst)
    return cv2.warpPerspective(picture, matrix, (w, h))


@pytest.mark.parametrize("background", photoset.BACKGROUNDS)
def test_the_card_lands_at_its_corners_and_nothing_covers_its_text(background: str) -> None:
    card = _card()
    rng = random.Random(f"test:{background}")
    size = (1600, 1200)

    shot = photoset.compose(card, size, background, rng)

    assert shot.image.shape == (1200, 1600, 3)
    corners = np.array(shot.corners)
    assert (corners >= 0).all() and (corners[:, 0] <= 1600).all() and (corners[:, 1] <= 1200).all()
    back = _card_back_from(shot.image, shot.corners, card).astype(np.float32)
    # inside the margin no finger may reach: the picture there is the card, under light
    mm = card.shape[1] / photoset.CARD_W_MM
    inner = (slice(round(4 * mm), -round(4 * mm)), slice(round(4 * mm), -round(4 * mm)))
    a = back[inner].reshape(-1, 3).mean(axis=1)
    b = card.astype(np.float32)[inner].reshape(-1, 3).mean(axis=1)
    assert np.corrcoef(a, b)[0, 1] > 0.8


@pytest.mark.parametrize("seed", range(6))
def test_the_hand_reaches_into_the_card_no_further_than_its_margin(seed: int) -> None:
    """Drawn on a blank picture, the hand's pixels inside the card's outline all lie within
    THUMB_MM of a short edge (and it does reach in: the thumb is on the card)."""
    size = (1600, 1200)
    rng = random.Random(seed)
    corners = photoset.card_corners(rng, size, 900)
    canvas = np.zeros((size[1], size[0], 3), np.uint8)
    hand = photoset._hand_behind(canvas, corners, rng)
    behind = canvas.any(axis=2)
    canvas[:] = 0
    photoset._thumb(canvas, corners, rng, hand)
    thumb = canvas.any(axis=2)
    inside = np.zeros(size[::-1], np.uint8)
    cv2.fillConvexPoly(inside, np.round(corners).astype(np.int32), 1)
    painted = np.argwhere(thumb & (inside > 0))[:, ::-1].astype(np.float64)  # x, y
    assert len(painted) > 0
    tl, tr = corners[0].astype(np.float64), corners[1].astype(np.float64)
    bl, br = corners[3].astype(np.float64), corners[2].astype(np.float64)
    mm = np.linalg.norm(tr - tl) / photoset.CARD_W_MM

    def distance_to_line(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        d = (b - a) / np.linalg.norm(b - a)
        rel = p - a
        return np.abs(rel[:, 0] * d[1] - rel[:, 1] * d[0])

    edge = (tl, bl) if hand["edge"] == "left" else (tr, br)
    # perspective stretches the card unevenly: allow 25% over the nominal reach
    assert distance_to_line(painted, *edge).max() <= 1.25 * photoset.THUMB_MM * mm + 2
    assert behind.sum() > thumb.sum()  # the palm and fingers (drawn under the card)


def test_grey_pictures_are_greyscale_jpegs(tmp_path: Path) -> None:
    shot = photoset.compose(_card(), (1500, 1000), "gradient", random.Random(1), grey=True)
    assert shot.image.ndim == 2
    (tmp_path / "g.jpg").write_bytes(shot.jpeg())
    with Image.open(tmp_path / "g.jpg") as img:
        assert img.mode == "L" and img.size == (1500, 1000)


def test_the_plan_mixes_kinds_sides_styles_and_backgrounds() -> None:
    plans = photoset.plan(48, seed=3, style_names=("a", "b", "c"))
    kinds = {k: [p for p in plans if p.kind == k] for k in photoset.KINDS}
    assert len(kinds["desk"]) == 24 and len(kinds["phone"]) == 12 and len(kinds["grey"]) == 12
    for kind, chosen in kinds.items():
        assert {p.side for p in chosen} == {"front", "back"}, kind
    assert {p.style for p in plans} == {"a", "b", "c"}
    assert {(p.style, p.side) for p in plans} == {(s, side) for s in "abc" for side in ("front", "back")}
    assert {(p.style, p.kind) for p in plans} == {(s, k) for s in "abc" for k in photoset.KINDS}
    assert {p.background for p in plans} == set(photoset.BACKGROUNDS)
    assert photoset.plan(48, seed=3, style_names=("a", "b", "c")) == plans


def test_picture_sizes_follow_their_kind() -> None:
    rng = random.Random(5)
    for _ in range(20):
        w, h = photoset.canvas_size("phone", rng)
        assert max(w, h) == photoset.PHONE_SIDE
        w, h = photoset.canvas_size("desk", rng)
        assert photoset.DESK_SIDE[0] <= max(w, h) <= photoset.DESK_SIDE[1]


def test_a_generated_set_is_labelled_and_left_alone_when_up_to_date(tmp_path: Path) -> None:
    dest = photoset.generate_photoset(tmp_path / "set", 3, seed=11)
    lines = [json.loads(line) for line in (dest / "labels.jsonl").read_text().splitlines()]
    assert [line["level"] for line in lines] == ["desk", "phone", "desk"]
    for line in lines:
        with Image.open(dest / line["source"]) as img:
            assert list(img.size) == line["transform"]["size"]
        fields = line["fields"]
        printed = ("name", "id_number") if line["side"] == "front" else ("issuing_authority",)
        assert all(fields[f] for f in printed)
    stamp = (dest / lines[0]["source"]).stat().st_mtime_ns
    photoset.generate_photoset(tmp_path / "set", 3, seed=11)
    assert (dest / lines[0]["source"]).stat().st_mtime_ns == stamp
