"""The card's frame from its print (`ocr_job.cardframe`) and what it settles after the
reading (`quality.by_print`, `quality.print_view`): real engine runs on generated pictures."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from bench import kyc, photoset
from ocr_job import cardframe, imaging, pipeline, quality
from ocr_job.config import DEFAULT_MAX_PIXELS, EngineName, JobConfig
from ocr_job.engines import Engine, load_engine
from ocr_job.records import ResultRecord
from ocr_job.storage.base import InputItem
from ocr_job.synth.augment import encode_jpeg
from ocr_job.synth.kyc_cases import make_case
from ocr_job.synth.layouts import STYLES
from tests.unit.worker.test_quality import _desk_card

pytestmark = pytest.mark.timeout(900)

SEED = 47


@pytest.fixture(scope="module")
def engine() -> Engine:
    return load_engine(EngineName.ONNX, second_opinion=False)


def _record(engine: Engine, jpeg: bytes) -> ResultRecord:
    config = JobConfig(source="src", output="out")
    return pipeline.process(pipeline.Fetched(InputItem("card.jpg", 1, "e"), data=jpeg), engine, config)


def _codes(record: ResultRecord) -> set[str]:
    return {w.code for w in record.warnings}


def _rect(w: float, h: float) -> np.ndarray:
    return np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("side", ["front", "back"])
def test_the_print_places_the_card_within_its_tolerance_in_every_style(
    engine: Engine, style: str, side: str
) -> None:
    """On a scan cut to the card, the smallest card the print allows lies inside the
    picture and the largest holds it (within the scan's own margin, 1 %)."""
    image = imaging.decode(make_case("clean_scan", f"{SEED}:{style}", side, style).jpeg(), DEFAULT_MAX_PIXELS)
    h, w = image.shape[:2]
    read = pipeline._best_read([image], engine, {}, None)
    assert read is not None and read.reading.side == side and read.frame is not None
    frame = read.frame
    margin = 0.01 * w
    assert (frame.inner >= -1).all() and (frame.inner[:, 0] <= w).all() and (frame.inner[:, 1] <= h).all()
    lo, hi = frame.outer.min(axis=0), frame.outer.max(axis=0)
    assert (lo <= margin).all() and hi[0] >= w - 1 - margin and hi[1] >= h - 1 - margin
    # and the middle card is the picture's within the styles' spread (a few percent)
    assert np.abs(frame.nominal - _rect(w - 1, h - 1)).max() < 0.08 * w


def test_a_card_turned_on_the_page_is_framed_along_its_own_lines(engine: Engine) -> None:
    """A card askew by 12° among lines that run straight (a printed page's): the frame
    follows the card's lines, not the picture's."""
    card = make_case("clean_scan", f"{SEED}:askew", "front", "realdesign").image[..., ::-1]
    h, w = card.shape[:2]
    canvas = np.full((int(h * 1.9), int(w * 1.5), 3), 236, np.uint8)
    for y in range(20, canvas.shape[0] - 20, 28):  # the page's print, straight across
        canvas[y : y + 9, 30 : canvas.shape[1] - 30 : 3] = 60
    centre = (canvas.shape[1] / 2, canvas.shape[0] / 2)
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 12, 1.0)
    matrix[:, 2] += np.array(centre) - np.array([w / 2, h / 2])
    mask = cv2.warpAffine(np.full((h, w), 255, np.uint8), matrix, canvas.shape[1::-1])
    turned = cv2.warpAffine(np.ascontiguousarray(card), matrix, canvas.shape[1::-1])
    canvas[mask > 0] = turned[mask > 0]
    corners = cv2.transform(_rect(w - 1, h - 1).reshape(-1, 1, 2), matrix).reshape(-1, 2)
    read = pipeline._best_read([canvas], engine, {}, None)
    assert read is not None and read.reading.side == "front" and read.frame is not None
    assert np.abs(read.frame.nominal - corners).max() < 0.08 * w
    outer, inner = read.frame.outer.astype(np.float32), read.frame.inner.astype(np.float32)
    for corner in corners:
        assert cv2.pointPolygonTest(outer.reshape(-1, 1, 2), (float(corner[0]), float(corner[1])), False) >= 0
    card_outline = corners.astype(np.float32).reshape(-1, 1, 2)
    for corner in inner:
        assert cv2.pointPolygonTest(card_outline, (float(corner[0]), float(corner[1])), True) >= -2


