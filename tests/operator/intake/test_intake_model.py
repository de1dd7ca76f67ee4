"""OcrIntake's pure parts: names, readiness, the claim, the batch, settling a finished
folder, the status list, the poll clock; the CRD schema and the example; the conditional
create on the real S3 server."""

from __future__ import annotations

import copy
import io
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from ocr_operator.intake.model import (
    CLAIM_KEYS,
    CLAIM_MARKER,
    DONE_MARKER,
    Claim,
    IntakeSpec,
    ObjectInfo,
    ancestors,
    batch_for,
    batch_name,
    dns_label,
    fingerprint,
    folder_of,
    foreign_claims_below,
    keys_hash,
    label_value,
    parse_claim,
    quiet_readiness,
    settle,
)
from ocr_operator.intake.runtime import PollClock
from ocr_operator.intake.status import (
    MAX_FINISHED_ENTRIES,
    FolderEntry,
    FolderState,
    counts,
    folders_from_status,
    folders_to_status,
)
from ocr_operator.intake.storage import S3IntakeStorage
from ocr_operator.kube import INTAKE_PLURAL, LABEL_INTAKE

from tests.support.kube_rules import admit, crd_schema, schema_errors
from tests.support.s3server import S3Server

ROOT = Path(__file__).resolve().parents[3]
DNS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
T0 = datetime(2026, 11, 29, 8, 0, 0, tzinfo=UTC)


def spec(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "source": {"bucket": "intake", "prefix": "incoming/", "credentialsSecret": "s3"},
        "batchTemplate": {"output": {"bucket": "results", "prefix": "ocr"}, "shardSize": 50},
    }
    base.update(over)
    return base


# --------------------------------------------------------------------------- names


def test_batch_name_is_kept_when_already_valid() -> None:
    assert batch_name("branches", "2026-11-29-shanghai") == "branches-2026-11-29-shanghai"


@pytest.mark.parametrize(
    "folder",
    ["2026-11-29 Shanghai", "上海-浦东", "A_B.C", "x" * 80, "--", "UPPER", "a..b"],
)
def test_batch_name_is_a_dns_label_with_a_hash_when_changed(folder: str) -> None:
    name = batch_name("branches", folder)
    assert DNS.match(name) and len(name) <= 63
    assert re.search(r"-[0-9a-f]{8}$", name)
    assert name == batch_name("branches", folder)  # deterministic


def test_names_that_sanitise_alike_stay_distinct() -> None:
    assert batch_name("b", "Shanghai") != batch_name("b", "shanghai")
    assert batch_name("b", "a b") != batch_name("b", "a_b")
    assert batch_name("b", "x" * 70 + "1") != batch_name("b", "x" * 70 + "2")
    # intake and folder are hashed apart: "a-b"+"c" is not "a"+"b-c"
    assert batch_name("a-b", "c" * 60) != batch_name("a", "b-" + "c" * 60)


def test_dns_label_and_label_value() -> None:
    assert dns_label("ok-name") == "ok-name"
    assert dns_label("日本").startswith("x-")
    long = "n" * 100
    assert len(label_value(long)) <= 63 and label_value("short.name") == "short.name"


def test_folder_of_and_reserved_folders() -> None:
    assert folder_of("incoming/2026-11-29/", "incoming/") == "2026-11-29"
    assert folder_of("incoming/_archive/", "incoming/") is None
    assert folder_of("incoming/.tmp/", "incoming/") is None
    assert folder_of("other/x/", "incoming/") is None
    assert folder_of("x/", "") == "x"


def test_ancestors() -> None:
    assert ancestors("a/b/") == ["a/b/", "a/"]
    assert ancestors("") == []


# --------------------------------------------------------------------------- readiness


def test_quiet_readiness_needs_a_stable_fingerprint_for_the_quiet_period() -> None:
    first = quiet_readiness(current="f1", previous=None, since=None, now=T0, quiet_seconds=60, empty=False)
    assert not first.ready and first.since == T0
    changed = quiet_readiness(
        current="f2",
        previous="f1",
        since=T0,
        now=T0 + timedelta(seconds=90),
        quiet_seconds=60,
        empty=False,
    )
    assert not changed.ready and changed.since == T0 + timedelta(seconds=90)
    early = quiet_readiness(
        current="f2",
        previous="f2",
        since=T0,
        now=T0 + timedelta(seconds=30),
        quiet_seconds=60,
        empty=False,
    )
    assert not early.ready and early.since == T0
    ready = quiet_readiness(
        current="f2",
        previous="f2",
        since=T0,
        now=T0 + timedelta(seconds=60),
        quiet_seconds=60,
        empty=False,
    )
    assert ready.ready
    empty = quiet_readiness(
        current="f0",
        previous="f0",
        since=T0,
        now=T0 + timedelta(hours=1),
        quiet_seconds=60,
        empty=True,
    )
    assert not empty.ready


