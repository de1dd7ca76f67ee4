"""The benchmark harness at toy size: child sampling, scoring and the budget verdicts.

No OCR runs here; `make bench` itself is the real (long) run.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path

import pytest

from bench import run as bench

LABEL_FRONT = {
    "side": "front",
    "level": "clean",
    "group": "std",
    "fields": {
        "name": "张三",
        "sex": "男",
        "ethnicity": "汉",
        "birth_date": "1990-01-02",
        "address": "北京市东城区1号",
        "id_number": "11010119900102001X",
        "issuing_authority": None,
        "valid_from": None,
        "valid_to": None,
    },
}
LABEL_BACK = {
    "side": "back",
    "level": "hard",
    "group": "large",
    "fields": {
        "name": None,
        "sex": None,
        "ethnicity": None,
        "birth_date": None,
        "address": None,
        "id_number": None,
        "issuing_authority": "某某县公安局",
        "valid_from": "2010-01-01",
        "valid_to": "2020-01-01",
    },
}


def test_score_counts_fields_levels_and_every_field_right() -> None:
    labels = {"a.jpg": LABEL_FRONT, "b.jpg": LABEL_BACK, "c.jpg": LABEL_FRONT}
    wrong_name = {**LABEL_FRONT["fields"], "name": "张山"}
    records = [
        {"source": "a.jpg", "status": "ok", "side": "front", "fields": LABEL_FRONT["fields"]},
        {"source": "b.jpg", "status": "ok", "side": "back", "fields": LABEL_BACK["fields"]},
        {"source": "c.jpg", "status": "ok", "side": "front", "fields": wrong_name},
    ]
    acc = bench.score(records, labels)
    assert (acc.cards, acc.all_right, acc.errors) == (3, 2, 0)
    assert acc.per_field["name"] == [1, 2]
    assert acc.per_field["valid_to"] == [1, 1]
    assert acc.per_level["clean"] == [1, 2]
    assert acc.per_level["large"] == [1, 1]
    assert acc.per_level_field["clean"]["name"] == [1, 2]
    assert acc.per_level_field["hard"]["valid_to"] == [1, 1]


def test_score_counts_a_missing_or_wrong_side_record_as_all_wrong() -> None:
    labels = {"a.jpg": LABEL_FRONT, "b.jpg": LABEL_BACK}
    records = [{"source": "b.jpg", "status": "ok", "side": "front", "fields": LABEL_BACK["fields"]}]
    acc = bench.score(records, labels)
    assert (acc.all_right, acc.side_right, acc.errors) == (0, 0, 1)
    assert acc.per_field["issuing_authority"] == [0, 1]


def test_run_child_samples_rss_and_progress(tmp_path: Path) -> None:
    out = tmp_path / "out"
    child = (
        "import sys, time, pathlib\n"
        "out = pathlib.Path(sys.argv[1]); out.mkdir()\n"
        "print('engine toy loaded', file=sys.stderr, flush=True)\n"
        "ballast = bytearray(40 * 1024 * 1024)\n"
        "for i in range(5):\n"
        "    (out / f'{i}.jpg.json').write_text('{}'); time.sleep(0.1)\n"
    )
    run = bench.run_child(
        [sys.executable, "-c", child, str(out)],
        bench.count_records(out),
        tmp_path / "side.jsonl",
        interval=0.02,
    )
    assert run.returncode == 0
    assert run.peak_rss >= 40 * 1024 * 1024
    assert run.loaded_t is not None and run.loaded_rss is not None
    assert run.samples and max(s.count for s in run.samples) >= 4
    assert (tmp_path / "side.jsonl").read_text().count("\n") == len(run.samples)


def test_growth_compares_the_resting_rss_the_worker_logs(caplog: pytest.LogCaptureFixture) -> None:
    from ocr_job.pipeline import RunSummary
    from ocr_job.reporting import LogProgress

    with caplog.at_level(logging.INFO, logger="ocr_job"):
        reporter = LogProgress(interval_s=0.0)
        reporter.start(RunSummary(total=3))
        reporter.advance(RunSummary(total=3, processed=1, succeeded=1), None)
    line = caplog.records[-1].getMessage()
    assert bench.PROGRESS_RSS.search(line), line  # the harness reads the worker's own line

    mib = 1024 * 1024
    resting = [(n, (200 + (n // 40) % 2 * 3) * mib) for n in range(40, 2001, 40)]  # +-3: front/back
    run = bench.ChildRun(
        returncode=0,
        wall_s=1.0,
        peak_rss=260 * mib,
        ru_maxrss=260 * mib,
        cpu_s=1.0,
        samples=[],
        loaded_t=0.1,
        loaded_rss=180 * mib,
        loaded_cpu=0.1,
        last_count_t=1.0,
        last_count_cpu=1.0,
        resting=resting,
    )
    result = bench.Result(config="onnx-1", title="t")
    bench.summarise(result, run, [0.2], 1.0, 2000)
    assert 200 * mib <= result.rss_at["200"] <= 203 * mib
    assert result.growth is not None and abs(result.growth) <= 0.015
    leaking = [(n, rss + n * 10 * 1024) for n, rss in resting]  # 10 KiB per input
    bench.summarise(result, dataclasses.replace(run, resting=leaking), [0.2], 1.0, 2000)
    assert result.growth is not None and result.growth > 0.03


META = {"date": "today", "machine": "toy", "command": "python -m bench.run", "inputs": "none", "long": 2000}


def _result(key: str, **figures: object) -> bench.Result:
    set_name, config = key.split("/")
    return bench.Result(config, config, set=set_name, **figures)  # type: ignore[arg-type]


def test_budget_verdicts_judge_the_worker_against_the_fastest_baseline_on_each_set() -> None:
    mib = bench.MIB
    results = {
        r.set + "/" + r.config: r
        for r in (
            _result("long/onnx-1", images=2000, peak_rss=250 * mib, growth=0.02),
            # cards: 1 thread 3.2 / max(2.0, 2.4) = 1.33x FAIL; 2 threads 5.0 / 3.0 = 1.67x PASS
            _result("cards/onnx-1", images=100, peak_rss=240 * mib, images_per_cpu_s=3.2),
            _result("cards/onnx-2", images=100, peak_rss=250 * mib, images_per_s=5.0),
            _result(
                "cards/baseline", images=100, peak_rss=2000 * mib, images_per_cpu_s=2.0, images_per_s=2.5
            ),
            _result("cards/mkldnn-1", images=100, peak_rss=900 * mib, images_per_cpu_s=2.4, images_per_s=2.3),
            _result("cards/mkldnn-2", images=100, peak_rss=950 * mib, images_per_cpu_s=1.9, images_per_s=3.0),
            _result("cards/paddle", images=100, peak_rss=1300 * mib),
            # photos: the worker's peak is the highest (260 MiB > 256); 1 thread 3.0 / 2.0 = 1.5x
            _result("photos/onnx-1", images=40, peak_rss=260 * mib, images_per_cpu_s=3.0),
            _result("photos/mkldnn-1", images=40, peak_rss=3000 * mib, images_per_cpu_s=2.0),
        )
    }
    lines = bench.budget_lines(results, 2000)
    verdicts = {rule.split(" ≥")[0]: (measured, verdict) for rule, measured, verdict in lines}
    assert verdicts[
        "ocr-job peak RSS, default engine (onnx, 1 thread), every set (cards up to "
        "4000 px, phone photos) ≤ 256 MiB"
    ] == ("260 MiB (photos)", "FAIL")
    assert verdicts["bench cards: onnx-1 images per CPU-second"] == (
        "3.20 vs 2.40 (mkldnn-1) = 1.33×",
        "FAIL",
    )
    assert verdicts["bench cards: onnx-2 images per wall-second"] == (
        "5.00 vs 3.00 (mkldnn-2) = 1.67×",
        "PASS",
    )
    assert verdicts["photographed set (bench/photoset.py): onnx-1 images per CPU-second"] == (
        "3.00 vs 2.00 (mkldnn-1) = 1.50×",
        "PASS",
    )
    assert [v for rule, _, v in lines if "paddle peak" in rule] == ["FAIL"]  # 1300 / 2000 = 65%
    line = bench.verdict_line(results)
    assert "bench cards, onnx-1: 1.33× (FAIL)" in line and "onnx-2: 1.67× (PASS)" in line
    table = bench.markdown(results, META)
    assert "**Photographed set (bench/photoset.py)**" in table and "**FAIL**" in table


def test_combine_adds_up_the_work_windows_of_the_rounds() -> None:
    mib = bench.MIB

    def run(loaded: float, last: float, cpu0: float, cpu1: float, peak: int) -> bench.ChildRun:
        return bench.ChildRun(
            returncode=0,
            wall_s=last + 1,
            peak_rss=peak * mib,
            ru_maxrss=peak * mib,
            cpu_s=cpu1 + 0.5,
            samples=[],
            loaded_t=loaded,
            loaded_rss=100 * mib,
            loaded_cpu=cpu0,
            last_count_t=last,
            last_count_cpu=cpu1,
        )

    both = bench.combine([run(2.0, 12.0, 1.5, 9.5, 200), run(3.0, 8.0, 2.0, 6.0, 240)])
    assert both.last_count_t == 15.0 and both.last_count_cpu == 12.0  # 10 + 5 s, 8 + 4 CPU-s
    assert both.peak_rss == 240 * mib and both.loaded_t == 0.0
    result = bench.Result("onnx-1", "t", images=30)
    bench.summarise(result, both, [0.5] * 30, 1.0, None)
    assert result.images_per_cpu_s == 2.5 and result.images_per_s == 2.0


def test_split_deals_every_card_into_one_part_with_the_same_mix(tmp_path: Path) -> None:
    cards = tmp_path / "cards"
    labels = {}
    for level in ("desk", "grey", "phone"):
        for i in range(4):
            key = f"{level}/{i:04d}-front.jpg"
            (cards / key).parent.mkdir(parents=True, exist_ok=True)
            (cards / key).write_bytes(b"x")
            labels[key] = {"level": level}
    data = bench.DataSet(cards=cards, long=cards, labels=labels, long_of={})

    parts = data.split(2)

    assert sorted(k for part in parts for k in part.labels) == sorted(labels)
    for part in parts:
        assert sorted(str(p.relative_to(part.cards)) for p in part.cards.rglob("*.jpg")) == sorted(
            part.labels
        )
        assert {v["level"] for v in part.labels.values()} == {"desk", "grey", "phone"}
    assert data.split(1)[0].cards == cards


def test_compare_takes_turns_and_skips_what_cannot_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The order of the configurations turns each round; the runs are real child processes
    (a toy command in place of ocr-job and the baseline)."""
    order: list[tuple[int, str]] = []

    def toy(cfg: bench.Config, data: bench.DataSet, out: Path, interval: float) -> bench.Round:
        order.append((len(order), cfg.name))
        rows = [
            {"source": k, "status": "ok", "side": "front", "fields": LABEL_FRONT["fields"], "seconds": 0.1}
            for k in sorted(data.labels)
        ]
        loaded = "import sys; print('engine toy loaded', file=sys.stderr)"
        run = bench.run_child(
            [sys.executable, "-c", loaded], lambda: len(rows), out.with_name("side.jsonl"), interval=0.01
        )
        return bench.Round(run, rows)

    monkeypatch.setattr(bench, "run_ocr_job", toy)
    monkeypatch.setattr(bench, "run_baseline", toy)
    monkeypatch.setattr(bench, "skip_reason", lambda cfg: "absent" if cfg.name == "paddle" else None)
    cards = tmp_path / "cards"
    labels = {}
    for i in range(4):
        (cards / f"{i}.jpg").parent.mkdir(parents=True, exist_ok=True)
        (cards / f"{i}.jpg").write_bytes(b"x")
        labels[f"{i}.jpg"] = {**LABEL_FRONT}
    data = bench.DataSet(cards=cards, long=cards, labels=labels, long_of={})
    cfgs = [bench.CONFIGS[n] for n in ("onnx-1", "paddle", "mkldnn-1")]

    results = bench.compare(cfgs, data, "photos", 2, tmp_path / "out", 0.01, say=lambda _: None)

    assert [name for _, name in order] == ["onnx-1", "mkldnn-1", "mkldnn-1", "onnx-1"]
    assert results["paddle"].skipped == "absent"
    assert results["onnx-1"].images == 4 and results["onnx-1"].rounds == 2
    assert results["onnx-1"].accuracy is not None and results["onnx-1"].accuracy["all_right"] == 4
    assert results["mkldnn-1"].accuracy is None and results["mkldnn-1"].set == "photos"


