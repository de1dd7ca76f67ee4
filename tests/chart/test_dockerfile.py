"""The Dockerfile's structure (dockerfile-parse: no Docker engine here), and its build
context: the files that .dockerignore lets through build the ocrbatch wheel with both
packages and both console scripts."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.chart.conftest import CHART, ROOT

dockerfile_parse = pytest.importorskip("dockerfile_parse")

DOCKERFILE = ROOT / "Dockerfile"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: A slim Python 3.11 base pinned to a patch release (a digest may follow).
PINNED_BASE = re.compile(r"^python:3\.11\.\d+-slim-(bookworm|trixie)(@sha256:[0-9a-f]{64})?$")
FINAL = {"operator": "ocr-operator", "worker": "ocr-job", "worker-paddle": "ocr-job"}
#: Each image's lock file (tests/unit/test_locks.py keeps it in step with its extras).
LOCKS = {"operator": "operator.txt", "worker": "worker.txt", "worker-paddle": "worker-paddle.txt"}
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|clang|build-essential|make|cmake|python3?-dev|libc6-dev)\b")


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)
    #: The stage this one starts FROM, when it is a stage of this Dockerfile.
    parent: Stage | None = None

    def own(self, instruction: str) -> list[str]:
        return [value for ins, value in self.instructions if ins == instruction]

    def chain(self) -> list[Stage]:
        """This stage and the stages it starts from, the first FROM of the file first."""
        return [*(self.parent.chain() if self.parent else []), self]

    def all(self, instruction: str) -> list[str]:
        """The instruction's values through the stages this one inherits from, in order."""
        return [value for stage in self.chain() for value in stage.own(instruction)]

    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for value in self.all("ENV"):
            for item in shlex.split(value):
                key, _, val = item.partition("=")
                env[key] = val
        return env


def substitute(value: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m.group(1) or m.group(2)], value)


def stages() -> dict[str, Stage]:
    parser = dockerfile_parse.DockerfileParser(path=str(DOCKERFILE))
    found: dict[str, Stage] = {}
    current: Stage | None = None
    for item in parser.structure:
        ins, value = item["instruction"], item["value"]
        if ins == "FROM":
            parts = value.split()
            assert len(parts) == 3 and parts[1].upper() == "AS", f"unnamed stage: FROM {value}"
            base = substitute(parts[0], GLOBAL_ARGS)
            current = Stage(base=base, name=parts[2], parent=found.get(base))
            assert current.name not in found, f"stage {current.name} twice"
            found[current.name] = current
        elif current is None:
            assert ins in ("COMMENT", "ARG"), f"{ins} before the first FROM"
        elif ins != "COMMENT":
            current.instructions.append((ins, value))
    return found


def global_args() -> dict[str, str]:
    """The ARGs before the first FROM (usable in FROM lines), with their defaults."""
    parser = dockerfile_parse.DockerfileParser(path=str(DOCKERFILE))
    args: dict[str, str] = {}
    for item in parser.structure:
        if item["instruction"] == "FROM":
            break
        if item["instruction"] == "ARG":
            name, _, default = item["value"].partition("=")
            args[name] = default
    return args


GLOBAL_ARGS = global_args()
STAGES = stages()


def test_targets_exist() -> None:
    assert set(FINAL) <= set(STAGES)
    # The last stage is the default target: the plain worker.
    assert list(STAGES)[-1] == "worker"


def test_base_images_are_pinned_slim_python() -> None:
    """One base image, a build argument whose default is the pinned official slim image
    (scripts/build-base-image.sh makes a local one where no registry is reachable)."""
    external = {s.base for s in STAGES.values() if s.base not in STAGES}
    assert external, "no base image"
    for base in external:
        assert PINNED_BASE.match(base), f"{base}: pin python:3.11.N-slim-bookworm (never latest)"
        assert "latest" not in base
    # Builder and runtime stages share one base: the venv's interpreter path must match.
    assert len(external) == 1
    assert GLOBAL_ARGS.get("BASE_IMAGE") in external
    raw_bases = {
        item["value"].split()[0]
        for item in dockerfile_parse.DockerfileParser(path=str(DOCKERFILE)).structure
        if item["instruction"] == "FROM"
    }
    assert "${BASE_IMAGE}" in raw_bases, "the base is not the BASE_IMAGE build argument"


@pytest.mark.parametrize("target", sorted(FINAL))
def test_final_stage_runs_as_numeric_non_root_with_only_the_venv(target: str) -> None:
    stage = STAGES[target]
    ancestry = [s.name for s in stage.chain()]
    assert not any(n in ("builder", "app") or n.startswith("deps-") for n in ancestry), (
        f"{target}: a final stage starts from the clean base, not the builder: {ancestry}"
    )
    users = stage.all("USER")
    assert users, f"{target}: no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0, f"{target}: USER {users[-1]} is not a numeric non-root uid"
    assert gid.isdigit() and int(gid) > 0, f"{target}: USER needs a numeric gid"
    env = stage.env()
    assert env["HOME"] == "/tmp"
    assert env["PATH"].startswith("/opt/venv/bin:")
    copies = stage.all("COPY")
    # The locked dependencies first, then the project's own files (a small layer on top);
    # the workers then the int8 detector built in the `models` stage (ocr_job/engines/quantize.py)
    # where the engine looks for it, so no worker builds it at start.
    expected = [f"--from=deps-{target} /opt/venv /opt/venv", "--from=app /app/ /"]
    if target.startswith("worker"):
        expected.append("--from=models /models /opt/venv/share/ocrbatch/models")
    assert copies == expected, copies
    for run in stage.all("RUN"):
        assert not BUILD_TOOLS.search(run), f"{target}: build tools in a final stage: {run}"
        assert "pip install" not in run, f"{target}: installs at build of the final stage"
    assert not stage.all("ADD")


