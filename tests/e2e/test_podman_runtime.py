"""The pod runner's podman runtime (tests/support/containers.py): each pod a container of the
worker image `make images` built, with what a kubelet gives it. Throwaway Python in the
worker image stands for the worker: the env and Secret values arrive, the securityContext
holds (uid, read-only root, no new privileges, no capabilities), /tmp is the emptyDir, the
memory limit is the container's and a kill at it is OOMKilled from podman's state, a SIGKILL
from outside is not. Skipped without podman or the image."""

from __future__ import annotations

import base64
import json
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from ocr_operator.config import OperatorConfig

from tests.support.containers import KUBECONFIG_PATH, podman, podman_unavailable
from tests.support.kube import JOBS, PODS, SECRETS, KubeServer
from tests.support.podrunner import PodRunner, cgroups_unavailable

pytestmark = pytest.mark.timeout(300)
NS = "ns"
IMAGE = OperatorConfig().worker_image
UID = OperatorConfig().run_as_user
LIMIT_MIB = 200

SCRIPT = """
import json, os, sys, time
index = int(os.environ["JOB_COMPLETION_INDEX"])
mode = os.environ["MODES"].split(",")[index]
if mode == "env":
    def writable(path):
        try:
            with open(path, "w") as f:
                f.write("x")
            return True
        except OSError:
            return False
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    limit = "/sys/fs/cgroup/memory/memory.limit_in_bytes"
    print("PROBE " + json.dumps({
        "uid": os.getuid(), "gid": os.getgid(), "groups": sorted(os.getgroups()),
        "secret": os.environ["SECRET"], "pod": os.environ["POD"], "home": os.environ["HOME"],
        "kubeconfig": os.environ["KUBECONFIG"],
        "kubeconfig_server": json.load(open(os.environ["KUBECONFIG"]))["clusters"][0]["cluster"]["server"],
        "tmp_writable": writable("/tmp/probe"), "root_writable": writable("/opt/probe"),
        "no_new_privs": status["NoNewPrivs"].strip(), "cap_eff": status["CapEff"].strip(),
        "limit": int(open(limit).read()) if os.path.exists(limit) else None,
    }), flush=True)
elif mode == "oom":
    block = bytearray(int(os.environ["OOM_BYTES"]))
    for i in range(0, len(block), 4096):
        block[i] = 1
elif mode == "sleep":
    print("SLEEPING", flush=True)
    time.sleep(120)
"""


def job(name: str, modes: list[str]) -> dict[str, Any]:
    """A Job shaped like the operator's: the worker image, its securityContext and /tmp."""
    memory = f"{LIMIT_MIB}Mi"
    return {
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "completionMode": "Indexed", "completions": len(modes), "parallelism": len(modes),
            "backoffLimitPerIndex": 0, "podReplacementPolicy": "Failed",
            "template": {"metadata": {"labels": {"app": "probe"}}, "spec": {
                "restartPolicy": "Never",
                "securityContext": {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID,
                                    "fsGroup": UID, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "worker", "image": IMAGE, "command": ["python", "-c", SCRIPT],
                    "env": [
                        {"name": "MODES", "value": ",".join(modes)},
                        {"name": "OOM_BYTES", "value": str(3 * LIMIT_MIB * 2**20)},
                        {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    ],
                    "resources": {"limits": {"memory": memory, "cpu": "1"},
                                  "requests": {"memory": memory, "cpu": "1"}},
                    "securityContext": {
                        "runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID,
                        "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                }],
                "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
            }},
        },
    }  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def _podman_needed() -> None:
    reason = cgroups_unavailable() or podman_unavailable(IMAGE)
    if reason:
        pytest.skip(f"pods as podman containers: {reason}")


@pytest.fixture
def kube() -> Iterator[KubeServer]:
    with KubeServer() as server:
        server.create(SECRETS, {"metadata": {"name": "s", "namespace": NS},
                                "data": {"k": base64.b64encode(b"from-the-secret").decode()}})  # fmt: skip
        yield server


@pytest.fixture
def runner(kube: KubeServer) -> Iterator[PodRunner]:
    with PodRunner(kube, [NS], retry_delay_s=0.1, grace_s=1.0, runtime="podman") as pods:
        yield pods
    assert pods.cgroup_paths and pods.leftover_cgroups() == [], "every cgroup made is removed"
    names = {p.name for p in pods.runs()}
    left = podman("ps", "--all", "--format", "{{.Names}}").split()
    assert not names & set(left), "every container is removed"


def finished(kube: KubeServer, name: str, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = kube.get(JOBS, NS, name).get("status") or {}
        if any(c["type"] in ("Complete", "Failed") and c["status"] == "True"
               for c in status.get("conditions") or []):  # fmt: skip
            return status
        time.sleep(0.1)
    raise AssertionError(f"Job {name} did not finish: {kube.get(JOBS, NS, name).get('status')}")


def test_a_container_gets_the_pods_env_and_security_context(kube: KubeServer, runner: PodRunner) -> None:
    kube.create(JOBS, job("env", ["env"]))
    status = finished(kube, "env")
    (run,) = runner.runs()
    assert (status["completedIndexes"], run.exit_code, run.reason) == ("0", 0, "Completed"), run.log_text()
    line = next(x for x in run.log_text().splitlines() if x.startswith("PROBE "))
    probe = json.loads(line.removeprefix("PROBE "))
    assert (probe["uid"], probe["gid"]) == (UID, UID)
    assert UID in probe["groups"]  # fsGroup
    assert probe["secret"] == "from-the-secret" and probe["pod"] == run.name
    assert probe["home"] == "/tmp", "HOME from the image"
    assert probe["kubeconfig"] == KUBECONFIG_PATH and probe["kubeconfig_server"] == kube.url
    assert probe["tmp_writable"] and not probe["root_writable"]
    assert probe["no_new_privs"] == "1" and int(probe["cap_eff"], 16) == 0
    if probe["limit"] is not None:  # the container's own cgroup view (cgroup v1)
        assert probe["limit"] == LIMIT_MIB * 2**20
    assert run.peak_bytes is not None and 0 < run.peak_bytes <= LIMIT_MIB * 2**20
    assert run.max_rss_bytes is not None and run.max_rss_bytes > 0
    pod = kube.get(PODS, NS, run.name)
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")


def test_oom_comes_from_podman_and_a_sigkill_is_not_oom(kube: KubeServer, runner: PodRunner) -> None:
    kube.create(JOBS, job("ends", ["oom", "sleep"]))
    sleeper = None
    deadline = time.monotonic() + 120
    while sleeper is None and time.monotonic() < deadline:
        sleeper = next((r for r in runner.running() if r.index == 1 and "SLEEPING" in r.log_text()), None)
        time.sleep(0.1)
    assert sleeper is not None, runner.logs()
    assert runner.kill(sleeper.name, signal.SIGKILL)
    status = finished(kube, "ends")
    assert status["failedIndexes"] == "0-1"
    oom = next(r for r in runner.runs() if r.index == 0)
    assert (oom.exit_code, oom.reason) == (137, "OOMKilled"), oom.log_text()
    assert oom.peak_bytes is not None and oom.peak_bytes >= 0.95 * LIMIT_MIB * 2**20
    assert (sleeper.exit_code, sleeper.reason) == (137, "Error")
    reasons = {p["metadata"]["name"]: p["status"]["containerStatuses"][0]["state"]["terminated"]["reason"]
               for p in kube.list(PODS, NS)}  # fmt: skip
    assert reasons == {oom.name: "OOMKilled", sleeper.name: "Error"}