def test_fingerprint_changes_with_any_object_but_not_with_markers() -> None:
    objs = [ObjectInfo("a.jpg", 3, "e1", 1.0), ObjectInfo("b.jpg", 4, "e2", 2.0)]
    base = fingerprint(objs)
    assert fingerprint(list(reversed(objs))) == base
    assert fingerprint([*objs, ObjectInfo("c.jpg", 1, "e3", 3.0)]) != base
    assert fingerprint([objs[0], ObjectInfo("b.jpg", 4, "e9", 5.0)]) != base
    reserved = frozenset({CLAIM_MARKER})
    assert fingerprint([*objs, ObjectInfo(CLAIM_MARKER)], reserved) == fingerprint(objs, reserved)


def test_foreign_claims_below() -> None:
    objs = [ObjectInfo("x/_CLAIMED"), ObjectInfo("_CLAIMED"), ObjectInfo("y/a.jpg")]
    assert foreign_claims_below(objs) == ["x/"]


# --------------------------------------------------------------------------- the claim


def test_claim_round_trip_and_garbage() -> None:
    claim = Claim(
        batch="b-x",
        intake="ocr/b",
        intake_uid="u1",
        claimed_at="2026-11-29T08:00:00Z",
        objects=3,
        keys_sha256=keys_hash(["b", "a"]),
        nonce="n",
    )
    back = parse_claim(claim.to_json())
    assert back == claim and back.owned_by("u1") and not back.owned_by("u2")
    assert keys_hash(["a", "b"]) == claim.keys_sha256
    for junk in (None, "", b"not json", "{}", '{"batch": 1, "objects": "x"}', "[]"):
        assert parse_claim(junk) is None
    assert not Claim("b", "i", "", "", 0, "").owned_by("")


# --------------------------------------------------------------------------- spec and batch


def test_spec_parse_defaults_and_errors() -> None:
    parsed = IntakeSpec.parse(spec())
    assert parsed.readiness.mode == "marker" and parsed.readiness.marker == "_READY"
    assert parsed.on_success.action == "keep" and parsed.max_concurrent_batches == 4
    assert parsed.source.base == "incoming/"
    assert parsed.reserved_names == {CLAIM_MARKER, CLAIM_KEYS, DONE_MARKER, "_READY"}
    with pytest.raises(ValueError, match="archivePrefix is required"):
        IntakeSpec.parse(spec(onSuccess={"action": "archive"}))
    with pytest.raises(ValueError, match=r"inside source\.prefix"):
        IntakeSpec.parse(spec(onSuccess={"action": "archive", "archivePrefix": "incoming/old"}))
    ok = IntakeSpec.parse(spec(onSuccess={"action": "archive", "archivePrefix": "incoming/_old/"}))
    assert ok.on_success.archive_base == "incoming/_old/"


def test_batch_for_one_folder() -> None:
    intake = {"metadata": {"name": "branches", "namespace": "ocr", "uid": "u-1"}}
    parsed = IntakeSpec.parse(
        spec(
            source={
                "bucket": "intake",
                "prefix": "/incoming",
                "include": ["*.jpg"],
                "endpoint": "http://s3:9000",
                "credentialsSecret": "s3",
            },
            batchTemplate={
                "output": {"bucket": "results", "prefix": "ocr/", "crops": True},
                "shardSize": 50,
                "engine": {"name": "onnx"},
                "queueName": "q",
            },
        )
    )
    body = batch_for(intake=intake, spec=parsed, folder="2026-11-29", name="branches-2026-11-29")
    assert body["metadata"]["name"] == "branches-2026-11-29"
    assert body["metadata"]["labels"][LABEL_INTAKE] == "branches"
    assert body["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert body["spec"]["source"] == {
        "bucket": "intake",
        "prefix": "incoming/2026-11-29",
        "include": ["*.jpg"],
        "endpoint": "http://s3:9000",
        "credentialsSecret": "s3",
    }
    assert body["spec"]["output"] == {"bucket": "results", "prefix": "ocr/2026-11-29", "crops": True}
    assert body["spec"]["shardSize"] == 50 and body["spec"]["queueName"] == "q"