@pytest.mark.parametrize("target", sorted(FINAL))
def test_entrypoints(target: str) -> None:
    entrypoints = STAGES[target].all("ENTRYPOINT")
    assert len(entrypoints) == 1
    assert json.loads(entrypoints[0]) == [FINAL[target]]
    assert FINAL[target] in PYPROJECT["project"]["scripts"]


@pytest.mark.parametrize("target", sorted(FINAL))
def test_dependency_stages_install_the_lock_before_any_source(target: str) -> None:
    """`python -m venv /opt/venv && /opt/venv/bin/pip install -r requirements/<image>.txt`,
    from the lock files alone: a change to the code does not rebuild the dependencies."""
    stage = STAGES[f"deps-{target}"]
    runs = " && ".join(stage.all("RUN"))
    assert "python -m venv /opt/venv" in runs
    assert f"/opt/venv/bin/pip install -r requirements/{LOCKS[target]}" in runs, runs
    assert (ROOT / "requirements" / LOCKS[target]).is_file()
    copied = [c.split()[:-1] for s in stage.chain() for c in s.own("COPY")]
    assert copied == [["requirements"]], f"deps-{target} copies more than the lock files: {copied}"
    # No model download step anywhere: the models come inside the wheels.
    assert not re.search(r"\b(curl|wget|download)\b", runs)


def test_the_app_stage_installs_the_project_without_dependencies() -> None:
    """The sources are copied only in the app stage, which builds the ocrbatch wheel alone."""
    runs = " && ".join(STAGES["app"].all("RUN"))
    assert "/opt/venv/bin/pip install --no-deps ." in runs, runs
    assert {c.split()[0] for c in STAGES["app"].own("COPY")} == {"pyproject.toml", "ocr_job", "operator"}


def test_the_default_uid_is_the_same_everywhere() -> None:
    """Dockerfile USER, the chart's runAsUser and the operator's worker default agree."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    uids = {STAGES[t].all("USER")[-1] for t in FINAL}
    assert uids == {f"{values['runAsUser']}:{values['runAsGroup']}"}
    assert values["worker"]["runAsUser"] == values["runAsUser"]
    from ocr_operator.config import OperatorConfig

    assert OperatorConfig().run_as_user == values["worker"]["runAsUser"]


def test_no_pinned_secrets_or_hosts_in_the_dockerfile() -> None:
    text = DOCKERFILE.read_text()
    assert not re.search(r"(?i)(password|secret|token)\s*=", text)
    assert "--index-url" not in text and "--extra-index-url" not in text


# ------------------------------------------------------------------ the build context


def dockerignore_context() -> list[Path]:
    """Files Docker sends with `docker build .`: our .dockerignore is `*` then `!` entries."""
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", ".dockerignore must start by excluding everything"
    keep = [line[1:].rstrip("/") for line in lines if line.startswith("!")]
    drop = [line for line in lines[1:] if not line.startswith("!")]
    files = []
    for top in keep:
        path = ROOT / top
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for candidate in candidates:
            parts = candidate.relative_to(ROOT).parts
            # Our exclusions are all `**/NAME`: a match on any path component drops the file.
            if any(fnmatch.fnmatch(part, pat.removeprefix("**/")) for part in parts for pat in drop):
                continue
            files.append(candidate)
    return files


def test_dockerfile_copies_only_what_the_context_has() -> None:
    context = {p.relative_to(ROOT).as_posix() for p in dockerignore_context()}
    tops = {c.split("/")[0] for c in context}
    for stage in STAGES.values():
        for copy in stage.all("COPY"):
            if copy.startswith("--from="):
                continue
            for source in copy.split()[:-1]:
                assert source in tops, f"COPY {source}: not in the build context (.dockerignore)"


def test_build_context_builds_the_wheel(tmp_path: Path) -> None:
    """`pip install .` in the image builds this wheel: both packages, both scripts."""
    context = tmp_path / "context"
    for path in dockerignore_context():
        target = context / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), "."],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0 and "Could not find a version that satisfies" in proc.stderr:
        pytest.skip("no package index for the isolated build backend")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("ocrbatch-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = zf.read(entry_points).decode()
    assert "ocr_job/cli.py" in names
    assert "ocr_operator/cli.py" in names
    assert "ocr_job/engines/onnx.py" in names
    assert "ocr-job = ocr_job.cli:main" in scripts
    assert "ocr-operator = ocr_operator.cli:main" in scripts
    assert not any(n.startswith(("tests/", "charts/", "bench/")) for n in names)
