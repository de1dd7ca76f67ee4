"""The test tooling stays split by concern (tests/support/: cgroups, the Job controller, the
kubelet, the API emulator, the real apiserver tier, S3): short modules, a longer one listed
here with the reason."""

from __future__ import annotations

from pathlib import Path

SUPPORT = Path(__file__).resolve().parents[1] / "support"
MAX_MODULE_LINES = 400
#: Modules allowed over MAX_MODULE_LINES, with why.
LONG_MODULES = {
    "realkube.py": "one class, RealCluster: the cluster's life cycle, identities and clients",
    "s3server.py": "one SeaweedFS server: its start, its clients and its pytest fixtures",
}


def test_support_modules_are_short() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in SUPPORT.glob("*.py")}
    assert "podrunner.py" in sizes and "kube.py" in sizes
    long = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert set(long) <= set(LONG_MODULES), long
    assert all(n <= MAX_MODULE_LINES * 1.1 for n in long.values()), long
