"""bench.kyc's scoring: precision, recall and false alarms per warning."""

from __future__ import annotations

from bench.kyc import PHOTOSET, report, score


def test_scores_count_hits_misses_and_false_alarms_on_clean_cards() -> None:
    rows = [
        ("glare", frozenset({"glare"}), {"glare"}),
        ("glare", frozenset({"glare"}), set()),
        ("blur", frozenset({"image_blurry"}), {"image_blurry", "glare"}),
        ("clean_scan", frozenset(), {"glare"}),
        ("clean_photo", frozenset(), set()),
        ("clean_photo", frozenset(), set()),
        ("clean_photo", frozenset(), set()),
    ]
    result = score(rows)
    glare = result["warnings"]["glare"]
    assert (glare["tp"], glare["fp"], glare["fn"]) == (1, 2, 1)
    assert glare["precision"] == round(1 / 3, 3) and glare["recall"] == 0.5
    assert glare["false_alarms"] == 0.25 and glare["clean_cases"] == 4 and not glare["met"]
    blurry = result["warnings"]["image_blurry"]
    assert blurry["recall"] == 1.0 and blurry["false_alarms"] == 0.0 and blurry["met"]
    assert result["warnings"]["photocopy"]["recall"] is None
    assert result["kinds"]["glare"] == {"cases": 2, "glare": 1}
    assert "| `glare` | 1 | 2 | 1 |" in report(result)


def test_photoset_pictures_are_clean_photos_scored_apart() -> None:
    rows = [
        ("cut", frozenset({"card_incomplete"}), {"card_incomplete"}),
        ("clean_photo", frozenset(), set()),
        (PHOTOSET, frozenset(), {"card_incomplete"}),
        (PHOTOSET, frozenset(), set()),
    ]
    cut = score(rows)["warnings"]["card_incomplete"]
    assert (cut["tp"], cut["fp"], cut["fn"], cut["false_alarms"]) == (1, 0, 0, 0.0)
    assert cut["photoset_alarms"] == 0.5 and cut["photoset_cases"] == 2 and not cut["met"]
    assert PHOTOSET not in score(rows)["kinds"]
    without = score(rows[:2])["warnings"]["card_incomplete"]
    assert without["photoset_alarms"] is None and without["met"]


def test_held_out_kinds_are_scored_apart_from_the_tuned_ones() -> None:
    rows = [
        ("occluded", frozenset({"occlusion"}), {"occlusion"}),
        ("occluded_other", frozenset({"occlusion"}), set()),
        ("occluded_other", frozenset({"occlusion"}), {"occlusion"}),
        ("blur_other", frozenset({"image_blurry"}), {"image_blurry"}),
    ]
    result = score(rows)
    assert result["warnings"]["occlusion"]["tp"] == 1 and result["warnings"]["occlusion"]["fn"] == 0
    other = result["held_out"]["occluded_other"]
    assert other == {"warning": "occlusion", "cases": 2, "tp": 1, "recall": 0.5}
    assert result["held_out"]["blur_other"]["recall"] == 1.0
    assert result["kinds"]["occluded_other"] == {"cases": 2, "occlusion": 1}
    assert "| occluded_other | `occlusion` | 2 | 1 | 50.0% |" in report(result)
