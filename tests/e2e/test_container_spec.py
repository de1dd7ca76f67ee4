"""How the pod runner's podman runtime turns a pod's container into `podman create`
arguments (tests/support/containers.py), from a Job the operator builds; no podman needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ocr_operator.batch.jobs import Attempt, build_job
from ocr_operator.batch.model import BatchSpec
from ocr_operator.config import OperatorConfig

from tests.support.containers import (
    KUBECONFIG_PATH,
    ContainerError,
    ContainerSpec,
    relative_cgroup,
    requested_runtime,
)

OWNER = {"apiVersion": "ocrbatch.io/v1alpha1", "kind": "OcrBatch",
         "metadata": {"name": "cards", "namespace": "ocr", "uid": "uid-1"}}  # fmt: skip


def operator_pod() -> tuple[dict[str, Any], dict[str, Any]]:
    spec = BatchSpec.parse({
        "source": {"bucket": "scans", "prefix": "in/", "credentialsSecret": "s3-creds"},
        "output": {"bucket": "results", "prefix": "out"},
        "resources": {"memory": "512Mi", "cpu": "500m"},
    })  # fmt: skip
    job = build_job(owner=OWNER, spec=spec, shard_count=2, attempt=Attempt(number=0, memory="512Mi"),
                    config=OperatorConfig())  # fmt: skip
    pod_spec = job["spec"]["template"]["spec"]
    return pod_spec, pod_spec["containers"][0]


def args_of(spec: ContainerSpec, tmp_path: Path) -> list[str]:
    return spec.create_args("pod-a", tmp_path / "env", "/parent/pod-a")


def flag_values(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == flag]


def test_the_operators_worker_pod_becomes_these_podman_flags(tmp_path: Path) -> None:
    pod_spec, container = operator_pod()
    spec = ContainerSpec.from_pod(
        pod_spec,
        container,
        env={"A": "1"},
        mounts={"/tmp": tmp_path / "tmp"},
        memory_bytes=512 * 2**20,
        hostname="cards-0-1",
        kubeconfig=tmp_path / "kubeconfig",
    )
    args = args_of(spec, tmp_path)
    uid = OperatorConfig().run_as_user
    image_at = args.index(container["image"])
    assert args[image_at + 1 :] == container["args"], "the image, then the container's args"
    assert flag_values(args, "--entrypoint") == ['["ocr-job"]']
    assert flag_values(args, "--user") == [f"{uid}:{uid}"]
    assert flag_values(args, "--group-add") == [str(uid)]  # fsGroup
    assert "--read-only" in args and "--read-only-tmpfs=false" in args
    assert flag_values(args, "--security-opt") == ["no-new-privileges"]
    assert flag_values(args, "--cap-drop") == ["all"]
    assert flag_values(args, "--memory") == flag_values(args, "--memory-swap") == [f"{512 * 2**20}b"]
    assert flag_values(args, "--cpus") == ["0.5"]
    assert flag_values(args, "--network") == ["host"]
    assert flag_values(args, "--pull") == ["never"]
    assert flag_values(args, "--cgroup-parent") == ["/parent/pod-a"]
    assert flag_values(args, "--cgroups") == ["no-conmon"]
    assert flag_values(args, "--volume") == [
        f"{tmp_path / 'tmp'}:/tmp:rw",
        f"{tmp_path / 'kubeconfig'}:{KUBECONFIG_PATH}:ro",
    ]
    assert flag_values(args, "--ulimit") == ["nofile=4096:4096", "nproc=4096:4096"]
    # Values travel in the env file, never on the command line (Secret values).
    assert flag_values(args, "--env-file") == [str(tmp_path / "env")] and "--env" not in args
    assert spec.env_file_text() == f"A=1\nKUBECONFIG={KUBECONFIG_PATH}\n"


def test_without_a_security_context_nothing_is_added(tmp_path: Path) -> None:
    spec = ContainerSpec.from_pod({}, {"name": "c", "image": "img:1"}, env={}, mounts={},
                                  memory_bytes=None, hostname="h")  # fmt: skip
    args = args_of(spec, tmp_path)
    for flag in ("--user", "--read-only", "--security-opt", "--cap-drop", "--memory", "--cpus",
                 "--entrypoint", "--privileged", "--group-add"):  # fmt: skip
        assert flag not in args, flag
    assert args[-1] == "img:1"


def test_the_container_context_overrides_the_pods() -> None:
    pod_spec = {"securityContext": {"runAsUser": 1, "runAsGroup": 2, "supplementalGroups": [7]}}
    container = {"name": "c", "image": "i", "securityContext": {
        "runAsUser": 3, "allowPrivilegeEscalation": True, "seccompProfile": {"type": "Unconfined"},
        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}  # fmt: skip
    spec = ContainerSpec.from_pod(pod_spec, container, env={}, mounts={}, memory_bytes=None, hostname="h")
    assert (spec.user, spec.groups, spec.no_new_privileges) == ("3:2", [7], False)
    assert (spec.cap_drop, spec.cap_add, spec.seccomp_unconfined) == (["ALL"], ["NET_BIND_SERVICE"], True)


def test_run_as_non_root_is_checked_against_the_image_user() -> None:
    def spec(user: int | None) -> ContainerSpec:
        sc = {} if user is None else {"runAsUser": user}
        return ContainerSpec.from_pod({"securityContext": sc}, {"name": "c", "image": "i"}, env={},
                                      mounts={}, memory_bytes=None, hostname="h")  # fmt: skip

    spec(None).check_non_root(True, "10001:10001")
    spec(10001).check_non_root(True, "")
    spec(0).check_non_root(False, "")
    for user, image_user in ((None, ""), (None, "0"), (0, "10001"), (None, "root")):
        with pytest.raises(ContainerError):
            spec(user).check_non_root(True, image_user)


def test_bad_values_are_refused() -> None:
    with pytest.raises(ContainerError, match="line break"):
        ContainerSpec.from_pod({}, {"name": "c", "image": "i"}, env={"K": "a\nb"}, mounts={},
                               memory_bytes=None, hostname="h").env_file_text()  # fmt: skip
    with pytest.raises(ContainerError, match="Localhost"):
        ContainerSpec.from_pod({"securityContext": {"seccompProfile": {"type": "Localhost"}}},
                               {"name": "c", "image": "i"}, env={}, mounts={}, memory_bytes=None,
                               hostname="h")  # fmt: skip


def test_the_runtime_switch() -> None:
    assert requested_runtime({}) == "processes"
    assert requested_runtime({"OCRBATCH_E2E_RUNTIME": " Podman "}) == "podman"
    with pytest.raises(ValueError, match="OCRBATCH_E2E_RUNTIME"):
        requested_runtime({"OCRBATCH_E2E_RUNTIME": "docker"})


def test_cgroup_parent_paths() -> None:
    root = Path("/sys/fs/cgroup")
    assert relative_cgroup(root / "memory" / "a" / "b", 1) == "/a/b"
    assert relative_cgroup(root / "a" / "b", 2) == "/a/b"
