"""What a batch may not do, against the emulator and a real S3 server: read another batch's
plan, leak a key into its status, Events or the operator's log, run as a ServiceAccount off
the allowlist, call an endpoint off the allowlist, ask for more than the maxima
(docs/operator.md, "One plan, one batch" and "Cluster surface")."""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException
from ocr_operator.batch.jobs import identity_name
from ocr_operator.batch.planner import PLAN_FILE, Plan

from ocr_job.storage.base import MANIFESTS_DIR
from ocr_job.storage.s3 import read_manifest
from tests.operator.world import BATCHES, NAMESPACE, SECRET_MARKER, World, batch_body, put_images
from tests.support.kube import JOBS, KubeServer
from tests.support.s3server import S3Server
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(120)

SERVICE_ACCOUNTS = ("", "v1", "serviceaccounts")
ROLES = ("rbac.authorization.k8s.io", "v1", "roles")
ROLE_BINDINGS = ("rbac.authorization.k8s.io", "v1", "rolebindings")
PLAN_KEY = f"results/{MANIFESTS_DIR}/{PLAN_FILE}"


def failed_with(world: World, name: str, reason: str) -> dict[str, Any]:
    """Wait for phase Failed; check the Failed condition's reason and the Warning Event."""
    status = world.wait_phase(name, "Failed")
    cond = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert cond["status"] == "True" and cond["reason"] == reason, cond
    assert cond["message"] == status["message"]
    wait_for(f"the {reason} Event", lambda: reason in [e["reason"] for e in world.events(name)])
    (event,) = [e for e in world.events(name) if e["reason"] == reason]
    assert event["type"] == "Warning" and event["message"] == status["message"]
    return status


def plan_in(s3: S3Server, bucket: str) -> Plan:
    return Plan.from_json(s3.client().get_object(bucket, PLAN_KEY).read().decode())


# --------------------------------------------------------------------------- one plan, one batch


def test_a_batch_never_reads_another_batchs_plan(
    world: World,
    run_operator: Callable[[], Any],
    s3_secret: str,
    buckets: tuple[str, str],
    s3_server: S3Server,
) -> None:
    src, out = buckets
    put_images(s3_server, src, 4)
    other_src = s3_server.make_bucket(f"{src}-b")
    put_images(s3_server, other_src, 2, prefix="scans")
    with run_operator():
        first = world.apply(batch_body("first", src, out, s3_secret))
        wait_for("the plan", lambda: world.status("first").get("shardCount"))
        plan = plan_in(s3_server, out)
        assert plan.owner is not None and plan.owner.uid == first["metadata"]["uid"]
        assert plan.total == 4 and plan.spec_digest
        manifests_before = read_manifest(
            world.status("first")["manifests"].format(index=0), s3_server.settings()
        )

        # Another source, the same output prefix: stopped, nothing listed or written.
        world.apply(batch_body("second", other_src, out, s3_secret))
        status = failed_with(world, "second", "OutputInUse")
        assert "the batch first" in status["message"]
        assert "shardCount" not in status and "manifests" not in status
        assert world.kube.find(JOBS, NAMESPACE, "second-0") is None
        assert plan_in(s3_server, out) == plan
        assert (
            read_manifest(world.status("first")["manifests"].format(index=0), s3_server.settings())
            == manifests_before
        )

        # The same name again (a new uid): a different batch, so the plan is not its own.
        world.kube.delete(BATCHES, NAMESPACE, "first")
        world.apply(batch_body("first", src, out, s3_secret))
        status = failed_with(world, "first", "OutputInUse")
        assert "an earlier batch of this name" in status["message"]
        assert plan_in(s3_server, out) == plan


