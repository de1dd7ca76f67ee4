"""The KYC watermark: translucent rows of text across the picture, as its label says."""

from __future__ import annotations

import random

import numpy as np
import pytest

from ocr_job.synth import make_sample
from ocr_job.synth.watermark import COLOURS, OPACITY, lay

WIDTH = 500


@pytest.mark.parametrize("key", range(6))
def test_the_stamp_lies_translucent_over_the_picture_in_its_colour(key: int) -> None:
    plain = make_sample(key, "front", "clean", WIDTH)
    marked = make_sample(key, "front", "clean", WIDTH, watermark=True)
    mark = marked.transform["watermark"]
    assert mark["colour"] in COLOURS and marked.traits["watermark"] == mark["colour"]
    low, high = OPACITY[mark["colour"]]
    assert low <= mark["opacity"] <= high
    before, after = plain.image.astype(np.float32), marked.image.astype(np.float32)
    changed = np.abs(after - before).max(axis=2) > 2
    assert 0.03 < changed.mean() < 0.6  # rows of text, not a wash over all of it
    # each changed pixel moved toward the stamp's colour by at most its opacity
    colour = np.array(COLOURS[mark["colour"]], np.float32)
    moved = np.abs(after - before)[changed]
    room = np.abs(colour - before[changed])
    assert np.all(moved <= room * mark["opacity"] + 2)


def test_a_grey_copy_is_stamped_in_grey_and_the_same_key_stamps_alike() -> None:
    greys = [make_sample(k, "back", "hard", WIDTH) for k in range(40)]
    grey = next(s for s in greys if s.transform.get("grey"))
    marked = lay(grey.shot, random.Random(1))
    assert np.array_equal(marked.image[..., 0], marked.image[..., 2])
    again = lay(grey.shot, random.Random(1))
    assert np.array_equal(marked.image, again.image) and marked.transform == again.transform
