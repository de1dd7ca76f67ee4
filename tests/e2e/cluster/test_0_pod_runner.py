"""The local pod runner itself (tests/support/podrunner.py), with throwaway Python containers:
real exit codes, real OOM kills in a memory cgroup, podFailurePolicy, backoffLimitPerIndex,
suspend, the env a kubelet resolves, the node's 2-process cap. The scenarios trust it."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.kube import JOBS, PODS, SECRETS, KubeServer
from tests.support.podrunner import PodRunner, failure_action, format_ranges
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(180)
NS = "ns"

SCRIPT = """
import os, sys, time
index = int(os.environ["JOB_COMPLETION_INDEX"])
mode = os.environ["MODES"].split(",")[index]
if mode == "env":
    home = os.environ["HOME"]
    open(os.path.join(home, "probe"), "w").write("x")
    print("ENV", os.environ["SECRET"], os.environ["POD"], os.path.isfile(os.environ["KUBECONFIG"]),
          home.startswith(os.environ["TMPDIR"].rsplit("/", 1)[0]), flush=True)
elif mode == "oom":
    block = bytearray(300 * 2**20)
    for i in range(0, len(block), 4096):
        block[i] = 1
elif mode.startswith("exit"):
    sys.exit(int(mode[4:]))
elif mode == "sleep":
    time.sleep(60)
time.sleep(0.5)
"""


def job(name: str, modes: list[str], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "completionMode": "Indexed", "completions": len(modes), "parallelism": len(modes),
            "backoffLimitPerIndex": 1, "podReplacementPolicy": "Failed",
            "podFailurePolicy": {"rules": [
                {"action": "FailJob", "onExitCodes": {"containerName": "worker", "operator": "In",
                                                      "values": [2]}},
                {"action": "Count", "onExitCodes": {"containerName": "worker", "operator": "In",
                                                    "values": [137]}},
            ]},
            "template": {"metadata": {"labels": {"app": "probe"}}, "spec": {
                "restartPolicy": "Never",
                "containers": [{
                    "name": "worker", "command": ["python", "-c", SCRIPT],
                    "env": [
                        {"name": "MODES", "value": ",".join(modes)},
                        {"name": "HOME", "value": "/tmp"},
                        {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    ],
                    "resources": {"limits": {"memory": "100Mi"}, "requests": {"memory": "100Mi"}},
                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                }],
                "volumes": [{"name": "tmp", "emptyDir": {}}],
            }},
            **spec,
        },
    }  # fmt: skip


@pytest.fixture
def kube() -> Iterator[KubeServer]:
    with KubeServer() as server:
        server.create(SECRETS, {"metadata": {"name": "s", "namespace": NS},
                                "data": {"k": base64.b64encode(b"from-the-secret").decode()}})  # fmt: skip
        yield server


@pytest.fixture
def runner(kube: KubeServer) -> Iterator[PodRunner]:
    # Throwaway Python scripts, no image: the process runtime whatever OCRBATCH_E2E_RUNTIME says.
    with PodRunner(kube, [NS], retry_delay_s=0.1, grace_s=1.0, runtime="processes") as pods:
        yield pods
    assert pods.cgroup_paths and pods.leftover_cgroups() == [], "every cgroup made is removed"


def conditions(kube: KubeServer, name: str) -> dict[str, str]:
    """The Job's conditions, type -> status."""
    status = kube.get(JOBS, NS, name).get("status") or {}
    return {c["type"]: c["status"] for c in status.get("conditions") or []}


def finished(kube: KubeServer, name: str) -> dict[str, Any]:
    def ended() -> bool:
        return "True" in (conditions(kube, name).get(t) for t in ("Complete", "Failed"))

    wait_for(f"Job {name} to finish", ended)
    return dict(kube.get(JOBS, NS, name)["status"])