def test_accuracy_targets_judge_each_level_by_its_weakest_field() -> None:
    def front(level: str) -> dict[str, object]:
        return {**LABEL_FRONT, "level": level}

    labels = {f"{level}{i}.jpg": front(level) for level in bench.LEVELS for i in range(100)}
    records = [
        {"source": k, "status": "ok", "side": "front", "fields": LABEL_FRONT["fields"]} for k in labels
    ]
    # one wrong name on a clean card: 99% < 99.5%; two wrong addresses on hard ones: 98% >= 97%
    for key, field in (("clean0.jpg", "name"), ("hard0.jpg", "address"), ("hard1.jpg", "address")):
        records[list(labels).index(key)]["fields"] = {**LABEL_FRONT["fields"], field: "x"}
    acc = bench.accuracy_json(bench.score(records, labels))
    onnx = _result("long/onnx-1", accuracy=acc)
    lines = bench.accuracy_lines({"long/onnx-1": onnx})
    assert [(measured, verdict) for _, measured, verdict in lines] == [
        ("lowest: name 99.0% (99/100)", "FAIL"),
        ("every field 100.0%", "PASS"),
        ("lowest: address 98.0% (98/100)", "PASS"),
        ("99.0% (297/300)", "PASS"),
    ]
    table = bench.markdown({"long/onnx-1": onnx}, META)
    assert "| per-field exact match, clean cards ≥ 99.5% | lowest: name 99.0% (99/100) | **FAIL** |" in table
    assert "| name | 99.0% (99/100) | 100.0% (100/100) | 100.0% (100/100) |" in table