def test_two_batches_created_at_once_on_one_prefix(
    world: World,
    run_operator: Callable[[], Any],
    s3_secret: str,
    buckets: tuple[str, str],
    s3_server: S3Server,
) -> None:
    src, out = buckets
    put_images(s3_server, src, 5)
    with run_operator():
        bodies = [batch_body(f"twin-{i}", src, out, s3_secret) for i in range(2)]
        threads = [threading.Thread(target=world.apply, args=(b,)) for b in bodies]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        def settled() -> list[dict[str, Any]] | None:
            statuses = [world.status(f"twin-{i}") for i in range(2)]
            ok = [s for s in statuses if s.get("shardCount") is not None]
            failed = [s for s in statuses if s.get("phase") == "Failed"]
            return statuses if len(ok) == 1 and len(failed) == 1 else None

        statuses = wait_for("one planned, one stopped", settled)
        winner = next(i for i, s in enumerate(statuses) if s.get("shardCount") is not None)
        failed_with(world, f"twin-{1 - winner}", "OutputInUse")
        owner = plan_in(s3_server, out).owner
        assert owner is not None
        assert owner.uid == world.batch(f"twin-{winner}")["metadata"]["uid"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (json.dumps({"total": 9, "shard_count": 3, "shard_size": 3}), "no owner recorded"),
        ("not json at all", "cannot read"),
    ],
)
def test_a_plan_without_owner_or_unreadable_is_not_reused(
    world: World,
    run_operator: Callable[[], Any],
    s3_secret: str,
    buckets: tuple[str, str],
    s3_server: S3Server,
    text: str,
    says: str,
) -> None:
    src, out = buckets
    put_images(s3_server, src, 2)
    data = text.encode()
    s3_server.client().put_object(out, PLAN_KEY, io.BytesIO(data), len(data))
    with run_operator():
        world.apply(batch_body("late", src, out, s3_secret))
        status = failed_with(world, "late", "OutputInUse")
        assert says in status["message"]
    assert s3_server.client().get_object(out, PLAN_KEY).read() == data


# --------------------------------------------------------------------------- keys never leak


#: Keys a line-per-key manifest could not hold, or that would garble a terminal or a log:
#: each carries SECRET_MARKER (it stands for a name in a file name).
def odd_keys() -> list[str]:
    keys = [
        f"scans/{SECRET_MARKER}\nline.jpg",
        f"scans/{SECRET_MARKER}\rcarriage.jpg",
        f"scans/{SECRET_MARKER}\ttab.jpg",
        f"scans/\x1b[31m{SECRET_MARKER}\x1b[0m.jpg",
        f"scans/{SECRET_MARKER}\x01\x7f.jpg",
    ]
    # 1024 bytes, the S3 maximum (SeaweedFS also caps one path segment at 255 bytes).
    head = f"scans/{SECRET_MARKER}/"
    body = "/".join(["x" * 250] * 4)
    long_key = head + body[: 1024 - len(head) - len(".jpg")] + ".jpg"
    assert len(long_key.encode()) == 1024
    return [*keys, long_key]


@pytest.fixture
def captured_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog


def test_odd_keys_are_planned_and_never_reach_status_events_or_logs(
    world: World,
    run_operator: Callable[[], Any],
    s3_secret: str,
    buckets: tuple[str, str],
    s3_server: S3Server,
    captured_log: pytest.LogCaptureFixture,
) -> None:
    src, out = buckets
    keys = odd_keys()
    client = s3_server.client()
    for key in keys:
        client.put_object(src, key, io.BytesIO(b"jpeg"), 4)
    captured_log.clear()  # from here on, only what the operator logs
    with run_operator():
        world.apply(batch_body("odd", src, out, s3_secret, shardSize=4))
        wait_for("the plan", lambda: world.status("odd").get("shardCount"))
        status = world.status("odd")
        assert status["total"] == len(keys) and status["shardCount"] == 2
        planned = [
            k
            for i in range(2)
            for k in read_manifest(status["manifests"].format(index=i), s3_server.settings())
        ]
        assert sorted(planned) == sorted(keys)  # exactly, control characters and all
        world.job("odd-0")
        world.wait_phase("odd", "Running")
        batch = world.batch("odd")
        events = world.events("odd")
    seen = "\n".join(
        [
            json.dumps(batch, ensure_ascii=False),
            json.dumps(events, ensure_ascii=False),
            captured_log.text,
            *(r.getMessage() for r in captured_log.records),
        ]
    )
    assert captured_log.records  # the operator did log
    assert SECRET_MARKER not in seen
    assert "\x1b" not in seen


