"""Scenario 2, out of memory for real: one shard holds a scan that needs far more memory
than the others (a card scanned at 12,600 px as a progressive 4:4:4 JPEG: libjpeg keeps its
586 MiB of coefficients, about 830 MiB at the worker's peak against about 450 MiB for a
card), the batch's limit sits between the two, so that shard's pod is OOM-killed by the
kernel. The operator retries the shard in a second Job with more memory; the batch succeeds
and its status tells what happened.

At the default decode budget (`OCR_DECODE_BUDGET_MIB`, 48) the worker refuses such a scan
from its header (`image_too_large`), so nothing would be killed: the batch's pods get the
budget raised to 1 GiB by the cluster, as a mutating admission policy would set it for the
pods of a batch of large scans (`PodRunner.add_env`; the operator does not know)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from ocr_operator.kube import LABEL_BATCH

from ocr_job.synth import make_sample
from tests.e2e.cluster.conftest import (
    SIZES,
    SOURCE_PREFIX,
    CardLibrary,
    World,
    budget_s,
    report,
    report_pods,
)

#: Between a card's peak (~450 MiB with page cache) and the scan's (~830 MiB); well above
#: the onnx engine's refuse-to-start floor (320 MiB).
LIMIT = "640Mi"
RETRY_LIMIT = "1280Mi"  # LIMIT × memoryFactor 2
BIG_KEY = "part-0/memory/scan-progressive.jpg"  # sorts between part-0/hard/ and part-0/photo/
#: What the admission policy sets for this batch's pods: enough for the scan's coefficients.
POD_ENV = {"OCR_DECODE_BUDGET_MIB": "1024"}

pytestmark = pytest.mark.timeout(int(budget_s(SIZES.cards) + 900))


def big_scan() -> tuple[bytes, dict[str, str | None]]:
    """A card scanned at 12,600 px as a progressive 4:4:4 JPEG (101 MP, 5 MB): libjpeg
    decodes it at 1/8 scale (under the 40 MP cap) but keeps every coefficient, 6 bytes a
    pixel (measured: 586 MiB for decoding it alone)."""
    sample = make_sample("e2e:oom:scan", "front", "clean", 1000)
    height, width = sample.image.shape[:2]
    big = cv2.resize(sample.image, (12_600, round(12_600 * height / width)),
                     interpolation=cv2.INTER_LINEAR)[..., ::-1]  # fmt: skip
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(big), [
        cv2.IMWRITE_JPEG_QUALITY, 90, cv2.IMWRITE_JPEG_PROGRESSIVE, 1,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444])  # fmt: skip
    assert ok
    return data.tobytes(), sample.fields.model_dump()


def test_an_oom_killed_shard_is_retried_with_more_memory(world: World, cards: CardLibrary) -> None:
    card_set = cards.get("oom", SIZES.cards, seed=2, bad_inputs=False)
    scan, scan_fields = big_scan()
    world.leaks.watch({BIG_KEY: {"fields": scan_fields}})
    src, out = world.buckets()
    keys = world.put_cards(src, card_set, extra={BIG_KEY: scan})
    shard_size = math.ceil(len(keys) / 3)
    position = keys.index(f"{SOURCE_PREFIX}/{BIG_KEY}")
    big_shard, offset = divmod(position, shard_size)
    assert offset > 0, "records before the scan in its shard (to see the resume)"

    world.runner.add_env({LABEL_BATCH: "oom"}, POD_ENV)
    with world.operator():
        world.apply("oom", src, out, shardSize=shard_size, resources={"memory": LIMIT},
                    retry={"memoryFactor": 2.0, "maxMemory": "2Gi"})  # fmt: skip
        status = world.wait_finished("oom", budget_s(len(keys)) + 300)

    records = world.check_complete("oom", out, keys, status)
    assert status["phase"] in ("Succeeded", "PartiallySucceeded")
    scan_record = records[f"{SOURCE_PREFIX}/{BIG_KEY}"]
    assert scan_record.status == "ok" and scan_record.side == "front", scan_record.error
    assert scan_record.fields.id_number == scan_fields["id_number"]

    # What happened is in the status: the kills, both attempts, the retry's memory.
    assert status["oomKillCount"] >= 1
    assert {(k["index"], k["attempt"], k["memory"]) for k in status["oomKills"]} == {(big_shard, 0, LIMIT)}
    assert status["attempts"] == [
        {"attempt": 0, "job": "oom-0", "memory": LIMIT},
        {"attempt": 1, "job": "oom-1", "memory": RETRY_LIMIT, "shards": str(big_shard),
         "shardCount": 1, "reason": "OOMKilled"},
    ]  # fmt: skip
    assert status["jobs"] == ["oom-0", "oom-1"]
    assert status["completedShards"] == "0-2" and status["failedShards"] == ""
    reasons = [e["reason"] for e in world.events("oom")]
    assert "OOMKilled" in reasons and "Retrying" in reasons

    # The kernel did it: the pods of the big shard were killed at the limit, the others
    # finished under it, and the retry pod needed more than the first limit.
    first = world.runner.runs("oom-0")
    killed = [r for r in first if r.index == big_shard]
    assert killed and all(r.reason == "OOMKilled" and r.exit_code == 137 for r in killed)
    assert all(r.peak_bytes is not None and r.peak_bytes >= 0.95 * r.memory_limit for r in killed
               if r.memory_limit)  # fmt: skip
    assert len(killed) == 3, "backoffLimitPerIndex 2: three pods, then the index failed"
    assert all(r.reason == "Completed" for r in first if r.index != big_shard)
    job0 = next(j for j in world.jobs() if j["metadata"]["name"] == "oom-0")
    assert job0["status"]["failedIndexes"] == str(big_shard)
    assert any(c["type"] == "Failed" and c["reason"] == "FailedIndexes"
               for c in job0["status"]["conditions"])  # fmt: skip
    retry = world.runner.runs("oom-1")
    assert [(r.index, r.reason) for r in retry] == [(0, "Completed")]
    assert retry[0].memory_limit == 1280 * 2**20
    assert retry[0].peak_bytes is not None and retry[0].peak_bytes > 640 * 2**20
    job1 = next(j for j in world.jobs() if j["metadata"]["name"] == "oom-1")
    env = {e["name"]: e.get("value") for e in job1["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["OCR_SHARD_INDEXES"] == str(big_shard)

    # The retry resumed: the records written before the kill were skipped, not redone.
    shard = world.shard_report("oom", big_shard)
    assert shard["skipped"] == offset and shard["memoryLimitBytes"] == 1280 * 2**20
    world.check_no_leaks()

    report(f"scenario 2 (OOM): shard {big_shard} OOM-killed {len(killed)}× at {LIMIT}, "
           f"retried at {RETRY_LIMIT}: {status['phase']}, {status['succeeded']} ok")  # fmt: skip
    report_pods("  pods", first + retry)


def test_a_limit_below_the_engines_need_fails_the_batch_at_once(world: World, cards: CardLibrary) -> None:
    """The other end: a limit below the engine's known need is a configuration error. The
    worker refuses to start (exit 2), the Job's podFailurePolicy fails it at once (no pod
    retry, no retry Job with more memory), and the batch is Failed with the reason."""
    card_set = cards.get("floor", 6, seed=22, bad_inputs=False)
    src, out = world.buckets()
    keys = world.put_cards(src, card_set)
    with world.operator():
        world.apply("floor", src, out, shardSize=len(keys), resources={"memory": "200Mi"})
        status = world.wait(
            "the batch to fail", lambda: (s := world.status("floor")).get("phase") == "Failed" and s, 300
        )
    assert "PodFailurePolicy" in status["message"] and "exit code 2" in status["message"]
    assert status["jobs"] == ["floor-0"] and not status.get("oomKillCount")
    runs = world.runner.runs()
    assert [(r.exit_code, r.reason) for r in runs] == [(2, "Error")], "no pod retry"
    assert "below the onnx engine's need" in runs[0].log_text()
    assert world.record_objects(out, "floor") == {}
    assert "Failed" in [e["reason"] for e in world.events("floor")]
    world.check_no_leaks()