def test_score_tallies_styles_when_the_labels_name_them() -> None:
    labels = {"a.jpg": {**LABEL_FRONT, "style": "s1"}, "b.jpg": {**LABEL_FRONT, "style": "s2"}}
    records = [{"source": "a.jpg", "status": "ok", "side": "front", "fields": LABEL_FRONT["fields"]}]
    acc = bench.accuracy_json(bench.score(records, labels))
    assert acc["per_style"] == {
        "s1": {"all_right": 1, "cards": 1, "rate": 1.0},
        "s2": {"all_right": 0, "cards": 1, "rate": 0.0},
    }


def test_subset_keeps_every_group_and_level_and_links_only_its_cards(tmp_path: Path) -> None:
    cards = tmp_path / "cards"
    labels = {}
    for group in ("large", "std"):
        for level in ("clean", "hard", "photo"):
            for i in range(10 if group == "std" else 2):
                key = f"{group}/{level}/{i:04d}-front.jpg"
                (cards / key).parent.mkdir(parents=True, exist_ok=True)
                (cards / key).write_bytes(b"x")
                labels[key] = {"level": level, "group": group}
    data = bench.DataSet(cards=cards, long=tmp_path / "long", labels=labels, long_of={"a": "b"})

    sub = data.subset(12)

    assert 12 <= len(sub.labels) <= 14 and sub.long_of == {}
    assert {(v["group"], v["level"]) for v in sub.labels.values()} == {
        (g, lv) for g in ("large", "std") for lv in ("clean", "hard", "photo")
    }
    linked = sorted(str(p.relative_to(sub.cards)) for p in sub.cards.rglob("*.jpg"))
    assert linked == sorted(sub.labels)
    assert data.subset(0).labels == labels and data.subset(len(labels)).cards == cards
