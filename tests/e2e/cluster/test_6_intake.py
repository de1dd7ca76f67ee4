"""Scenario 6, a drop folder lands while another batch runs: an OcrIntake polls a prefix,
the folder gets its `_READY` marker, the intake claims it and creates its OcrBatch; both
batches complete, each input with exactly one record."""

from __future__ import annotations

import importlib.util
import inspect
import io
import math

import pytest

from tests.e2e.cluster.conftest import (
    GROUP,
    MAX_PROCESSES,
    NAMESPACE,
    ROOT,
    SIZES,
    CardLibrary,
    World,
    budget_s,
    report,
    report_pods,
)


def _intake_missing() -> str | None:
    if not (ROOT / "crds" / "ocrintakes.yaml").is_file():
        return "crds/ocrintakes.yaml is not there yet"
    if importlib.util.find_spec("ocr_operator.intake.reconcile") is None:
        return "ocr_operator.intake.reconcile is not there yet"
    from ocr_operator import handlers

    if "register_intake" not in inspect.getsource(handlers):
        return "the operator does not register the intake handlers yet"
    return None


MISSING = _intake_missing()
pytestmark = [
    pytest.mark.skipif(MISSING is not None, reason=f"OcrIntake: {MISSING}"),
    pytest.mark.timeout(int(budget_s(SIZES.cards * 2) + 900)),
]
INTAKES = (GROUP, "v1alpha1", "ocrintakes")


def test_a_drop_folder_becomes_a_batch_while_another_runs(world: World, cards: CardLibrary) -> None:
    from ocr_operator.intake.model import batch_name

    main_set = cards.get("intake-main", SIZES.cards, seed=6, bad_inputs=False)
    drop_set = cards.get("intake-drop", max(6, SIZES.cards // 2), seed=61, bad_inputs=True)
    src, out = world.buckets()
    main_keys = world.put_cards(src, main_set)
    drop_batch = batch_name("drops", "drop-1")

    with world.operator():
        world.apply("main", src, out, shardSize=math.ceil(len(main_keys) / 2), parallelism=1)
        world.kube.create(INTAKES, {
            "apiVersion": f"{GROUP}/v1alpha1", "kind": "OcrIntake",
            "metadata": {"name": "drops", "namespace": NAMESPACE},
            "spec": {
                "source": {"bucket": src, "prefix": "intake", "credentialsSecret": world.secret},
                "readiness": {"mode": "marker", "marker": "_READY"},
                "pollIntervalSeconds": 1,
                "batchTemplate": {"output": {"bucket": out, "prefix": "intake-results"},
                                  "shardSize": 200, "parallelism": MAX_PROCESSES - 1},
                "onSuccess": {"action": "keep"},
            },
        })  # fmt: skip
        world.wait("the main batch under way", lambda: world.shard_progress("main", 0) >= 1,
                   budget_s(len(main_keys)))  # fmt: skip

        # The folder lands (the marker last): no batch until it is ready.
        drop_keys = world.put_cards(src, drop_set, prefix="intake/drop-1")
        world.wait("the intake to see the folder", lambda: (world.kube.get(
            INTAKES, NAMESPACE, "drops").get("status") or {}).get("lastPollTime"), 60)  # fmt: skip
        assert world.kube.find(("ocrbatch.io", "v1alpha1", "ocrbatches"), NAMESPACE, drop_batch) is None
        world.s3.client().put_object(src, "intake/drop-1/_READY", io.BytesIO(b""), 0)
        world.wait("the intake's batch", lambda: world.kube.find(
            ("ocrbatch.io", "v1alpha1", "ocrbatches"), NAMESPACE, drop_batch), 120)  # fmt: skip
        assert world.status("main").get("phase") == "Running", "it landed while the other ran"

        main_status = world.wait_finished("main", budget_s(len(main_keys) + len(drop_keys)))
        drop_status = world.wait_finished(drop_batch, budget_s(len(drop_keys)))
        intake = world.wait("the intake to record the folder done", lambda: (
            (s := world.kube.get(INTAKES, NAMESPACE, "drops").get("status") or {}).get("done") == 1
            and s), 120)  # fmt: skip

    world.check_complete("main", out, main_keys, main_status)
    world.check_complete(drop_batch, out, drop_keys, drop_status, prefix="intake-results/drop-1")
    assert drop_status["phase"] == "PartiallySucceeded"  # the drop folder had bad inputs
    batch = world.batch(drop_batch)
    assert batch["metadata"]["labels"]["ocrbatch.io/intake"] == "drops"
    assert batch["spec"]["source"]["prefix"] == "intake/drop-1"
    assert intake.get("failed", 0) == 0
    assert sorted(j["metadata"]["name"] for j in world.jobs()) == sorted(["main-0", f"{drop_batch}-0"])
    world.check_no_leaks()

    report(f"scenario 6 (intake): folder of {len(drop_keys)} inputs became {drop_batch} while "
           f"'main' ran: {main_status['phase']} / {drop_status['phase']}")  # fmt: skip
    report_pods("  pods", world.runner.runs())