def test_a_failing_plan_puts_no_key_into_the_status(
    world: World,
    run_operator: Callable[[], Any],
    s3_secret: str,
    buckets: tuple[str, str],
    s3_server: S3Server,
    captured_log: pytest.LogCaptureFixture,
) -> None:
    """A planning error whose text quotes a key (an error we did not write) reaches the
    status and the log as its class name only."""
    from ocr_operator.batch.storage import S3BatchStorage

    class Quoting(S3BatchStorage):
        def write_manifest(self, index: int, keys: list[str]) -> None:
            raise ValueError(f"cannot take {keys[0]!r}")

    src, out = buckets
    put_images(s3_server, src, 2)
    captured_log.clear()
    with run_operator() as state:
        state.reconciler.storage_factory = Quoting
        world.apply(batch_body("quoting", src, out, s3_secret))
        message = wait_for("the message", lambda: world.status("quoting").get("message"))
    assert message.startswith("planning failed: ValueError")
    assert SECRET_MARKER not in captured_log.text + json.dumps(world.batch("quoting"))


# --------------------------------------------------------------------------- cluster surface


def test_the_default_identity_is_an_account_without_permission_or_token(
    world: World,
    run_operator: Callable[[], Any],
    s3_secret: str,
    buckets: tuple[str, str],
    s3_server: S3Server,
) -> None:
    """Workers make no API call (progress goes to the output): the batch's own account gets
    no Role, no RoleBinding, and its pods no token."""
    src, out = buckets
    put_images(s3_server, src, 2)
    with run_operator():
        created = world.apply(batch_body("mine", src, out, s3_secret))
        job = world.job("mine-0")
    name = identity_name("mine")
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == name and pod["automountServiceAccountToken"] is False
    account = world.kube.get(SERVICE_ACCOUNTS, NAMESPACE, name)
    assert [r["uid"] for r in account["metadata"]["ownerReferences"]] == [created["metadata"]["uid"]]
    assert account["automountServiceAccountToken"] is False
    assert world.kube.list(ROLES, NAMESPACE) == []
    assert world.kube.list(ROLE_BINDINGS, NAMESPACE) == []


def test_an_identity_the_batch_does_not_own_is_not_used(
    world: World,
    kube: KubeServer,
    run_operator: Callable[[], Any],
    s3_secret: str,
    buckets: tuple[str, str],
    s3_server: S3Server,
) -> None:
    src, out = buckets
    put_images(s3_server, src, 2)
    kube.create(SERVICE_ACCOUNTS, {"metadata": {"name": identity_name("taken"), "namespace": NAMESPACE}})
    with run_operator():
        world.apply(batch_body("taken", src, out, s3_secret))
        failed_with(world, "taken", "IdentityConflict")
        assert world.kube.find(JOBS, NAMESPACE, "taken-0") is None


def test_service_accounts_off_the_allowlist_are_refused(
    world: World,
    run_operator: Callable[..., Any],
    s3_secret: str,
    buckets: tuple[str, str],
    s3_server: S3Server,
) -> None:
    src, out = buckets
    put_images(s3_server, src, 2)
    with run_operator(service_accounts=("shared-worker",)):
        world.apply(batch_body("admin", src, out, s3_secret, serviceAccountName="default"))
        failed_with(world, "admin", "ServiceAccountNotAllowed")
        assert world.kube.find(JOBS, NAMESPACE, "admin-0") is None
        world.apply(batch_body("shared", src, out, s3_secret, serviceAccountName="shared-worker"))
        job = world.job("shared-0")
        assert job["spec"]["template"]["spec"]["serviceAccountName"] == "shared-worker"
        assert world.kube.find(SERVICE_ACCOUNTS, NAMESPACE, identity_name("shared")) is None
        assert world.kube.list(ROLE_BINDINGS, NAMESPACE) == []


