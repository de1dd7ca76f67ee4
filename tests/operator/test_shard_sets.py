"""Shard sets past what the status holds (issue 18): scattered failures among 50,000 shards,
an operator restart with the finished Jobs gone, and a lost or forged sets object. The
reconciler, the Kubernetes emulator (the CRD's schema) and a real S3 server."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from kubernetes import client as k8s
from ocr_operator.batch.jobs import job_name
from ocr_operator.batch.reconcile import Reconciler
from ocr_operator.batch.shardsets import (
    MAX_INLINE,
    SETS_NAME,
    compact,
    count_ranges,
    overlay,
    parse_object,
    rebuilt,
    state_of,
    to_object,
    too_long,
    valid_ranges,
)
from ocr_operator.cluster import KubeCluster
from ocr_operator.config import OperatorConfig
from ocr_operator.kube import LABEL_ATTEMPT, format_index_ranges, parse_index_ranges

from ocr_job.status import summary_name
from tests.operator.conftest import NAMESPACE
from tests.operator.test_scale import BATCHES, LIMIT, object_size, planned, stored_sets
from tests.support.kube import EVENTS, JOBS, JobController, KubeServer
from tests.support.s3server import S3Server

pytestmark = pytest.mark.timeout(600)

WIDE = 50_000
PER_JOB = 10_000  # the operator's default shards per Job


class Recording(KubeCluster):
    """The operator's own client, noting the batch's size as `kubectl get -o json` prints it
    after each status write it makes."""

    def __init__(self, api: k8s.ApiClient, kube: KubeServer, sizes: list[int] | None = None) -> None:
        super().__init__(api, [NAMESPACE])
        self.kube = kube
        self.sizes: list[int] = [] if sizes is None else sizes

    def patch_batch_status(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        super().patch_batch_status(namespace, name, patch)
        self.sizes.append(object_size(self.kube, name))


def status_of(kube: KubeServer, name: str) -> dict[str, Any]:
    status: dict[str, Any] = kube.get(BATCHES, NAMESPACE, name)["status"]
    return status


def finish_part(jobs: JobController, job: dict[str, Any], shards: range, fails: Any) -> None:
    """The part's Job finished: its shards for which `fails` is true failed for good."""
    completed = [ci for ci, shard in enumerate(shards) if not fails(shard)]
    failed = [ci for ci, shard in enumerate(shards) if fails(shard)]
    jobs.finish(job, completed=format_index_ranges(completed), failed=format_index_ranges(failed))


def test_scattered_failures_among_50000_shards_keep_every_status_under_64_kib(
    kube: KubeServer,
    api: k8s.ApiClient,
    s3_server: S3Server,
    buckets: tuple[str, str],
    s3_secret: str,
) -> None:
    src, out = buckets
    config = OperatorConfig(s3_endpoint=s3_server.endpoint, worker_image="worker:test")
    cluster = Recording(api, kube)
    jobs = JobController(kube)
    planned(kube, "wide", src, out, s3_secret, shards=WIDE)

    def fails(shard: int) -> bool:
        return shard % 10 == 7  # one in ten, each its own gap

    for part in range(WIDE // PER_JOB):
        assert Reconciler(cluster, config).reconcile(NAMESPACE, "wide") == "Running"
        assert status_of(kube, "wide")["completedShardCount"] == part * PER_JOB * 9 // 10
        if part == 2:
            # a new operator: the sets it starts from are those the last one left
            before = stored_sets(s3_server, out, status_of(kube, "wide"))
            cluster = Recording(api, kube, cluster.sizes)
            assert Reconciler(cluster, config).reconcile(NAMESPACE, "wide") == "Running"
            after = stored_sets(s3_server, out, status_of(kube, "wide"))
            assert after["completedShards"] == before["completedShards"]
            assert after["failedShards"] == before["failedShards"] == ""  # decided at the end
            counted = parse_index_ranges(after["countedShards"])
            assert counted > parse_index_ranges(before["countedShards"])  # the next 500
            assert counted <= parse_index_ranges(after["completedShards"])
        job = kube.get(JOBS, NAMESPACE, job_name("wide", 0, part))
        finish_part(jobs, job, range(part * PER_JOB, (part + 1) * PER_JOB), fails)

    # the last part finished: the failed shards (not out of memory) are given up
    assert Reconciler(cluster, config).reconcile(NAMESPACE, "wide") == "Failed"
    status = status_of(kube, "wide")
    assert status["completedShardCount"] == WIDE * 9 // 10 and status["failedShardCount"] == WIDE // 10
    assert "completedShards" not in status and "failedShards" not in status
    sets = stored_sets(s3_server, out, status)
    assert parse_index_ranges(sets["completedShards"]) == {i for i in range(WIDE) if not fails(i)}
    assert parse_index_ranges(sets["failedShards"]) == {i for i in range(WIDE) if fails(i)}
    assert sets["countedShards"] == status.get("countedShards", sets["countedShards"])
    assert count_ranges(sets["countedShards"]) == status["countedShardCount"] > 0
    print(f"OcrBatch of {WIDE} shards, one in ten failed: largest status {max(cluster.sizes)} bytes")
    assert cluster.sizes and max(cluster.sizes) <= LIMIT, max(cluster.sizes)


SMALL = 2000
SMALL_PER_JOB = 1000


def put_summaries(s3: S3Server, out: str, shards: list[int]) -> None:
    """Each shard's final summary as a worker writes it: one record ok, one an error."""
    client = s3.client()
    body = json.dumps({"succeeded": 1, "failed": 1, "errors": {"no_card_found": 1}}).encode()

    def put(index: int) -> None:
        client.put_object(out, summary_name(index), io.BytesIO(body), len(body))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, shards))


