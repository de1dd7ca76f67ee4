"""Suite-wide fixtures. Concern-specific fixtures live in each folder's conftest.py;
shared helpers (the S3 server, the Kubernetes emulator) live in tests/support/.

The real S3 server's fixtures are registered here, once, so every folder shares one
session server instead of starting its own.
"""

import pytest

from tests.support.s3server import own_s3_server, s3_bucket, s3_server

__all__ = ["own_s3_server", "s3_bucket", "s3_server"]

#: Left out of `make check` (marked `slow`; `make test` runs them): the tests of tests/unit and
#: tests/operator that took over 4 s in a `make check` run (`pytest --durations=60`): engines
#: loaded, workers run as processes, whole card sets or the hostile corpus drawn and decoded,
#: intakes polled many times. A module's path marks all its tests.
SLOW = (
    "tests/operator/intake/test_intake_flow.py::test_bad_spec_and_unreachable_bucket",
    "tests/operator/intake/test_intake_flow.py::test_marker_folders_become_batches_archived_on_success",
    "tests/operator/intake/test_intake_flow.py::test_quiet_mode_and_more_than_1000_objects",
    "tests/operator/intake/test_intake_flow.py::test_restart_between_claim_and_batch_creates_exactly_one_batch",
    "tests/operator/intake/test_intake_flow.py::test_two_intakes_on_overlapping_prefixes",
    "tests/operator/intake/test_intake_model.py::test_conditional_create_has_exactly_one_winner",
    "tests/unit/bench/test_photoset.py::test_a_generated_set_is_labelled_and_left_alone_when_up_to_date",
    "tests/unit/engines/test_engines.py",
    "tests/unit/idcard/test_places.py::test_one_or_two_misread_characters_are_repaired_right_or_left_alone",
    "tests/unit/synth/test_augment.py::test_hard_covers_every_effect_and_tracks_the_turn",
    "tests/unit/synth/test_augment.py::test_turn_maps_the_corners",
    "tests/unit/synth/test_render.py::test_every_drawn_character_has_a_glyph",
    "tests/unit/synth/test_render.py::test_rare_characters_only_used_when_covered",
    "tests/unit/synth/test_set.py",
    "tests/unit/worker/test_hostile_images.py",
    "tests/unit/worker/test_hostile_io.py",
    "tests/unit/worker/test_imaging.py::test_a_12_mp_lossy_webp_photo_fits_the_default_budget_and_keeps_its_colours",
    "tests/unit/worker/test_privacy_hostile.py::test_the_worker_prints_no_personal_data",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(item.nodeid == s or item.nodeid.startswith((f"{s}::", f"{s}[")) for s in SLOW):
            item.add_marker(pytest.mark.slow)
