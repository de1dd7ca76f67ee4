"""OcrIntake end to end: kopf running the operator against the Kubernetes emulator and a
real S3 server. The tests upload folders, watch batches appear, and play the batch's end
(they set its phase; no worker runs)."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException
from ocr_operator.intake.model import CLAIM_KEYS, CLAIM_MARKER, DONE_MARKER, Claim, keys_hash

from ocr_job.storage.base import parse_manifest
from tests.operator.conftest import NAMESPACE
from tests.support.kube import EVENTS, KubeServer
from tests.support.s3server import S3Server
from tests.support.waiting import wait_for, wait_for_advances

pytestmark = pytest.mark.timeout(120)

GROUP, VERSION = "ocrbatch.io", "v1alpha1"
BATCHES = (GROUP, VERSION, "ocrbatches")
INTAKES = (GROUP, VERSION, "ocrintakes")
ID_IN_KEY = "ID-440101199001011234"  # stands for personal data in keys: never in events


class Drop:
    """The test's hands: S3 uploads, the API, the end of a batch."""

    def __init__(self, kube: KubeServer, api: k8s.ApiClient, s3: S3Server, bucket: str) -> None:
        self.kube = kube
        self.custom = k8s.CustomObjectsApi(api)
        self.s3 = s3
        self.client = s3.client()
        self.bucket = bucket

    def put(self, key: str, data: bytes = b"jpeg") -> None:
        self.client.put_object(self.bucket, key, io.BytesIO(data), len(data))

    def folder(self, prefix: str, count: int, *, ready: bool = True, start: int = 0) -> list[str]:
        keys = [f"{prefix}/{ID_IN_KEY}-{i:04d}.jpg" for i in range(start, start + count)]
        with ThreadPoolExecutor(32) as pool:
            list(pool.map(self.put, keys))
        if ready:
            self.put(f"{prefix}/_READY", b"")
        return keys

    def keys(self, prefix: str) -> list[str]:
        return sorted(o.object_name for o in self.client.list_objects(self.bucket, prefix, recursive=True))

    def read(self, key: str) -> bytes | None:
        try:
            return self.client.get_object(self.bucket, key).read()
        except Exception:
            return None

    def intake(self, name: str, secret: str, out: str, **spec: Any) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "OcrIntake",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {
                "source": {"bucket": self.bucket, "prefix": "incoming/", "credentialsSecret": secret},
                "pollIntervalSeconds": 1,
                "batchTemplate": {
                    "output": {"bucket": out, "prefix": "results"},
                    "shardSize": 200,
                    "parallelism": 2,
                },
                **spec,
            },
        }
        return self.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "ocrintakes", body)

    def status(self, name: str) -> dict[str, Any]:
        return self.kube.get(INTAKES, NAMESPACE, name).get("status") or {}

    def folder_entry(self, intake: str, folder: str) -> dict[str, Any] | None:
        for entry in self.status(intake).get("folders") or []:
            if entry["name"] == folder:
                return entry
        return None

    def batches(self) -> list[dict[str, Any]]:
        return self.kube.list(BATCHES, NAMESPACE)

    def batch(self, name: str) -> dict[str, Any]:
        return wait_for(f"batch {name}", lambda: self.kube.find(BATCHES, NAMESPACE, name))

    def finish(self, name: str, phase: str = "Succeeded") -> None:
        """Play the batch's end once the operator has planned it (its own passes write the
        phase too: write again until it sticks)."""
        wait_for("the plan", lambda: (self.batch(name).get("status") or {}).get("shardCount"))

        def done() -> bool:
            if (self.batch(name).get("status") or {}).get("phase") != phase:
                self.kube.patch(BATCHES, NAMESPACE, name, {"status": {"phase": phase}}, "status")
                return False
            return True

        wait_for(f"{name} {phase}", done)

    def events(self, intake: str) -> list[dict[str, Any]]:
        return [
            e
            for e in self.kube.list(EVENTS, NAMESPACE)
            if e["involvedObject"]["name"] == intake and e["involvedObject"]["kind"] == "OcrIntake"
        ]


