"""kopf + the Kubernetes emulator + a real S3 server: the operator end to end. The tests
play the Job controller and the workers (pods, Job status, shard reports, records)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from ocr_job.records import ShardStatus
from ocr_job.storage.s3 import read_manifest
from tests.operator.world import (
    BATCHES,
    GROUP,
    NAMESPACE,
    PLURAL,
    SECRET_MARKER,
    VERSION,
    World,
    batch_body,
    put_images,
)
from tests.support.kube import JOBS, PODS
from tests.support.s3server import S3Server
from tests.support.waiting import wait_for, wait_for_advances

pytestmark = pytest.mark.timeout(120)


def env_of(job: dict[str, Any]) -> dict[str, Any]:
    container = job["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_a_batch_is_planned_run_and_merged(
    world: World,
    run_operator: Callable[[], Any],
    s3_secret: str,
    buckets: tuple[str, str],
    s3_server: S3Server,
) -> None:
    src, out = buckets
    keys = put_images(s3_server, src, 7)
    with run_operator():
        created = world.apply(batch_body("cards", src, out, s3_secret))
        status = wait_for("the plan", lambda: world.status("cards").get("shardCount"))
        assert status == 3
        status = world.status("cards")
        assert status["total"] == 7
        assert status["phase"] in ("Running", "Planning")
        manifest = status["manifests"]
        assert manifest == f"s3://{out}/results/_manifests/shard-{{index:04d}}.txt"
        shards = [read_manifest(manifest.format(index=i), s3_server.settings()) for i in range(3)]
        assert [len(s) for s in shards] == [3, 3, 1]
        assert [k for shard in shards for k in shard] == keys

        job = world.job("cards-0")
        spec = job["spec"]
        assert spec["completions"] == 3 and spec["completionMode"] == "Indexed"
        container = spec["template"]["spec"]["containers"][0]
        assert container["resources"]["limits"] == {"memory": "512Mi", "cpu": "1"}
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert env_of(job)["OCR_S3_SECRET_KEY"] == {"secretKeyRef": {"name": s3_secret, "key": "secretKey"}}
        assert s3_server.secret_key not in json.dumps(job)
        assert job["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
        assert "finalizers" not in world.batch("cards")["metadata"]

        world.jobs.set_status(job, active=3)
        world.reporter("cards", 1).update(ShardStatus(index=1, total=3, processed=2), force=True)
        wait_for("progress", lambda: world.status("cards").get("progress") == "2/7")
        assert world.status("cards")["phase"] == "Running"
        assert world.status("cards")["runningShards"] == 1

        for index in range(3):
            world.work_shard("cards", index, errors=1 if index == 2 else 0)
        world.jobs.finish(job, completed="0-2")
        done = world.wait_phase("cards", "PartiallySucceeded")
        assert (done["total"], done["processed"], done["succeeded"], done["failed"]) == (7, 7, 6, 1)
        assert done["progress"] == "7/7"
        assert done["errorCodes"] == {"no_card_found": 1} and done["countedShards"] == "0-2"
        assert "shards" not in done  # aggregates only, never one entry per shard
        assert done["results"]["jsonl"] == f"s3://{out}/results/results.jsonl"
        jsonl = s3_server.client().get_object(out, "results/results.jsonl").read().decode()
        assert len(jsonl.splitlines()) == 7
        conds = {c["type"]: c["status"] for c in done["conditions"]}
        assert conds == {"Planned": "True", "Suspended": "False", "Complete": "True", "Failed": "False"}
        assert done["completionTime"]

    reasons = [e["reason"] for e in world.events("cards")]
    assert "Planned" in reasons and "PartiallySucceeded" in reasons
    assert all(SECRET_MARKER not in json.dumps(e) for e in world.events("cards"))
    assert len(world.kube.list(JOBS, NAMESPACE)) == 1


def test_an_oom_killed_shard_is_retried_with_more_memory(
    world: World,
    run_operator: Callable[[], Any],
    s3_secret: str,
    buckets: tuple[str, str],
    s3_server: S3Server,
) -> None:
    src, out = buckets
    put_images(s3_server, src, 6)
    with run_operator():
        world.apply(batch_body("oom", src, out, s3_secret))
        job = world.job("oom-0")
        world.work_shard("oom", 0)
        world.jobs.run_pod(job, 0)
        world.jobs.run_pod(job, 1, exit_code=137, reason="OOMKilled")
        world.jobs.finish(job, completed="0", failed="1")

        retry = world.job("oom-1")
        container = retry["spec"]["template"]["spec"]["containers"][0]
        assert container["resources"]["limits"]["memory"] == "768Mi"
        assert retry["spec"]["completions"] == 1
        assert env_of(retry)["OCR_SHARD_INDEXES"] == "1"
        status = world.status("oom")
        assert status["phase"] == "Running"
        assert status["oomKillCount"] == 1 and status["oomKills"][0]["index"] == 1
        assert [a["memory"] for a in status["attempts"]] == ["512Mi", "768Mi"]
        assert "OOMKilled" in [e["reason"] for e in world.events("oom")]

        world.work_shard("oom", 1)
        world.jobs.finish(retry, completed="0")
        done = world.wait_phase("oom", "Succeeded")
        assert done["completedShards"] == "0-1" and done["processed"] == 6
    assert sorted(j["metadata"]["name"] for j in world.kube.list(JOBS, NAMESPACE)) == ["oom-0", "oom-1"]


def test_oom_at_max_memory_fails_the_batch(
    world: World,
    run_operator: Callable[[], Any],
    s3_secret: str,
    buckets: tuple[str, str],
    s3_server: S3Server,
) -> None:
    src, out = buckets
    put_images(s3_server, src, 2)
    with run_operator():
        body = batch_body("big", src, out, s3_secret, resources={"memory": "2Gi"})
        world.apply(body)
        job = world.job("big-0")
        world.jobs.run_pod(job, 0, exit_code=137, reason="OOMKilled")
        world.jobs.finish(job, completed="", failed="0")
        failed = world.wait_phase("big", "Failed")
        assert "2Gi" in failed["message"]
        assert world.kube.find(JOBS, NAMESPACE, "big-1") is None


def test_suspend_and_resume(
    world: World,
    run_operator: Callable[[], Any],
    s3_secret: str,
    buckets: tuple[str, str],
    s3_server: S3Server,
) -> None:
    src, out = buckets
    put_images(s3_server, src, 3)
    with run_operator():
        world.apply(batch_body("pause", src, out, s3_secret))
        world.job("pause-0")
        world.custom.patch_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, "pause", {"spec": {"suspend": True}}
        )
        wait_for("Job suspended", lambda: world.kube.get(JOBS, NAMESPACE, "pause-0")["spec"]["suspend"])
        world.wait_phase("pause", "Suspended")
        world.custom.patch_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, "pause", {"spec": {"suspend": False}}
        )
        wait_for(
            "Job resumed",
            lambda: world.kube.get(JOBS, NAMESPACE, "pause-0")["spec"]["suspend"] is False,
        )
        status = world.wait_phase("pause", "Running")
        assert status["observedGeneration"] == world.batch("pause")["metadata"]["generation"]


def test_deleting_a_batch_deletes_its_jobs_and_pods(
    world: World,
    run_operator: Callable[[], Any],
    s3_secret: str,
    buckets: tuple[str, str],
    s3_server: S3Server,
) -> None:
    src, out = buckets
    put_images(s3_server, src, 3)
    with run_operator():
        world.apply(batch_body("gone", src, out, s3_secret))
        job = world.job("gone-0")
        world.jobs.run_pod(job, 0)
    # The operator is down: deletion must not hang on a finalizer.
    world.custom.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, "gone")
    assert world.kube.find(BATCHES, NAMESPACE, "gone") is None
    assert world.kube.list(JOBS, NAMESPACE) == []
    assert world.kube.list(PODS, NAMESPACE) == []


def test_an_operator_restart_mid_batch_loses_nothing(
    world: World,
    run_operator: Callable[[], Any],
    s3_secret: str,
    buckets: tuple[str, str],
    s3_server: S3Server,
) -> None:
    src, out = buckets
    put_images(s3_server, src, 5)
    with run_operator():
        world.apply(batch_body("again", src, out, s3_secret))
        job = world.job("again-0")
        world.work_shard("again", 0)
        wait_for("progress", lambda: world.status("again").get("processed") == 3)
    before = world.status("again")
    with run_operator() as state:
        # Two full passes of the restarted operator (its start, then a resync).
        passes = state.metrics.registry.get_sample_value
        wait_for_advances("passes", lambda: passes("ocrbatch_reconcile_seconds_count"), 2)
        assert [j["metadata"]["name"] for j in world.kube.list(JOBS, NAMESPACE)] == ["again-0"]
        after = world.status("again")
        assert after["attempts"] == before["attempts"]
        assert after["total"] == 5 and after["processed"] == 3
        world.work_shard("again", 1)
        world.jobs.finish(job, completed="0-1")
        world.wait_phase("again", "Succeeded")
        assert state.metrics.jobs_created._value.get() == 0  # the Job existed already