def test_an_endpoint_off_the_allowlist_is_never_called(
    world: World,
    run_operator: Callable[[], Any],
    s3_secret: str,
    buckets: tuple[str, str],
    s3_server: S3Server,
) -> None:
    src, out = buckets
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    with listener, run_operator():
        body = batch_body("probe", src, out, s3_secret)
        body["spec"]["source"]["endpoint"] = f"http://127.0.0.1:{port}"
        world.apply(body)
        status = failed_with(world, "probe", "EndpointNotAllowed")
        assert str(port) not in status["message"]
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"resources": {"memory": "64Gi"}}, "spec.resources.memory"),
        ({"resources": {"cpu": "100"}}, "spec.resources.cpu"),
        ({"resources": {"cpu": "40000m"}}, "spec.resources.cpu"),
        ({"retry": {"maxMemory": "1Ti"}}, "spec.retry.maxMemory"),
    ],
)
def test_quantities_over_the_maxima_fail_the_batch(
    world: World,
    run_operator: Callable[[], Any],
    s3_secret: str,
    buckets: tuple[str, str],
    spec: dict[str, Any],
    field: str,
) -> None:
    src, out = buckets
    with run_operator():
        world.apply(batch_body("greedy", src, out, s3_secret, **spec))
        status = failed_with(world, "greedy", "LimitExceeded")
        assert field in status["message"]
        assert world.kube.find(JOBS, NAMESPACE, "greedy-0") is None


@pytest.mark.parametrize(
    "spec",
    [
        {"ttlSecondsAfterFinished": 10**9},
        {"resources": {"cpu": 100}},
        {"resources": {"memory": "1" * 40}},
        {"parallelism": 10**6},
    ],
)
def test_integers_over_the_maxima_are_refused_by_the_schema(
    world: World, s3_secret: str, buckets: tuple[str, str], spec: dict[str, Any]
) -> None:
    src, out = buckets
    with pytest.raises(ApiException) as err:
        world.apply(batch_body("greedy", src, out, s3_secret, **spec))
    assert err.value.status == 422


def test_events_cannot_carry_control_characters(kube: KubeServer, api: k8s.ApiClient) -> None:
    """Whatever a message is made from (an intake's folder name, a storage error), the Event
    holds no line break or escape sequence: `kubectl describe` prints it raw."""
    from ocr_operator.cluster import KubeCluster

    from tests.support.kube import EVENTS

    owner = {
        "apiVersion": "ocrbatch.io/v1alpha1",
        "kind": "OcrBatch",
        "metadata": {"name": "b", "namespace": NAMESPACE, "uid": "u"},
    }
    KubeCluster(api, [NAMESPACE]).post_event(owner, "Warning", "Test", "folder \x1b[31mx\ny\r\t!")
    (event,) = kube.list(EVENTS, NAMESPACE)
    assert event["message"] == "folder ?[31mx?y??!"


def test_a_spec_changed_mid_run_is_checked_before_the_next_job(
    world: World,
    run_operator: Callable[[], Any],
    s3_secret: str,
    buckets: tuple[str, str],
    s3_server: S3Server,
) -> None:
    src, out = buckets
    put_images(s3_server, src, 2)
    with run_operator():
        world.apply(batch_body("turn", src, out, s3_secret))
        world.job("turn-0")
        world.wait_phase("turn", "Running")
        changed = world.custom.patch_namespaced_custom_object(
            "ocrbatch.io",
            "v1alpha1",
            NAMESPACE,
            "ocrbatches",
            "turn",
            {"spec": {"serviceAccountName": "default"}},
        )
        # A pass begun before the change (it still holds the old spec) would make the Job
        # again: delete it once a pass has read the new spec.
        generation = changed["metadata"]["generation"]
        wait_for("a pass of the new spec",
                 lambda: world.status("turn").get("observedGeneration") == generation)  # fmt: skip
        world.kube.delete(JOBS, NAMESPACE, "turn-0")  # the next pass would make it again
        failed_with(world, "turn", "ServiceAccountNotAllowed")
        assert world.kube.find(JOBS, NAMESPACE, "turn-0") is None
