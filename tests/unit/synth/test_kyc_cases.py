"""The generated cases of the picture warnings: pure functions of their key, every kind in
every style, each naming the warnings it must raise."""

from __future__ import annotations

import numpy as np
import pytest

from ocr_job.records import IMAGE_WARNING_CODES
from ocr_job.synth import kyc_held_out
from ocr_job.synth.kyc_cases import CLEAN_KINDS, EXPECTED, HELD_OUT_KINDS, KINDS, cases, make_case


@pytest.mark.parametrize("kind", KINDS)
def test_a_case_is_a_pure_function_of_its_key(kind: str) -> None:
    a, b = make_case(kind, "5:1", "back", "wide"), make_case(kind, "5:1", "back", "wide")
    assert a.jpeg() == b.jpeg() and a.info == b.info
    assert a.image.dtype == np.uint8 and a.image.ndim == 3 and min(a.image.shape[:2]) >= 400
    assert make_case(kind, "5:2", "back", "wide").jpeg() != a.jpeg()


def test_every_warning_has_cases_and_clean_cases_expect_none() -> None:
    assert set().union(*EXPECTED.values()) == set(IMAGE_WARNING_CODES)
    assert all(not EXPECTED[kind] for kind in CLEAN_KINDS)
    assert {code for kind in HELD_OUT_KINDS for code in EXPECTED[kind]} == {"occlusion", "image_blurry"}


def test_cases_cycle_sides_and_styles() -> None:
    named = cases(3, 4, styles=("classic", "compact"), kinds=("photocopy",))
    assert [n for n, _ in named] == [
        "photocopy/0001-front.jpg",
        "photocopy/0002-back.jpg",
        "photocopy/0003-front.jpg",
        "photocopy/0004-back.jpg",
    ]
    assert [c.style for _, c in named] == ["classic", "classic", "compact", "compact"]


def test_a_scanned_photocopy_has_no_colour_and_unknown_kinds_are_refused() -> None:
    copy = make_case("photocopy", "6:1", "front", "realdesign")
    if copy.info["how"] != "photo":  # scanned: grey, but for the scanner's noise
        assert np.ptp(copy.image.astype(np.int16), axis=2).mean() < 4
    with pytest.raises(ValueError):
        make_case("hologram", "6:1")


def test_cases_vary_within_each_kind() -> None:
    """Cuts on every edge of the picture, occluders of every sort, glare spots and bands on
    photos and scans: the classes the warnings cover, not one instance of each."""
    kinds = ("cut", "occluded", "glare", "occluded_other", "blur_other")
    infos = {kind: [c.info for _, c in cases(7, 24, kinds=(kind,))] for kind in kinds}
    assert {edge for info in infos["cut"] for edge in info["edges"]} == {"left", "right", "top", "bottom"}
    assert any(len(info["edges"]) == 2 for info in infos["cut"])  # a corner cut off
    assert {info["object"] for info in infos["occluded"]} == {"finger", "thumb", "pen", "sticker", "coin"}
    assert {info["object"] for info in infos["occluded_other"]} == set(kyc_held_out.OBJECTS)
    assert {info["how"] for info in infos["blur_other"]} == set(kyc_held_out.BLURS)
    assert {(info["how"], info["shape"]) for info in infos["glare"]} >= {
        ("photo", "spot"),
        ("photo", "band"),
        ("scan", "spot"),
        ("scan", "band"),
    }