def test_real_outcomes_become_pod_and_job_status(kube: KubeServer, runner: PodRunner) -> None:
    kube.create(JOBS, job("mixed", ["exit0", "oom", "exit3", "env"]))
    status = finished(kube, "mixed")
    assert (status["completedIndexes"], status["failedIndexes"]) == ("0,3", "1-2")
    assert (status["succeeded"], status["failed"], status["active"]) == (2, 4, 0)
    assert [c["type"] for c in status["conditions"]] == ["FailureTarget", "Failed"]
    assert status["conditions"][-1]["reason"] == "FailedIndexes"

    runs = {(r.index, n): r for n, r in enumerate(runner.runs())}
    by_index: dict[int, list[str]] = {}
    for (index, _), run in sorted(runs.items()):
        by_index.setdefault(index, []).append(f"{run.exit_code}/{run.reason}")
    assert by_index == {0: ["0/Completed"], 1: ["137/OOMKilled"] * 2, 2: ["3/Error"] * 2,
                        3: ["0/Completed"]}  # fmt: skip
    oom = next(r for r in runner.runs() if r.reason == "OOMKilled")
    assert oom.peak_bytes == oom.memory_limit == 100 * 2**20
    env_run = next(r for r in runner.runs() if r.index == 3)
    assert f"ENV from-the-secret {env_run.name} True True" in env_run.log_text()

    pods = {p["metadata"]["name"]: p for p in kube.list(PODS, NS)}
    assert len(pods) == 6
    pod = pods[oom.name]
    assert pod["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] == "1"
    assert pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] == "1"
    assert pod["metadata"]["labels"]["job-name"] == "mixed"
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Job"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (pod["status"]["phase"], terminated["exitCode"], terminated["reason"]) == (
        "Failed",
        137,
        "OOMKilled",
    )

    # The node runs two processes at once, whatever the parallelism.
    spans = [(r.started, r.finished) for r in runner.runs() if r.started and r.finished]
    for start, _ in spans:
        assert sum(1 for s, f in spans if s <= start < f) <= 2


def test_exit_2_fails_the_job_at_once(kube: KubeServer, runner: PodRunner) -> None:
    kube.create(JOBS, job("config", ["exit2", "sleep"]))
    status = finished(kube, "config")
    failed = status["conditions"][-1]
    assert (failed["type"], failed["reason"]) == ("Failed", "PodFailurePolicy")
    assert "exit code 2 matching FailJob rule at index 0" in failed["message"]
    assert status["failed"] == 1, "the stopped sleeper is not a failure"
    assert [r.exit_code for r in runner.runs() if r.index == 0] == [2], "no retry"
    assert all(not r.running for r in runner.runs())


def test_a_suspended_job_runs_nothing_until_resumed(kube: KubeServer, runner: PodRunner) -> None:
    kube.create(JOBS, job("later", ["exit0"], suspend=True))
    # The runner writes the condition in the same pass that did not start its pods.
    wait_for("the Suspended condition", lambda: conditions(kube, "later").get("Suspended") == "True")
    assert runner.runs() == [] and kube.list(PODS, NS) == []
    kube.patch(JOBS, NS, "later", {"spec": {"suspend": False}})
    status = finished(kube, "later")
    assert status["completedIndexes"] == "0"
    assert {c["type"]: c["status"] for c in status["conditions"]}["Suspended"] == "False"


def test_failure_policy_and_ranges() -> None:
    fail_job = {"containerName": "worker", "operator": "In", "values": [2]}
    rules = [{"action": "FailJob", "onExitCodes": fail_job},
             {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
             {"action": "FailIndex", "onExitCodes": {"operator": "NotIn", "values": [1, 137]}}]  # fmt: skip
    assert failure_action(rules, "worker", 2) == ("FailJob", 0)
    assert failure_action(rules, "sidecar", 2) == ("FailIndex", 2)
    assert failure_action(rules, "worker", 137) == ("Count", None)
    assert failure_action(rules, "worker", 137, [{"type": "DisruptionTarget"}]) == ("Ignore", 1)
    assert format_ranges([5, 0, 1, 2, 7, 8]) == "0-2,5,7-8" and format_ranges([]) == ""
