"""The picture warnings (`ocr_job.quality`) on generated cases: each detector finds its
kind across layout styles and stays quiet on clean colour scans and photos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ocr_job import imaging, quality
from ocr_job.config import DEFAULT_CARD_LONG_SIDE, DEFAULT_MAX_PIXELS
from ocr_job.records import IMAGE_WARNING_CODES
from ocr_job.synth import make_sample
from ocr_job.synth.kyc_cases import EXPECTED, KINDS, make_case
from ocr_job.synth.layouts import STYLES

README = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
#: Seeds of these tests: not those the thresholds were looked at on (1, 2, 3) nor the
#: bench's (11, 12).
SEED = 41


def detect(kind: str, key: str, side: str, style: str) -> set[str]:
    case = make_case(kind, key, side, style)
    image = imaging.decode(case.jpeg(), DEFAULT_MAX_PIXELS)
    located = imaging.locate_card(image, DEFAULT_CARD_LONG_SIDE)
    scene = quality.survey(image)
    seen = quality.inspect(located.image, side, False, located.found_quad, scene)
    return set(scene.warnings) | set(seen.warnings)


def test_every_picture_warning_is_documented_and_generated() -> None:
    for code in IMAGE_WARNING_CODES:
        assert f"| `{code}` |" in README, code
    assert set().union(*EXPECTED.values()) == set(IMAGE_WARNING_CODES)


#: Kinds whose detector needs the card's outline, which a hand over the card's edge or the
#: picture's edge can hide: found in half the styles at least (docs/benchmarks.md has
#: their recall, below the issue's target); the others in all styles but one.
NEEDS_OUTLINE = ("cut", "finger")


@pytest.mark.parametrize("kind", [k for k in KINDS if EXPECTED[k]])
def test_each_kind_raises_its_warning_in_most_styles(kind: str) -> None:
    (code,) = EXPECTED[kind]
    hits = [
        code in detect(kind, f"{SEED}:{i}", ("front", "back")[i % 2], style) for i, style in enumerate(STYLES)
    ]
    assert sum(hits) >= (len(STYLES) // 2 if kind in NEEDS_OUTLINE else len(STYLES) - 1), hits


@pytest.mark.parametrize("kind", ["clean_scan", "clean_photo"])
def test_clean_colour_cards_raise_no_warning(kind: str) -> None:
    raised = {}
    for i, style in enumerate(STYLES * 2):
        found = detect(kind, f"{SEED}:{i}", ("front", "back")[i % 2], style)
        if found:
            raised[(style, i)] = found
    assert len(raised) <= 1, raised


def test_sharpness_falls_as_the_blur_grows() -> None:
    card = make_sample(f"{SEED}:s", "front", "clean", 1000, "realdesign").bgr
    grey = cv2.cvtColor(card, cv2.COLOR_BGR2GRAY)
    widths = [quality.edge_width(cv2.GaussianBlur(grey, (0, 0), s) if s else grey) for s in (0, 1.5, 3, 5)]
    assert widths == sorted(widths) and widths[-1] > 2 * widths[0], widths
    sharp = quality.inspect(card, "front", False, True)
    blurred = quality.inspect(cv2.GaussianBlur(card, (0, 0), 4), "front", False, True)
    assert sharp.quality.sharpness > 0.6 > quality.BLURRY_BELOW > blurred.quality.sharpness
    assert "image_blurry" in blurred.warnings and "image_blurry" not in sharp.warnings
    assert 0 <= blurred.quality.score <= blurred.quality.sharpness


def test_a_grey_copy_of_a_colour_card_has_no_chroma_whatever_its_cast() -> None:
    card = make_sample(f"{SEED}:c", "back", "clean", 1000, "classic").bgr
    grey = cv2.cvtColor(cv2.cvtColor(card, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    warm = np.clip(grey.astype(np.float32) * [0.85, 0.95, 1.08], 0, 255).astype(np.uint8)
    assert "photocopy" not in quality.inspect(card, "back", False, True).warnings
    for copy in (grey, warm):
        assert "photocopy" in quality.inspect(copy, "back", False, True).warnings


def test_glare_counts_only_a_highlight_over_the_text_area() -> None:
    card = make_sample(f"{SEED}:g", "front", "clean", 1000, "classic").bgr.copy()
    h, w = card.shape[:2]
    portrait = card.copy()  # white over the portrait: not over text
    cv2.ellipse(portrait, (int(w * 0.8), int(h * 0.4)), (60, 30), 0, 0, 360, (255, 255, 255), -1)
    text = card.copy()
    cv2.ellipse(text, (int(w * 0.3), int(h * 0.35)), (60, 30), 0, 0, 360, (255, 255, 255), -1)
    assert quality.inspect(portrait, "front", False, True).quality.glare == 0
    turned = quality.inspect(portrait[::-1, ::-1].copy(), "front", True, True)
    assert turned.quality.glare == 0  # the portrait's place turns with the card
    seen = quality.inspect(text, "front", False, True)
    assert "glare" in seen.warnings and seen.quality.glare > quality.GLARE_MIN_SHARE


def test_a_pixel_grid_makes_spectral_peaks_print_does_not() -> None:
    card = make_sample(f"{SEED}:p", "front", "clean", 1000, "wide").bgr
    assert quality.spectral_peaks(card) < quality.SCREEN_PEAKS
    grid = np.ones_like(card, np.float32)
    grid[::3] *= 0.55  # the dark rows between a screen's pixel rows, every 3 px
    grid[:, ::3] *= 0.55
    screen = (card * grid).astype(np.uint8)
    assert quality.spectral_peaks(screen) >= quality.SCREEN_PEAKS
