"""The binaries of the real-apiserver tier: Kubernetes 1.20.2's kube-apiserver and
kube-controller-manager, built from Debian's `kubernetes` source package by
`scripts/build-kube.sh` into `${OCRBATCH_CACHE:-~/.cache/ocrbatch}/kube-1.20.2/bin` (once
per machine, ~11 minutes on 2 cores), and Debian's etcd and openssl."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from tests.support.realkube_parts import tail

KUBE_VERSION = "1.20.2"
REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build-kube.sh"
#: Debian packages the tier needs at run time (the build needs golang-go, dpkg-dev and
#: golang-github-modern-go-reflect2-dev too; scripts/build-kube.sh installs them all).
APT_PACKAGES = ("etcd-server", "openssl")


class RealKubeUnavailable(RuntimeError):
    """The binaries are not there and cannot be built here (the message says why)."""


# ---------------------------------------------------------------------- binaries


def cache_root() -> Path:
    root = os.environ.get("OCRBATCH_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ocrbatch"
    )
    return Path(root)


def binaries_dir() -> Path:
    return cache_root() / f"kube-{KUBE_VERSION}" / "bin"


def build_log_path() -> Path:
    return cache_root() / f"kube-{KUBE_VERSION}-build.log"


def build_recipe() -> str:
    """The RECIPE number of scripts/build-kube.sh: binaries of another recipe are rebuilt."""
    if not BUILD_SCRIPT.is_file():
        return ""
    match = re.search(r"^RECIPE=(\S+)", BUILD_SCRIPT.read_text(), re.MULTILINE)
    return match.group(1) if match else ""


def have_binaries() -> bool:
    """Whether the cache holds binaries of the current recipe (nothing to build)."""
    return _have_binaries(binaries_dir())


def _have_binaries(bin_dir: Path) -> bool:
    try:
        recipe = (bin_dir.parent / "RECIPE").read_text().strip()
    except OSError:
        return False
    return recipe == build_recipe() and all(
        os.access(bin_dir / name, os.X_OK) for name in ("kube-apiserver", "kube-controller-manager")
    )


def ensure_binaries(*, build: bool | None = None, timeout_s: float = 3600.0) -> Path:
    """The directory holding `kube-apiserver` and `kube-controller-manager`, building them
    first when the cache has none (and `etcd`/`openssl` installed).

    `build=None` reads `OCRBATCH_REALKUBE`: `cached` never builds (only uses the cache);
    anything else builds when needed. Raises RealKubeUnavailable with the reason when the
    binaries are missing and cannot be built here.
    """
    bin_dir = binaries_dir()
    if build is None:
        build = os.environ.get("OCRBATCH_REALKUBE", "build").lower() != "cached"
    need_deps = any(shutil.which(tool) is None for tool in ("etcd", "openssl"))
    if _have_binaries(bin_dir) and not need_deps:
        return bin_dir
    if not build:
        raise RealKubeUnavailable(
            f"no kube-apiserver in {bin_dir} and OCRBATCH_REALKUBE=cached forbids building it"
        )
    if shutil.which("bash") is None or not BUILD_SCRIPT.is_file():
        raise RealKubeUnavailable(f"cannot build: bash or {BUILD_SCRIPT} missing")
    if shutil.which("apt-get") is None and (need_deps or shutil.which("go") is None):
        raise RealKubeUnavailable("cannot build: no apt-get (Debian) for golang-go/etcd-server")
    if os.geteuid() != 0 and need_deps:
        raise RealKubeUnavailable(
            f"etcd/openssl missing and not root: apt-get install {' '.join(APT_PACKAGES)}"
        )
    log_path = build_log_path()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    args = [str(BUILD_SCRIPT)] + (["--deps"] if _have_binaries(bin_dir) else [])
    started = time.monotonic()
    with log_path.open("ab") as log:
        log.write(f"\n==== {time.strftime('%F %T')} {' '.join(args)}\n".encode())
        log.flush()
        try:
            proc = subprocess.run(
                ["bash", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise RealKubeUnavailable(f"build timed out after {timeout_s:.0f}s; log {log_path}") from exc
    if proc.returncode != 0 or not _have_binaries(bin_dir):
        raise RealKubeUnavailable(
            f"scripts/build-kube.sh failed (exit {proc.returncode}) after "
            f"{time.monotonic() - started:.0f}s; log {log_path}:\n{tail(log_path)}"
        )
    for tool in ("etcd", "openssl"):
        if shutil.which(tool) is None:
            raise RealKubeUnavailable(f"{tool} still missing after installing {APT_PACKAGES}")
    return bin_dir