def test_a_card_on_a_printed_page_is_neither_cut_nor_covered(engine: Engine) -> None:
    """bench.photoset's cards lying on a printed page whose own outline is missed: the page,
    running off the picture, passes for a cut card, or its outline is found instead of the
    card's and a blank patch between its printed lines for an object over the card. After
    the reading, the card its print places lies in the picture and is inspected on its own:
    the record has neither `card_incomplete` nor `occlusion`."""
    alarms = {"card_incomplete", "occlusion"}
    raised = []
    for p in photoset.plan(31, 13, photoset.styles()):
        if p.background != "paper" or p.kind == "grey":
            continue
        jpeg = photoset.picture(p)[0].jpeg()
        if kyc.examine_jpeg(jpeg, p.side)["warnings"] & alarms:  # the detectors before the reading
            raised.append(jpeg)
    assert len(raised) >= 2, "the page is taken for the card"
    for jpeg in raised:
        record = _record(engine, jpeg)
        assert record.status == "ok" and not _codes(record) & alarms


@pytest.mark.parametrize("shift", [(0.55, 0.0), (0.0, -0.6)])
def test_a_card_cut_by_the_pictures_edge_still_is_incomplete(
    engine: Engine, shift: tuple[float, float]
) -> None:
    image, corners = _desk_card(f"{SEED}:cut", shift)
    assert ((corners < 0) | (corners > [1199, 899])).any()  # the case is cut indeed
    record = _record(engine, encode_jpeg(np.ascontiguousarray(image[..., ::-1]), 92))
    assert record.status == "ok" and "card_incomplete" in _codes(record)


def _frame(x0: float, y0: float, w: float, spread: float = 0.05) -> cardframe.Frame:
    h = w / imaging.CARD_ASPECT
    nominal = _rect(w, h) + np.array([x0, y0])
    grow = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * spread * w
    return cardframe.Frame(nominal, nominal - grow, nominal + grow)


def test_by_print_withdraws_a_page_keeps_a_cut_card_and_adds_one_the_outline_search_missed() -> None:
    sheet = np.array([[-50.0, 100], [1300, 100], [1300, 1700], [-50, 1700]])
    page = quality.Survey(warnings=["card_incomplete"], cut=[sheet])
    whole = _frame(300, 500, 600)
    assert quality.by_print(page.warnings, page, whole, (1200, 1600)) == []
    # the cut outline is the card's own: kept while the largest card runs off the picture
    near = _frame(620, 500, 600)
    outline = np.array([[620.0, 500], [1199, 500], [1199, 878], [620, 878]])
    own = quality.Survey(warnings=["card_incomplete"], cut=[outline])
    assert quality.by_print(own.warnings, own, near, (1200, 1600)) == ["card_incomplete"]
    # the print places the card across the picture's edge: cut, whatever the survey found
    across = _frame(800, 500, 600)
    assert quality.by_print([], quality.Survey(), across, (1200, 1600)) == ["card_incomplete"]
    assert quality.by_print(["multiple_cards"], quality.Survey(), whole, (1200, 1600)) == ["multiple_cards"]


def test_print_view_cuts_the_card_out_of_a_page_only() -> None:
    rng = np.random.default_rng(3)
    page = rng.integers(0, 255, (900, 1200, 3), dtype=np.uint8)
    card = quality.print_view(page, _frame(300, 200, 500))
    assert card is not None and card.shape[1] == 500
    assert abs(card.shape[1] / card.shape[0] - imaging.CARD_ASPECT) < 0.01
    assert quality.print_view(page, _frame(20, 20, 1150, 0.01)) is None  # the view is the card
    assert quality.print_view(page, _frame(900, 200, 500)) is None  # the card runs off the view


def test_an_outline_fits_the_card_only_between_its_smallest_and_largest_frames() -> None:
    frame = _frame(300, 200, 500)
    assert quality.fits_card(frame.nominal, frame)
    assert not quality.fits_card(_rect(1100, 850) + np.array([20, 20]), frame)  # the page
    detail = frame.nominal * 0.5 + frame.nominal.mean(axis=0) * 0.5  # the portrait's frame, say
    assert not quality.fits_card(detail, frame)