# --------------------------------------------------------------------------- settling


def test_settle_splits_claimed_processed_late_and_markers() -> None:
    reserved = frozenset({CLAIM_MARKER, CLAIM_KEYS, DONE_MARKER, "_READY"})
    plan = settle(
        ["a.jpg", "b.jpg", "late.jpg", "early-late.jpg", "_READY", CLAIM_MARKER, CLAIM_KEYS],
        claimed={"a.jpg", "b.jpg", "gone.jpg"},
        processed={"early-late.jpg"},  # arrived after the claim, before the plan
        reserved=reserved,
    )
    assert plan.move == ["a.jpg", "b.jpg", "early-late.jpg"]
    assert plan.late == ["late.jpg"]
    assert plan.markers == [CLAIM_MARKER, CLAIM_KEYS, "_READY"]
    unknown = settle(["a.jpg", "z.jpg"], claimed=None, processed=set(), reserved=reserved)
    assert unknown.move == ["a.jpg", "z.jpg"] and unknown.late == []


# --------------------------------------------------------------------------- status


def test_folders_status_round_trip_is_bounded() -> None:
    folders = {
        f"f{i:03d}": FolderEntry(
            name=f"f{i:03d}",
            state=FolderState.DONE,
            batch=f"b{i}",
            finished_at=f"2026-11-29T08:{i % 60:02d}:00Z",
        )
        for i in range(80)
    }
    folders["w"] = FolderEntry(name="w", state=FolderState.WAITING, fingerprint="x", since="s")
    folders["r"] = FolderEntry(name="r", state=FolderState.RUNNING, batch="b-r")
    listed = folders_to_status(folders)
    assert [e["name"] for e in listed[:2]] == ["r", "w"]
    assert len(listed) == 2 + MAX_FINISHED_ENTRIES
    back = folders_from_status({"folders": [*listed, {"name": "bad", "state": "Nope"}, "junk"]})
    assert back["w"].fingerprint == "x" and "bad" not in back
    assert counts(back) == {"waiting": 1, "claimed": 0, "running": 1, "claimedElsewhere": 0}


def test_poll_clock() -> None:
    clock = PollClock()
    clock.track(("ns", "a"), 10, now=100.0)
    assert clock.due(100.0) == [("ns", "a")]
    assert clock.due(105.0) == []
    assert clock.due(110.0) == [("ns", "a")]
    clock.track(("ns", "a"), 2, now=111.0)  # shorter interval applies at once
    assert clock.due(113.0) == [("ns", "a")]
    clock.forget(("ns", "a"))
    assert clock.due(1e9) == []


# --------------------------------------------------------------------------- CRD


@pytest.fixture(scope="module")
def schema(intake_crd: dict[str, Any]) -> dict[str, Any]:
    return crd_schema(intake_crd, "v1alpha1")


def body(**spec_: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ocrbatch.io/v1alpha1",
        "kind": "OcrIntake",
        "metadata": {"name": "i", "namespace": "ocr"},
        "spec": spec_,
    }