@pytest.fixture
def drop(kube: KubeServer, api: k8s.ApiClient, s3_server: S3Server, buckets: tuple[str, str]) -> Drop:
    return Drop(kube, api, s3_server, buckets[0])


def test_marker_folders_become_batches_archived_on_success(
    drop: Drop, run_operator: Callable[[], Any], s3_secret: str, buckets: tuple[str, str]
) -> None:
    _, out = buckets
    drop.folder("incoming/2026-11-29-shanghai", 3)
    drop.folder("incoming/2026-11-30 Beijing", 2, ready=False)
    drop.put("incoming/_archive/old/x.jpg")  # reserved folder: never taken
    with run_operator():
        created = drop.intake(
            "branches",
            s3_secret,
            out,
            onSuccess={"action": "archive", "archivePrefix": "archive/"},
        )
        batch = drop.batch("branches-2026-11-29-shanghai")
        meta, bspec = batch["metadata"], batch["spec"]
        assert meta["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
        assert meta["labels"]["ocrbatch.io/intake"] == "branches"
        assert bspec["source"] == {
            "bucket": drop.bucket,
            "prefix": "incoming/2026-11-29-shanghai",
            "credentialsSecret": s3_secret,
        }
        assert bspec["output"] == {"bucket": out, "prefix": "results/2026-11-29-shanghai", "crops": False}
        assert bspec["shardSize"] == 200 and bspec["parallelism"] == 2
        claim = json.loads(drop.read(f"incoming/2026-11-29-shanghai/{CLAIM_MARKER}") or b"{}")
        assert claim["batch"] == "branches-2026-11-29-shanghai" and claim["objects"] == 3
        assert claim["intake"] == f"{NAMESPACE}/branches"
        status = wait_for(
            "status", lambda: drop.status("branches") if drop.status("branches").get("running") else None
        )
        assert status["seen"] == 2 and status["waiting"] == 1 and status["lastPollTime"]
        waiting = drop.folder_entry("branches", "2026-11-30 Beijing")
        assert waiting and waiting["state"] == "Waiting"
        conds = {c["type"]: c for c in status["conditions"]}
        assert conds["Ready"]["status"] == "True"

        drop.finish("branches-2026-11-29-shanghai")
        entry = wait_for(
            "done",
            lambda: (
                (e := drop.folder_entry("branches", "2026-11-29-shanghai")) and e["state"] == "Done" and e
            ),
        )
        assert entry["phase"] == "Succeeded"
        archived = drop.keys("archive/2026-11-29-shanghai/")
        assert entry["lateObjects"] == 0
        assert len([k for k in archived if k.endswith(".jpg")]) == 3
        assert f"archive/2026-11-29-shanghai/{DONE_MARKER}" in archived
        assert f"archive/2026-11-29-shanghai/{CLAIM_MARKER}" in archived
        assert drop.keys("incoming/2026-11-29-shanghai/") == []  # moved, markers too
        assert drop.status("branches")["done"] == 1

        # The second folder gets its marker: a second batch.
        drop.put("incoming/2026-11-30 Beijing/_READY", b"")
        second = wait_for(
            "second batch",
            lambda: [
                b for b in drop.batches() if b["metadata"]["name"].startswith("branches-2026-11-30-beijing-")
            ],
        )
        assert len(second) == 1
        assert second[0]["spec"]["source"]["prefix"] == "incoming/2026-11-30 Beijing"
        wait_for_advances(  # a few more polls: nothing new
            "polls", lambda: drop.status("branches").get("lastPollTime"), 2
        )
        assert len(drop.batches()) == 2
        assert "finalizers" not in drop.kube.get(INTAKES, NAMESPACE, "branches")["metadata"]

    reasons = [e["reason"] for e in drop.events("branches")]
    assert reasons.count("Claimed") == 2 and "FolderDone" in reasons
    assert all(ID_IN_KEY not in json.dumps(e) for e in drop.events("branches"))


def test_late_objects_are_reported(
    drop: Drop, run_operator: Callable[[], Any], s3_secret: str, buckets: tuple[str, str]
) -> None:
    _, out = buckets
    drop.folder("incoming/f1", 2)
    with run_operator():
        drop.intake("late", s3_secret, out, onSuccess={"action": "delete"})
        drop.batch("late-f1")
        wait_for("planned", lambda: (drop.batch("late-f1").get("status") or {}).get("shardCount"))
        drop.put(f"incoming/f1/{ID_IN_KEY}-late.jpg")
        drop.finish("late-f1", "PartiallySucceeded")
        entry = wait_for(
            "done", lambda: (e := drop.folder_entry("late", "f1")) and e["state"] == "Done" and e
        )
        assert entry["lateObjects"] == 1
        left = drop.keys("incoming/f1/")
        assert left == sorted(
            [
                f"incoming/f1/{ID_IN_KEY}-late.jpg",
                "incoming/f1/_CLAIMED",
                "incoming/f1/_CLAIMED.keys",
                "incoming/f1/_DONE",
                "incoming/f1/_READY",
            ]
        )
        done = json.loads(drop.read("incoming/f1/_DONE") or b"{}")
        assert done["lateObjects"] == 1 and done["phase"] == "PartiallySucceeded"
        wait_for_advances(  # the folder stays claimed: no second batch
            "polls", lambda: drop.status("late").get("lastPollTime"), 2
        )
        assert [b["metadata"]["name"] for b in drop.batches()] == ["late-f1"]
    reasons = [e["reason"] for e in drop.events("late")]
    assert "LateObjects" in reasons
    assert all(ID_IN_KEY not in json.dumps(e) for e in drop.events("late"))


def test_failed_batch_keeps_the_folder(
    drop: Drop, run_operator: Callable[[], Any], s3_secret: str, buckets: tuple[str, str]
) -> None:
    _, out = buckets
    keys = drop.folder("incoming/bad", 2)
    with run_operator():
        drop.intake("keeper", s3_secret, out, onSuccess={"action": "delete"})
        drop.finish("keeper-bad", "Failed")
        entry = wait_for(
            "failed", lambda: (e := drop.folder_entry("keeper", "bad")) and e["state"] == "Failed" and e
        )
        assert entry["phase"] == "Failed"
        assert set(keys) <= set(drop.keys("incoming/bad/"))
        assert drop.read("incoming/bad/_DONE")
        assert drop.status("keeper")["failed"] == 1
    assert "FolderFailed" in [e["reason"] for e in drop.events("keeper")]


def test_quiet_mode_and_more_than_1000_objects(
    drop: Drop, run_operator: Callable[[], Any], s3_secret: str, buckets: tuple[str, str]
) -> None:
    _, out = buckets
    keys = drop.folder("incoming/big", 1100, ready=False)
    with run_operator():
        drop.intake("quiet", s3_secret, out, readiness={"mode": "quiet", "quietSeconds": 2})
        waiting = wait_for(
            "waiting", lambda: (e := drop.folder_entry("quiet", "big")) and e["state"] == "Waiting" and e
        )
        assert waiting["objects"] == 1100 and waiting["fingerprint"]
        # Still arriving: the quiet period starts again.
        drop.folder("incoming/big", 5, ready=False, start=1100)
        batch = drop.batch("quiet-big")
        claim = json.loads(drop.read(f"incoming/big/{CLAIM_MARKER}") or b"{}")
        assert claim["objects"] == 1105
        listed = parse_manifest((drop.read(f"incoming/big/{CLAIM_KEYS}") or b"").decode())
        assert len(listed) == 1105
        all_keys = [k.removeprefix("incoming/big/") for k in [*keys, *drop.keys("incoming/big/")]]
        assert claim["keysSha256"] == keys_hash(sorted({k for k in all_keys if k.endswith(".jpg")}))
        assert batch["spec"]["source"]["prefix"] == "incoming/big"
        planned = wait_for("the plan", lambda: (drop.batch("quiet-big").get("status") or {}).get("total"))
        assert planned == 1105  # the batch saw every page too


def test_two_intakes_on_overlapping_prefixes(
    drop: Drop, run_operator: Callable[[], Any], s3_secret: str, buckets: tuple[str, str]
) -> None:
    _, out = buckets
    for i in range(4):
        drop.folder(f"incoming/f{i}", 1)
    with run_operator():
        # Same prefix: first writer of each folder's claim marker wins.
        drop.intake("alpha", s3_secret, out)
        drop.intake("beta", s3_secret, out)
        # A parent prefix in quiet mode: `incoming` holds claimed sub-folders, so it is
        # not taken.
        body = {
            "source": {"bucket": drop.bucket, "prefix": "", "credentialsSecret": s3_secret},
            "readiness": {"mode": "quiet", "quietSeconds": 1},
        }
        drop.intake("parent", s3_secret, out, **body)
        wait_for("4 batches", lambda: len(drop.batches()) >= 4)
        for name in ("alpha", "beta", "parent"):  # several more polls of all three
            wait_for_advances("polls", lambda n=name: drop.status(n).get("lastPollTime"), 2)
        batches = drop.batches()
        folders = sorted(b["metadata"]["annotations"]["ocrbatch.io/intake-folder"] for b in batches)
        assert folders == ["f0", "f1", "f2", "f3"]
        for b in batches:
            owner = b["metadata"]["labels"]["ocrbatch.io/intake"]
            folder = b["metadata"]["annotations"]["ocrbatch.io/intake-folder"]
            claim = json.loads(drop.read(f"incoming/{folder}/{CLAIM_MARKER}") or b"{}")
            assert claim["intake"] == f"{NAMESPACE}/{owner}"
            assert claim["batch"] == b["metadata"]["name"]
        elsewhere = drop.status("alpha").get("claimedElsewhere", 0) + drop.status("beta").get(
            "claimedElsewhere", 0
        )
        assert elsewhere == 4
        entry = wait_for(
            "the parent folder claimed elsewhere",
            lambda: (e := drop.folder_entry("parent", "incoming")) and e["state"] == "ClaimedElsewhere" and e,
        )
        assert entry["message"] == "a sub-folder is claimed by another intake"


def test_restart_between_claim_and_batch_creates_exactly_one_batch(
    drop: Drop,
    kube: KubeServer,
    run_operator: Callable[[], Any],
    s3_secret: str,
    buckets: tuple[str, str],
) -> None:
    _, out = buckets
    keys = drop.folder("incoming/crash", 2)
    created = drop.intake("restart", s3_secret, out)  # the operator is down
    claim = Claim(
        batch="restart-crash",
        intake=f"{NAMESPACE}/restart",
        intake_uid=created["metadata"]["uid"],
        claimed_at="2026-11-29T08:00:00Z",
        objects=2,
        keys_sha256=keys_hash(k.removeprefix("incoming/crash/") for k in keys),
        nonce="before-the-crash",
    )
    drop.put(f"incoming/crash/{CLAIM_MARKER}", claim.to_json().encode())
    with run_operator():
        drop.batch("restart-crash")
        wait_for_advances("polls", lambda: drop.status("restart").get("lastPollTime"), 2)
        assert [b["metadata"]["name"] for b in drop.batches()] == ["restart-crash"]
        again = json.loads(drop.read(f"incoming/crash/{CLAIM_MARKER}") or b"{}")
        assert again["nonce"] == "before-the-crash"  # not claimed a second time
        entry = drop.folder_entry("restart", "crash")
        assert entry and entry["state"] == "Running"
    with run_operator():  # a plain restart: nothing new
        wait_for_advances("polls", lambda: drop.status("restart").get("lastPollTime"), 2)
        assert [b["metadata"]["name"] for b in drop.batches()] == ["restart-crash"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_bad_spec_and_unreachable_bucket(
    drop: Drop,
    run_operator: Callable[..., Any],
    s3_secret: str,
    buckets: tuple[str, str],
    s3_server: S3Server,
) -> None:
    _, out = buckets
    drop.folder("incoming/ok", 1)
    port = _closed_port()
    allowed = (s3_server.endpoint, f"127.0.0.1:{port}")
    with run_operator(s3_endpoints=allowed):
        with pytest.raises(ApiException) as err:
            drop.intake("bad", s3_secret, out, onSuccess={"action": "shred"})
        assert err.value.status == 422 and "spec.onSuccess.action" in err.value.body

        # An endpoint off the operator's allowlist is never called.
        drop.intake(
            "elsewhere",
            s3_secret,
            out,
            source={
                "bucket": drop.bucket,
                "prefix": "incoming/",
                "credentialsSecret": s3_secret,
                "endpoint": "http://127.0.0.1:1",
            },
        )
        refused = wait_for(
            "EndpointNotAllowed",
            lambda: next(
                (
                    c
                    for c in drop.status("elsewhere").get("conditions") or []
                    if c["type"] == "Ready" and c["reason"] == "EndpointNotAllowed"
                ),
                None,
            ),
        )
        assert refused["status"] == "False" and "127.0.0.1" not in refused["message"]
        assert "EndpointNotAllowed" in [e["reason"] for e in drop.events("elsewhere")]

        drop.intake(
            "down",
            s3_secret,
            out,
            source={
                "bucket": drop.bucket,
                "prefix": "incoming/",
                "credentialsSecret": s3_secret,
                "endpoint": f"127.0.0.1:{port}",
            },
        )
        cond = wait_for(
            "BucketUnreachable",
            lambda: next(
                (
                    c
                    for c in drop.status("down").get("conditions") or []
                    if c["type"] == "Ready" and c["reason"] == "BucketUnreachable"
                ),
                None,
            ),
            timeout=30,
        )
        assert cond["status"] == "False" and cond["message"]
        wait_for("the event", lambda: "BucketUnreachable" in [e["reason"] for e in drop.events("down")])

        wait_for_advances(  # more failed polls: still not ready, one Event, no flapping
            "polls", lambda: drop.status("down").get("lastPollTime"), 2
        )
        conds = {c["type"]: c for c in drop.status("down")["conditions"]}
        assert conds["Ready"]["status"] == "False"
        assert [e["reason"] for e in drop.events("down")].count("BucketUnreachable") == 1

        # A missing Secret: a clear reason too.
        drop.intake(
            "nosecret",
            s3_secret,
            out,
            source={"bucket": drop.bucket, "prefix": "incoming/", "credentialsSecret": "absent"},
        )
        wait_for(
            "CredentialsUnavailable",
            lambda: any(
                c["reason"] == "CredentialsUnavailable"
                for c in drop.status("nosecret").get("conditions") or []
            ),
        )

        # The operator is alive: a good intake still works.
        drop.intake("good", s3_secret, out)
        drop.batch("good-ok")
        assert drop.status("down").get("lastPollTime")
    names = {b["metadata"]["name"] for b in drop.batches()}
    assert names == {"good-ok"}, names


def test_intakes_sharing_an_output_never_mix_batches(
    drop: Drop, run_operator: Callable[[], Any], s3_secret: str, buckets: tuple[str, str]
) -> None:
    """Two intakes with one output template and a folder of the same name: the later batch
    meets the earlier one's plan, stops (OutputInUse) and its folder is kept, Failed."""
    _, out = buckets
    first_keys = drop.folder("incoming/same", 2)
    other_keys = drop.folder("elsewhere/same", 3)
    with run_operator():
        drop.intake("one", s3_secret, out)
        planned = wait_for(
            "the first plan", lambda: (drop.batch("one-same").get("status") or {}).get("total")
        )
        assert planned == len(first_keys)
        drop.intake(
            "two",
            s3_secret,
            out,
            source={"bucket": drop.bucket, "prefix": "elsewhere/", "credentialsSecret": s3_secret},
        )
        stopped = wait_for(
            "OutputInUse",
            lambda: (st := drop.batch("two-same").get("status") or {}).get("phase") == "Failed" and st,
        )
        cond = next(c for c in stopped["conditions"] if c["type"] == "Failed")
        assert cond["reason"] == "OutputInUse" and "shardCount" not in stopped
        entry = wait_for(
            "failed", lambda: (e := drop.folder_entry("two", "same")) and e["state"] == "Failed" and e
        )
        assert entry["phase"] == "Failed"
        assert set(other_keys) <= set(drop.keys("elsewhere/same/"))
        assert (drop.batch("one-same").get("status") or {}).get("total") == len(first_keys)