def counted_until_stable(reconciler: Reconciler, kube: KubeServer, name: str, want: int) -> dict[str, Any]:
    """Passes until `want` shards are counted (a pass folds at most 500 summaries)."""
    for _ in range(want // 500 + 2):
        reconciler.reconcile(NAMESPACE, name)
        status = status_of(kube, name)
        if status["countedShardCount"] >= want:
            return status
    raise AssertionError(f"{status['countedShardCount']} of {want} shards counted")


@pytest.mark.parametrize("loss", ["missing", "corrupt", "older"])
def test_a_lost_sets_object_is_rebuilt_without_counting_a_shard_twice(
    loss: str,
    kube: KubeServer,
    api: k8s.ApiClient,
    s3_server: S3Server,
    buckets: tuple[str, str],
    s3_secret: str,
) -> None:
    src, out = buckets
    config = OperatorConfig(
        s3_endpoint=s3_server.endpoint, worker_image="worker:test", max_shards_per_job=SMALL_PER_JOB
    )
    jobs = JobController(kube)
    planned(kube, "lost", src, out, s3_secret, shards=SMALL)
    reconciler = Reconciler(KubeCluster(api, [NAMESPACE]), config)
    reconciler.reconcile(NAMESPACE, "lost")
    # part 0 done in full; part 1 runs with every other shard done (500 gaps: past the bound)
    evens = list(range(SMALL_PER_JOB, SMALL, 2))
    put_summaries(s3_server, out, list(range(SMALL_PER_JOB)) + evens)
    jobs.finish(kube.get(JOBS, NAMESPACE, "lost-0"), completed=f"0-{SMALL_PER_JOB - 1}")
    reconciler.reconcile(NAMESPACE, "lost")
    part1 = kube.get(JOBS, NAMESPACE, job_name("lost", 0, 1))
    jobs.set_status(part1, completedIndexes=format_index_ranges(range(0, SMALL_PER_JOB, 2)), active=10)
    done = SMALL_PER_JOB + len(evens)
    before = counted_until_stable(reconciler, kube, "lost", done)
    assert before["talliedSucceeded"] == done and before["errorCodes"] == {"no_card_found": done}
    assert "completedShards" not in before and before["completedShardCount"] == done
    revision = before["shardSets"]["revision"]

    # the finished part's Job is gone (its TTL), and so is the object's content
    kube.delete(JOBS, NAMESPACE, "lost-0")
    client = s3_server.client()
    if loss == "missing":
        client.remove_object(out, SETS_NAME)
    elif loss == "corrupt":
        client.put_object(out, SETS_NAME, io.BytesIO(b'{"version": 1, "uid"'), 20)
    else:  # an object of an earlier revision (a restore from a backup)
        uid = kube.get(BATCHES, NAMESPACE, "lost")["metadata"]["uid"]
        old = to_object(uid, revision - 1, {**EMPTY, "completedShards": "0-9"}).encode()
        client.put_object(out, SETS_NAME, io.BytesIO(old), len(old))

    restarted = Reconciler(KubeCluster(api, [NAMESPACE]), config)
    assert restarted.reconcile(NAMESPACE, "lost") == "Running"
    rebuilt = status_of(kube, "lost")
    assert rebuilt["completedShardCount"] == done  # from the shard summaries and part 1's Job
    assert kube.find(JOBS, NAMESPACE, "lost-0") is None  # its shards are done: not run again
    assert rebuilt["shardSets"]["revision"] > revision
    events = [e for e in kube.list(EVENTS, NAMESPACE) if e.get("reason") == "ShardSetsRebuilt"]
    assert len(events) == 1 and events[0]["involvedObject"]["name"] == "lost"

    after = counted_until_stable(restarted, kube, "lost", done)
    assert after["talliedSucceeded"] == done and after["talliedFailed"] == done  # not twice
    assert after["errorCodes"] == {"no_card_found": done}
    sets = stored_sets(s3_server, out, after)
    assert parse_index_ranges(sets["completedShards"]) == set(range(SMALL_PER_JOB)) | set(evens)
    restarted.reconcile(NAMESPACE, "lost")
    assert len([e for e in kube.list(EVENTS, NAMESPACE) if e.get("reason") == "ShardSetsRebuilt"]) == 1


EMPTY: dict[str, Any] = {
    "completedShards": "",
    "failedShards": "",
    "countedShards": "",
    "talliedSucceeded": 0,
    "talliedFailed": 0,
    "errorCodes": {},
    "attempts": {},
}


def test_a_forged_or_foreign_sets_object_is_refused() -> None:
    state = {**EMPTY, "completedShards": "0-9", "countedShards": "0-4", "talliedSucceeded": 5}
    state["attempts"] = {"1": "12,14"}
    assert parse_object(to_object("u1", 3, state), "u1", 20) == (3, state)
    assert parse_object(to_object("u2", 3, state), "u1", 20) is None  # another batch's
    assert parse_object(to_object("u1", 3, state), "u1", 12) is None  # past the shard count
    forged = {**state, "completedShards": "0-99999999999"}
    assert parse_object(to_object("u1", 3, forged), "u1", 20) is None  # never expanded
    assert parse_object(to_object("u1", 3, {**state, "errorCodes": {"x": 1}}), "u1", 20) is None
    assert parse_object(to_object("u1", 3, {**state, "talliedFailed": -1}), "u1", 20) is None
    assert parse_object("[]", "u1", 20) is None and parse_object(None, "u1", 20) is None
    assert not valid_ranges("3,1", 10) and not valid_ranges("1-2,2", 10) and valid_ranges("", 10)
    assert count_ranges("0-7,9") == 9 and count_ranges("") == 0
    assert len(format_index_ranges(range(0, 600, 2))) > MAX_INLINE  # the bound the tests pass


def test_a_retry_whose_shards_were_lost_keeps_those_its_jobs_run() -> None:
    status = {
        "shardCount": 20,
        "completedShards": "0-4,6-8",
        "countedShardCount": 8,  # counted and failed were in the lost object
        "talliedSucceeded": 80,
        "attempts": [{"attempt": 0, "memory": "512Mi"}, {"attempt": 1, "memory": "768Mi", "shardCount": 12}],
    }
    assert overlay(status, {**EMPTY, "attempts": {}}) is None  # the object lacks attempt 1
    part0 = {
        "metadata": {"name": "b-1", "labels": {LABEL_ATTEMPT: "1"}},
        "spec": {
            "template": {"spec": {"containers": [{"env": [{"name": "OCR_SHARD_INDEXES", "value": "9,12"}]}]}}
        },
    }
    full = rebuilt(status, [part0], [2, 17])
    assert full["completedShards"] == "0-4,6-8,17"  # shard 17's summary added
    assert full["attempts"][1]["shards"] == "9,12-16,18-19"  # its Job's, then those above
    assert full["countedShards"] == "" and full["talliedSucceeded"] == 0  # folded again
    assert full["failedShards"] == ""
    assert rebuilt(status, [], [])["attempts"][1]["shards"] == "5,9-19"  # no Job made yet: all not done


def test_many_short_retries_move_to_the_object_together() -> None:
    """Each retry's shards are short, but a batch may retry many times (memoryFactor 1.1 up
    to maxMemory): past `MAX_INLINE_TOTAL` together they go to the object."""
    scattered = format_index_ranges(range(0, 1400, 7))  # 200 shards, under 1 KiB of ranges
    assert len(scattered) <= MAX_INLINE
    attempts = [{"attempt": 0, "memory": "64Mi"}]
    attempts += [{"attempt": n, "memory": f"{64 + n}Mi", "shards": scattered} for n in range(1, 4)]
    assert not too_long(state_of({"completedShards": "0-9", "attempts": attempts}))
    attempts += [{"attempt": n, "memory": f"{64 + n}Mi", "shards": scattered} for n in range(4, 40)]
    full = {"completedShards": "0-9", "failedShards": "", "attempts": attempts}
    assert too_long(state_of(full))
    stored = compact(full, {"object": "s3://o/_shards/sets.json", "revision": 1})
    assert stored["completedShards"] == "0-9" and stored["completedShardCount"] == 10  # still short
    assert all("shards" not in a for a in stored["attempts"])
    assert [a.get("shardCount") for a in stored["attempts"][:2]] == [None, 200]
    assert len(json.dumps(stored)) < 8 * 1024
