"""A generated card set shared by the end-to-end tests of one session."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocr_job.synth import generate_set

#: Enough cards for every level × side × style the generator cycles through; seed 1 of
#: generator version 4 turns hard cards by 90, 180 and 270 degrees (the test reads each).
CARD_COUNT = 108


@pytest.fixture(scope="session")
def card_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("cards")
    generate_set(dest, CARD_COUNT, seed=1, bad_inputs=True)
    return dest


@pytest.fixture(scope="session")
def small_card_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("cards-small")
    generate_set(dest, 18, seed=11, bad_inputs=True)
    return dest