def test_crd_names_columns_and_plural(intake_crd: dict[str, Any]) -> None:
    crd_spec = intake_crd["spec"]
    assert crd_spec["names"]["plural"] == INTAKE_PLURAL
    assert crd_spec["names"]["shortNames"] == ["ocri"] and crd_spec["scope"] == "Namespaced"
    version = crd_spec["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == ["Prefix", "Seen", "Running", "Done", "Failed", "Last Poll", "Age"]


def test_batch_template_is_the_batch_spec_minus_source(crd: dict[str, Any], schema: dict[str, Any]) -> None:
    batch_spec = crd_schema(crd, "v1alpha1")["properties"]["spec"]["properties"]
    template = schema["properties"]["spec"]["properties"]["batchTemplate"]["properties"]
    assert set(template) == set(batch_spec) - {"source"}
    for key in template:
        a, b = copy.deepcopy(template[key]), copy.deepcopy(batch_spec[key])
        a.pop("description", None)
        b.pop("description", None)
        assert a == b, key
    source = schema["properties"]["spec"]["properties"]["source"]["properties"]
    assert set(source) == set(crd_schema(crd)["properties"]["spec"]["properties"]["source"]["properties"])


def test_crd_defaults(schema: dict[str, Any]) -> None:
    admitted = admit(body(**spec()), schema)["spec"]
    assert admitted["readiness"] == {"mode": "marker", "marker": "_READY", "quietSeconds": 300}
    assert admitted["pollIntervalSeconds"] == 60 and admitted["maxConcurrentBatches"] == 4
    assert admitted["onSuccess"] == {"action": "keep"}
    assert admitted["batchTemplate"]["engine"] == {"name": "onnx", "secondOpinion": True}
    assert IntakeSpec.parse(admitted).batch_template.output.bucket == "results"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"readiness": {"mode": "later"}}, "spec.readiness.mode"),
        ({"readiness": {"marker": "a/b"}}, "spec.readiness.marker"),
        ({"pollIntervalSeconds": 0}, "spec.pollIntervalSeconds"),
        ({"maxConcurrentBatches": 0}, "spec.maxConcurrentBatches"),
        ({"onSuccess": {"action": "shred"}}, "spec.onSuccess.action"),
        ({"onSuccess": {"action": "archive"}}, "spec.onSuccess"),
        ({"batchTemplate": {}}, "spec.batchTemplate"),
        ({"source": {"bucket": "UPPER"}}, "spec.source.bucket"),
    ],
)
def test_crd_rejects(schema: dict[str, Any], change: dict[str, Any], field: str) -> None:
    candidate = body(**{**spec(), **change})
    errors = schema_errors(admit_defaults_only(candidate, schema), schema)
    assert any(e.startswith(field) for e in errors), errors


def admit_defaults_only(obj: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    from tests.support.kube_rules import apply_defaults, prune

    return apply_defaults(prune(copy.deepcopy(obj), schema), schema)


def test_example_validates(schema: dict[str, Any]) -> None:
    example = yaml.safe_load((ROOT / "examples" / "ocrintake.yaml").read_text())
    admitted = admit(example, schema)
    parsed = IntakeSpec.parse(admitted["spec"])
    assert parsed.on_success.action == "archive" and parsed.source.base == "incoming/"


# --------------------------------------------------------------------------- S3


def test_conditional_create_has_exactly_one_winner(s3_server: S3Server) -> None:
    bucket = s3_server.make_bucket(f"claim-{secrets.token_hex(4)}")
    store = S3IntakeStorage(s3_server.settings(), bucket)
    key = "incoming/f/_CLAIMED"

    def claim(i: int) -> bool:
        return store.create_if_absent(key, f'{{"n": {i}}}'.encode())

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(claim, range(8)))
    assert results.count(True) == 1
    winner = results.index(True)
    assert store.read(key) == f'{{"n": {winner}}}'.encode()
    s3_server.client().put_object(bucket, "incoming/f/a.jpg", io.BytesIO(b"x"), 1)
    assert store.exists(key) and not store.exists("incoming/f/_DONE")
    assert store.list_folders("incoming/") == ["incoming/f/"]
    assert sorted(o.key for o in store.list_folder("incoming/f/")) == ["_CLAIMED", "a.jpg"]
    assert store.move("incoming/f/a.jpg", "archive/f/a.jpg")
    assert not store.move("incoming/f/a.jpg", "archive/f/a.jpg")


def test_nested_prefixes_defer_to_an_existing_claim() -> None:
    from ocr_operator.intake.poll import nested_claim

    class Store:
        def __init__(self, existing: set[str]) -> None:
            self.existing = existing

        def exists(self, key: str) -> bool:
            return key in self.existing

    inner = [ObjectInfo("a.jpg")]
    # The intake on "intake/incoming/": its folders are inside the claimed "intake/incoming/".
    blocked = nested_claim(Store({"intake/incoming/_CLAIMED"}), "intake/incoming/", inner)
    assert blocked and "enclosing" in blocked
    assert nested_claim(Store(set()), "intake/incoming/", inner) is None
    # The intake on "intake/": its folder "incoming" holds a claimed sub-folder.
    outer = [ObjectInfo("x/a.jpg"), ObjectInfo("x/_CLAIMED")]
    blocked = nested_claim(Store(set()), "intake/", outer)
    assert blocked and "sub-folder" in blocked
