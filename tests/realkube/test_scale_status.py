"""Issue 18 on the real kube-apiserver 1.20: the status the operator writes for a batch of
5,000 shards, in the worst shape for index ranges (every other shard failed, OOM kills past
those kept, a retry of 2,500 scattered shards, every error code counted), is accepted whole
by the CRD's schema and stays under 64 KiB as `kubectl get -o json` prints it: the long
shard sets are in the output's sets object, the status holds their counts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from kubernetes import client as k8s
from ocr_operator.batch.model import RetrySpec
from ocr_operator.batch.oom import OomKill, decide_retry
from ocr_operator.batch.progress import Ending, Pass, new_oom_kills, progress_of, status_patch
from ocr_operator.batch.shardsets import Book, plan_write
from ocr_operator.batch.status import Counts, Phase
from ocr_operator.batch.tally import Live, Tally

from ocr_job.records import ErrorCode
from tests.realkube.helpers import GROUP, PLURAL, VERSION, ocrbatch
from tests.support.realkube import RealCluster

SHARDS = 5000
NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def test_a_5000_shard_status_stays_under_64_kib(
    real_cluster: RealCluster, custom: k8s.CustomObjectsApi, namespace: str
) -> None:
    name = "scale"
    body = custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, ocrbatch(name, namespace)
    )
    status = {
        "total": SHARDS * 200,
        "shardCount": SHARDS,
        "startTime": "2026-12-06T07:00:00Z",
        "attempts": [{"attempt": 0, "job": f"{name}-0", "memory": "512Mi"}],
    }
    evens = ",".join(str(i) for i in range(0, SHARDS, 2))
    odds = ",".join(str(i) for i in range(1, SHARDS, 2))
    job = {
        "metadata": {"name": f"{name}-0"},
        "status": {
            "completedIndexes": evens,
            "failedIndexes": odds,
            "conditions": [{"type": "Failed", "status": "True", "reason": "FailedIndexes"}],
        },
    }
    progress = progress_of(name, status, [job])
    kills = [
        OomKill(
            shard=i,
            attempt=0,
            pod=f"{name}-0-{i}-x7k2p",
            memory="512Mi",
            time=f"2026-12-06T07:{i // 60:02d}:{i % 60:02d}Z",
        )
        for i in range(1, SHARDS, 2)
    ]
    _, oom_patch = new_oom_kills(status, kills)
    decision = decide_retry(progress.latest, progress.latest_outcome, kills, RetrySpec(), progress.done)
    assert decision is not None and decision.attempt is not None
    progress.attempts.append(decision.attempt)
    progress.failed_for_good |= decision.given_up
    tally = Tally(
        counted=set(progress.done),
        succeeded=400_000,
        failed=99_000,
        error_codes={str(code): 1000 + n for n, code in enumerate(ErrorCode)},
    )
    counts = Counts(SHARDS * 200, 500_000, 400_000, 99_000)
    ending = Ending(counts, False, False, True, decision.message, None, tally, Live(running=60))
    p = Pass(body, status, NOW, 1)
    full = {**oom_patch, **status_patch(p, Phase.RUNNING, progress, ending)}
    book = Book(url="s3://out/_shards/sets.json")
    write = plan_write(book, status, full, body["metadata"]["uid"])
    assert write.text is not None and write.revision == 1  # the object, written first
    patch = write.fields

    custom.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURAL, name, {"status": patch})
    code, stored = real_cluster.request(
        "GET", f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}"
    )
    assert code == 200
    kept = stored["status"]
    assert "completedShards" not in kept and kept["completedShardCount"] == SHARDS // 2
    retry = kept["attempts"][1]
    assert "shards" not in retry and retry["shardCount"] == SHARDS // 2
    assert kept["shardSets"] == {"object": "s3://out/_shards/sets.json", "revision": 1}
    assert json.loads(write.text)["completedShards"] == evens
    assert len(kept["oomKills"]) == 50 and kept["oomKillCount"] == SHARDS // 2
    assert kept["errorCodes"] == tally.to_status()["errorCodes"]  # nothing pruned
    size = len(json.dumps(stored, indent=4).encode())
    print(f"OcrBatch of {SHARDS} shards on kube-apiserver 1.20: {size} bytes")
    assert size < 64 * 1024
