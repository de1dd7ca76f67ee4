"""The images' lock files (requirements/*.txt, made by `make lock`) are in step with
pyproject.toml: every dependency an image's extras name is pinned there at a version the
specifier allows, so a change to the dependencies that was not locked fails here."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
#: Lock file -> the extras its image installs (the Dockerfile installs the lock file: `pip install -r`).
IMAGES = {"operator.txt": ["operator"], "worker.txt": ["worker"], "worker-paddle.txt": ["paddle"]}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if match := PIN.match(line):
            found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def direct_requirements(extras: list[str]) -> list[Requirement]:
    """The core dependencies and those of `extras`, following `ocrbatch[...]` references."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    name = canonicalize_name(project["name"])
    wanted, seen, found = list(extras), set(), [Requirement(r) for r in project["dependencies"]]
    while wanted:
        extra = wanted.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for text in project["optional-dependencies"][extra]:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == name:
                wanted += sorted(requirement.extras)
            else:
                found.append(requirement)
    return found


def test_pins_are_read() -> None:
    assert pins(ROOT / "requirements" / "worker.txt")["numpy"]


@pytest.mark.parametrize("lock", sorted(IMAGES))
def test_lock_pins_every_dependency_of_its_image(lock: str) -> None:
    pinned = pins(ROOT / "requirements" / lock)
    for requirement in direct_requirements(IMAGES[lock]):
        version = pinned.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement.name} is not in requirements/{lock}: make lock"
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements/{lock} pins {requirement.name}=={version}, outside "
            f"{requirement.specifier}: make lock"
        )
