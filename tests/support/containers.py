"""Pods as podman containers: the end-to-end pod runner's container runtime.

With `OCRBATCH_E2E_RUNTIME=podman` the pod runner (tests/support/podrunner.py) starts each
pod's container as a podman container of the image the Job names (the worker image that
`make images` builds), instead of a local process. The container gets what a kubelet gives it:

* the image's entrypoint replaced by the container's `command`, with its `args`;
* the pod's env, Secret values resolved (passed in an env file, not on a command line),
  `JOB_COMPLETION_INDEX`, and `KUBECONFIG` pointing at the test API's kubeconfig mounted
  read-only (the worker's status patches reach the API);
* every `emptyDir` mount as a fresh host folder bind-mounted at its `mountPath` (`/tmp`);
* the `securityContext` (pod level, then container level): `runAsUser`/`runAsGroup`
  (`--user`), `runAsNonRoot` checked against the image's user, `readOnlyRootFilesystem`
  (`--read-only`, and no tmpfs podman would add on its own), `allowPrivilegeEscalation:
  false` (`no-new-privileges`), `capabilities`, `fsGroup`/`supplementalGroups`, seccomp;
* `--memory` (and `--memory-swap`, so no swap) = `limits.memory`, `--cpus` = `limits.cpu`;
* `--network host`: the S3 server and the test API listen on loopback.

OOM: a kill by the kernel at the limit is reported from podman's own state
(`State.OOMKilled`). Podman 4.3's conmon writes its OOM marker in its working directory
(containers/podman#13102, fixed in podman 5), so the container is created, then started with
`podman start --attach` from inside its bundle directory (`StaticDir`): there `OOMKilled` is
right; on a plain `podman run` it stays false.

Memory: the container's cgroup sits below a cgroup of the runner's (`--cgroup-parent`) that
holds nothing else (`--cgroups=no-conmon`: conmon stays in ours), so the parent's peak is the
container's and survives the container's removal. The process's peak RSS is sampled from
the host's /proc like a process pod's.

Podman runs with the settings of scripts/podman.sh (its store under build/podman, shared
with `make images`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PODMAN = ROOT / "scripts" / "podman.sh"
#: Which runtime the pod runner uses: "processes" (the default) or "podman".
RUNTIME_ENV = "OCRBATCH_E2E_RUNTIME"
RUNTIMES = ("processes", "podman")
#: Where the test API's kubeconfig is mounted in every container.
KUBECONFIG_PATH = "/var/run/ocrbatch/kubeconfig"
#: The sandbox cannot raise these limits: every container gets them explicitly.
ULIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]
CGROUP_ROOT = Path("/sys/fs/cgroup")


class ContainerError(RuntimeError):
    """The container cannot be created as the pod asks (a kubelet's CreateContainerConfigError)."""


def requested_runtime(environ: Mapping[str, str] = os.environ) -> str:
    """The runtime `OCRBATCH_E2E_RUNTIME` asks for (processes when unset)."""
    value = environ.get(RUNTIME_ENV, "").strip().lower() or "processes"
    if value not in RUNTIMES:
        raise ValueError(f"{RUNTIME_ENV}={value!r}: one of {', '.join(RUNTIMES)}")
    return value


def podman(*args: str, timeout: float = 120.0, cwd: Path | None = None) -> str:
    """Run scripts/podman.sh with `args`; its stdout (raises with stderr on failure)."""
    proc = subprocess.run(
        [str(PODMAN), *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False
    )
    if proc.returncode != 0:
        raise ContainerError(f"podman {args[0]} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return proc.stdout


def podman_unavailable(image: str) -> str | None:
    """Why pods cannot run as containers of `image` here, or None when they can."""
    if shutil.which("podman") is None:
        return "podman is not installed (make install-test installs it as root on Debian)"
    if os.geteuid() != 0:
        return "podman pods need root (cgroups, the runner's store under build/podman)"
    try:
        podman("image", "exists", image, timeout=60)
    except ContainerError:
        return f"the image {image} is not built (make images, or scripts/build-images.sh worker)"
    except (OSError, subprocess.SubprocessError) as exc:
        return f"podman does not answer: {exc}"
    return None


# ---------------------------------------------------------------------------- the pod's spec


def _quantity_cpus(value: str) -> float:
    return int(value[:-1]) / 1000 if value.endswith("m") else float(value)


def security_context(pod_spec: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, Any]:
    """The container's effective securityContext: the pod's, overridden by the container's."""
    return {**(pod_spec.get("securityContext") or {}), **(container.get("securityContext") or {})}


def _numeric_user(user: str) -> int | None:
    """The uid of an image's USER when it is numeric (`10001` or `10001:10001`)."""
    name = user.partition(":")[0]
    return int(name) if name.isdigit() else None


@dataclass
class ContainerSpec:
    """What `podman create` is given for one pod's container (see the module docstring)."""

    image: str
    command: list[str]
    args: list[str]
    env: dict[str, str]
    hostname: str
    mounts: dict[str, Path] = field(default_factory=dict)
    kubeconfig: Path | None = None
    user: str | None = None
    groups: list[int] = field(default_factory=list)
    read_only: bool = False
    no_new_privileges: bool = False
    privileged: bool = False
    cap_drop: list[str] = field(default_factory=list)
    cap_add: list[str] = field(default_factory=list)
    seccomp_unconfined: bool = False
    memory_bytes: int | None = None
    cpus: float | None = None
    workdir: str | None = None

    @classmethod
    def from_pod(
        cls,
        pod_spec: Mapping[str, Any],
        container: Mapping[str, Any],
        *,
        env: Mapping[str, str],
        mounts: Mapping[str, Path],
        memory_bytes: int | None,
        hostname: str,
        kubeconfig: Path | None = None,
    ) -> ContainerSpec:
        sc = security_context(pod_spec, container)
        pod_sc = pod_spec.get("securityContext") or {}
        uid, gid = sc.get("runAsUser"), sc.get("runAsGroup")
        user = None if uid is None else (str(int(uid)) if gid is None else f"{int(uid)}:{int(gid)}")
        groups = [int(g) for g in pod_sc.get("supplementalGroups") or []]
        if pod_sc.get("fsGroup") is not None:
            groups.append(int(pod_sc["fsGroup"]))
        caps = sc.get("capabilities") or {}
        seccomp = (sc.get("seccompProfile") or {}).get("type", "RuntimeDefault")
        if seccomp not in ("RuntimeDefault", "Unconfined"):
            raise ContainerError(f"seccompProfile {seccomp} is not emulated")
        limits = (container.get("resources") or {}).get("limits") or {}
        return cls(
            image=str(container["image"]),
            command=[str(c) for c in container.get("command") or []],
            args=[str(a) for a in container.get("args") or []],
            env=dict(env),
            hostname=hostname,
            mounts=dict(mounts),
            kubeconfig=kubeconfig,
            user=user,
            groups=sorted(set(groups)),
            read_only=bool(sc.get("readOnlyRootFilesystem")),
            # Kubernetes' default for a non-privileged container is true (escalation allowed).
            no_new_privileges=sc.get("allowPrivilegeEscalation") is False,
            privileged=bool(sc.get("privileged")),
            cap_drop=[str(c) for c in caps.get("drop") or []],
            cap_add=[str(c) for c in caps.get("add") or []],
            seccomp_unconfined=seccomp == "Unconfined",
            memory_bytes=memory_bytes,
            cpus=_quantity_cpus(str(limits["cpu"])) if limits.get("cpu") else None,
            workdir=container.get("workingDir"),
        )

    def check_non_root(self, run_as_non_root: bool, image_user: str) -> None:
        """A kubelet refuses to start a `runAsNonRoot` container that would run as root."""
        if not run_as_non_root:
            return
        uid = _numeric_user(self.user) if self.user else _numeric_user(image_user or "0")
        if uid is None:
            raise ContainerError(f"image user {image_user!r} is not numeric: runAsNonRoot cannot verify it")
        if uid == 0:
            raise ContainerError("runAsNonRoot and the container would run as root")

    def create_args(
        self, name: str, env_file: Path, cgroup_parent: str | None, pidfile: Path | None = None
    ) -> list[str]:
        """The `podman create` arguments."""
        args = ["create", "--name", name, "--pull", "never", *ULIMITS, "--network", "host",
                "--hostname", self.hostname, "--env-file", str(env_file),
                "--cgroups", "no-conmon"]  # fmt: skip
        if pidfile is not None:
            args += ["--pidfile", str(pidfile)]
        if cgroup_parent:
            args += ["--cgroup-parent", cgroup_parent]
        if self.command:
            args += ["--entrypoint", json.dumps(self.command)]
        if self.user:
            args += ["--user", self.user]
        for group in self.groups:
            args += ["--group-add", str(group)]
        if self.read_only:
            args += ["--read-only", "--read-only-tmpfs=false"]
        if self.no_new_privileges:
            args += ["--security-opt", "no-new-privileges"]
        if self.seccomp_unconfined:
            args += ["--security-opt", "seccomp=unconfined"]
        if self.privileged:
            args += ["--privileged"]
        for cap in self.cap_drop:
            args += ["--cap-drop", cap.lower()]
        for cap in self.cap_add:
            args += ["--cap-add", cap.lower()]
        if self.memory_bytes is not None:
            args += ["--memory", f"{self.memory_bytes}b", "--memory-swap", f"{self.memory_bytes}b"]
        if self.cpus:
            args += ["--cpus", f"{self.cpus:g}"]
        if self.workdir:
            args += ["--workdir", self.workdir]
        for target, source in sorted(self.mounts.items()):
            args += ["--volume", f"{source}:{target}:rw"]
        if self.kubeconfig is not None:
            args += ["--volume", f"{self.kubeconfig}:{KUBECONFIG_PATH}:ro"]
        return [*args, self.image, *self.args]

    def env_file_text(self) -> str:
        env = dict(self.env)
        if self.kubeconfig is not None:
            env["KUBECONFIG"] = KUBECONFIG_PATH
        lines = []
        for key, value in env.items():
            if "\n" in value or "\r" in value:
                raise ContainerError(f"env {key}: a value with a line break cannot be passed")
            lines.append(f"{key}={value}")
        return "".join(line + "\n" for line in lines)


# ---------------------------------------------------------------------------- one container


@dataclass
class Outcome:
    exit_code: int
    oom_killed: bool


class Container:
    """One created container: start it attached (from its bundle directory), find its
    process, read its end from podman's state, remove it."""

    def __init__(self, name: str, spec: ContainerSpec, workdir: Path, cgroup_parent: str | None) -> None:
        self.name = name
        self.spec = spec
        self.workdir = workdir
        env_file = workdir / "env"
        env_file.touch(mode=0o600)
        env_file.write_text(spec.env_file_text(), encoding="utf-8")
        #: podman writes the container's host pid here when it starts (cheaper to watch
        #: than `podman inspect`).
        self.pidfile = workdir / "pid"
        self.id = podman(*spec.create_args(name, env_file, cgroup_parent, self.pidfile)).strip()
        env_file.unlink()
        self.static_dir = Path(podman("inspect", "--format", "{{.StaticDir}}", self.id).strip())

    @staticmethod
    def image_user(image: str) -> str:
        return podman("image", "inspect", "--format", "{{.Config.User}}", image).strip()

    def start(self, log: Any) -> subprocess.Popen[bytes]:
        """`podman start --attach`, from the bundle directory so that conmon's OOM marker
        lands where podman looks for it; output goes to `log`."""
        return subprocess.Popen(
            [str(PODMAN), "start", "--attach", self.id],
            cwd=self.static_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )

    def host_pid(self, client: subprocess.Popen[bytes], timeout_s: float = 120.0) -> int | None:
        """The container's init process as the host sees it, once it runs (None when the
        container ended first)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                return int(self.pidfile.read_text().strip())
            if client.poll() is not None:
                return None
            time.sleep(0.05)
        return None

    def state(self) -> dict[str, Any]:
        out = podman("inspect", "--format", "{{json .State}}", self.id)
        return dict(json.loads(out))

    def outcome(self) -> Outcome:
        state = self.state()
        return Outcome(exit_code=int(state["ExitCode"]), oom_killed=bool(state["OOMKilled"]))

    def remove(self) -> None:
        with contextlib.suppress(ContainerError, subprocess.SubprocessError):
            podman("rm", "--force", "--time", "0", self.id)


# ---------------------------------------------------------------------------- cgroups


def relative_cgroup(path: Path, version: int) -> str:
    """A cgroup's path as --cgroup-parent takes it with cgroupfs: below the hierarchy's root
    (`/sys/fs/cgroup/memory/a/b` -> `/a/b` on v1, `/sys/fs/cgroup/a/b` -> `/a/b` on v2)."""
    parts = path.relative_to(CGROUP_ROOT).parts
    return "/" + "/".join(parts[1:] if version == 1 else parts)


def hierarchy_dirs(relative: str) -> list[Path]:
    """`relative` in every mounted cgroup hierarchy where it exists (runc makes the
    container's parent in each of them, v1, and the unified one of a hybrid layout)."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():  # pure v2: one hierarchy
        candidates = [CGROUP_ROOT / relative.lstrip("/")]
    else:
        candidates = [h / relative.lstrip("/") for h in sorted(CGROUP_ROOT.iterdir()) if h.is_dir()]
    return [c for c in candidates if c.is_dir()]


def remove_cgroup_trees(relative: str, timeout_s: float = 10.0) -> list[Path]:
    """rmdir `relative` and the cgroups below it in every hierarchy; what is left."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = []
        for top in hierarchy_dirs(relative):
            for directory, _, _ in sorted(os.walk(top), key=lambda d: -len(d[0])):
                try:
                    os.rmdir(directory)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        raise
                    left.append(Path(directory))
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


__all__ = [
    "KUBECONFIG_PATH",
    "RUNTIME_ENV",
    "Container",
    "ContainerError",
    "ContainerSpec",
    "Outcome",
    "podman_unavailable",
    "relative_cgroup",
    "remove_cgroup_trees",
    "requested_runtime",
    "security_context",
]
