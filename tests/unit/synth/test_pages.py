"""The page and PDF generators: pure functions of their arguments, with what they claim."""

from __future__ import annotations

import numpy as np
import pytest

from ocr_job import pdfpages
from ocr_job.records import FIELD_NAMES
from ocr_job.synth.pages import ARRANGEMENTS, PAGE_KINDS, blank_pdf, pdf_of, two_sided_page
from ocr_job.synth.temporary import TEMPORARY_SIDES, make_temporary, temporary_fields


@pytest.mark.parametrize("kind", PAGE_KINDS)
def test_a_page_is_a_pure_function_of_its_arguments(kind: str) -> None:
    a, b = two_sided_page(7, "compact", kind), two_sided_page(7, "compact", kind)
    assert np.array_equal(a.image, b.image)
    assert a.arrangement in ARRANGEMENTS
    assert all(getattr(a.fields, name) for name in FIELD_NAMES)  # both sides: nine fields
    if kind == "grey":
        assert np.array_equal(a.image[..., 0], a.image[..., 2])
    landscape = a.arrangement == "side_by_side"
    assert (a.image.shape[1] > a.image.shape[0]) == landscape


def test_a_pdf_holds_one_page_per_picture() -> None:
    images = [two_sided_page(s, "classic", "scan").image for s in (1, 2, 3)]
    data = pdf_of(images)
    assert pdfpages.page_count(data) == 3
    assert pdfpages.page_count(blank_pdf(5)) == 5


def test_a_temporary_card_has_a_three_month_period() -> None:
    fields = temporary_fields(4)
    assert all(getattr(fields, name) for name in FIELD_NAMES)
    start, end = fields.valid_from, fields.valid_to
    assert start and end and (int(end[5:7]) - int(start[5:7])) % 12 == 3
    for side in TEMPORARY_SIDES:
        assert np.array_equal(make_temporary(4, side, 500), make_temporary(4, side, 500))
