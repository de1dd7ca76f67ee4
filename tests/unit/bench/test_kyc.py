"""bench.kyc's scoring: precision, recall and false alarms per warning."""

from __future__ import annotations

from bench.kyc import report, score


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
