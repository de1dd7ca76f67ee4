"""The card's outline in a photo (`imaging.find_card_quad`), as the parser's input depends
on it: a found card is read at full resolution, a missed one only as part of the photo.

(These exercise `ocr_job.imaging`; they live here with the accuracy work they belong to.)
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ocr_job import imaging

CARD_W, CARD_H = 856, 540


def _card(pattern: bool) -> np.ndarray:
    """A pale card with rounded corners, text-like strokes and, if asked, a wavy print."""
    card = np.full((CARD_H, CARD_W, 3), 236, np.uint8)
    if pattern:
        for y in range(0, CARD_H, 9):
            xs = np.arange(0, CARD_W, 4)
            pts = np.stack([xs, y + 4 * np.sin(xs / 23.0)], axis=1).astype(np.int32)
            cv2.polylines(card, [pts], False, (205, 200, 215), 1)
    for row in range(5):
        cv2.rectangle(card, (150, 80 + row * 70), (480, 110 + row * 70), (40, 40, 40), -1)
    return card


def _photo(
    pattern: bool, size: tuple[int, int], dst: list[list[float]], background: tuple[int, int, int]
) -> np.ndarray:
    w, h = size
    photo = np.full((h, w, 3), background, np.uint8)
    mask = np.zeros((CARD_H, CARD_W), np.uint8)
    r = 30  # rounded corners, as printed cards have
    cv2.rectangle(mask, (r, 0), (CARD_W - r, CARD_H), 255, -1)
    cv2.rectangle(mask, (0, r), (CARD_W, CARD_H - r), 255, -1)
    for cx, cy in ((r, r), (CARD_W - r, r), (r, CARD_H - r), (CARD_W - r, CARD_H - r)):
        cv2.circle(mask, (cx, cy), r, 255, -1)
    src = np.float32([[0, 0], [CARD_W, 0], [CARD_W, CARD_H], [0, CARD_H]])
    m = cv2.getPerspectiveTransform(src, np.float32(dst))
    card = cv2.warpPerspective(_card(pattern), m, (w, h))
    inside = cv2.warpPerspective(mask, m, (w, h)) > 127
    photo[inside] = card[inside]
    return cv2.GaussianBlur(photo, (3, 3), 0)


# A 3:2 photo has nearly the card's shape: its frame must not be taken for the card.
@pytest.mark.parametrize("background", [(60, 100, 140), (200, 215, 225)])
def test_a_card_in_a_photo_of_card_like_shape_is_found(background: tuple[int, int, int]) -> None:
    dst = [[380.0, 210.0], [1180.0, 290.0], [1120.0, 800.0], [330.0, 720.0]]
    photo = _photo(True, (1500, 1000), dst, background)
    quad = imaging.find_card_quad(photo)
    assert quad is not None
    # the sides are refitted to the edges: corners within 1 % of the card's width
    error = np.abs(imaging._order_corners(quad) - np.float32(dst)).max()
    assert error < 0.01 * 800


def test_the_printed_pattern_is_no_outline() -> None:
    """A close crop of a card: the wavy print and text blocks have edges everywhere, but
    no four sides of edges running along them."""
    card = _card(True)
    assert imaging.find_card_quad(card) is None
    assert not imaging.locate_card(card, 960).found_quad


@pytest.mark.parametrize("key", [1, 3, 5])
def test_generated_photos_are_located_to_their_true_corners(key: int) -> None:
    """Photos of the project's generator whose outline the earlier check rejected."""
    from ocr_job.synth.fonts import FontNotFoundError
    from ocr_job.synth.sample import make_sample

    try:
        sample = make_sample(key, "front", "photo")
    except FontNotFoundError:
        pytest.skip("the generator's fonts are not installed")
    image = imaging.decode(sample.jpeg(), 40_000_000)
    transform = sample.transform
    scale = image.shape[1] / transform["size"][0]
    quad = imaging.find_card_quad(image)
    assert quad is not None
    true = imaging._order_corners(np.float32(transform["corners"]) * scale)
    error = np.abs(imaging._order_corners(quad) - true).max()
    assert error < 0.01 * transform["card_width"] * scale


VARIANTS = [
    {"min_share": 0.03},
    {},
    {"loose": True},
    {"loose": True, "cut": True},
    {"min_share": 0.025, "per_map": 12, "nested": True},
]


@pytest.mark.parametrize("background", [(60, 100, 140), (200, 215, 225)])
def test_one_search_asked_for_every_variant_finds_what_a_search_of_each_finds(
    background: tuple[int, int, int],
) -> None:
    """The pipeline makes one outline search per picture and asks it for each variant (the
    survey's, two-sided pages', the located card's, a cut card's): each answer is the one
    a search made for that variant alone gives, in any order of asking."""
    whole = [[380.0, 210.0], [1180.0, 290.0], [1120.0, 800.0], [330.0, 720.0]]
    cut = [[-200.0, 200.0], [600.0, 230.0], [580.0, 740.0], [-220.0, 700.0]]  # past the left edge
    # (the cut card on a dark table, where it is found as cut)
    photos = [_photo(True, (1500, 1000), whole, background), _photo(True, (1200, 900), cut, (60, 100, 140))]
    for photo in photos:
        alone = [imaging.CardSearch(photo).quads(**kw) for kw in VARIANTS]  # type: ignore[arg-type]
        assert any(alone), "the photo has an outline to find"
        for order in (list(range(len(VARIANTS))), list(range(len(VARIANTS)))[::-1]):
            shared = imaging.CardSearch(photo)
            for k in order:
                got = shared.quads(**VARIANTS[k])  # type: ignore[arg-type]
                assert len(got) == len(alone[k])
                assert all(np.array_equal(a, b) for a, b in zip(got, alone[k], strict=True))
