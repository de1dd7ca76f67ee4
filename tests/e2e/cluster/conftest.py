"""The whole path on one machine: kopf running the real operator against the Kubernetes
emulator (tests/support/kube.py), a real S3 server (tests/support/s3server.py), and the
local pod runner (tests/support/podrunner.py) running every pod as a real `ocr-job` process
in a memory cgroup with the pod's limit.

Sizes: the default fits `make test` (scenario 1 keeps its 500 cards, the others use a few
dozen); `OCRBATCH_E2E_SIZE=large` (what `make e2e` sets) runs 5,000 cards and bigger sets,
and prints a summary with counts, wall time and peak RSS per pod.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pytest

kopf = pytest.importorskip("kopf", reason="the operator extra is not installed")

from kopf.testing import KopfRunner  # noqa: E402
from kubernetes import client as k8s  # noqa: E402
from kubernetes import config as k8s_config  # noqa: E402
from minio.error import S3Error  # noqa: E402
from ocr_operator.cluster import KubeCluster  # noqa: E402
from ocr_operator.config import OperatorConfig  # noqa: E402
from ocr_operator.handlers import OperatorState, register  # noqa: E402

from ocr_job.records import CSV_COLUMNS, ResultRecord  # noqa: E402
from ocr_job.status import progress_name  # noqa: E402
from ocr_job.synth import generate_set, load_labels  # noqa: E402
from tests.support.containers import podman_unavailable, requested_runtime  # noqa: E402
from tests.support.kube import EVENTS, JOBS, PODS, SECRETS, KubeServer, load_crd  # noqa: E402
from tests.support.podrunner import (  # noqa: E402
    PodRun,
    PodRunner,
    cgroups_unavailable,
    summary_rows,
)
from tests.support.s3server import S3Server  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
NAMESPACE = "ocr"
GROUP, VERSION, PLURAL = "ocrbatch.io", "v1alpha1", "ocrbatches"
BATCHES = (GROUP, VERSION, PLURAL)
TERMINAL = ("Succeeded", "PartiallySucceeded", "Failed")
SOURCE_PREFIX = "cards"
SIZE_ENV = "OCRBATCH_E2E_SIZE"
#: Processes at once: the node has 2 cores.
MAX_PROCESSES = 2


# ---------------------------------------------------------------------------- sizes


@dataclass(frozen=True)
class Sizes:
    name: str
    #: Scenario 1: generated cards (plus the bad inputs) and its shard count.
    happy_cards: int
    happy_shards: int
    #: The other scenarios' card count.
    cards: int
    #: Scenario 7: examples through decode + locate_card, and through the whole pipeline.
    fuzz_examples: int
    fuzz_pipeline_examples: int

    @property
    def large(self) -> bool:
        return self.name == "large"


SMALL = Sizes("small", happy_cards=500, happy_shards=5, cards=24, fuzz_examples=250,
              fuzz_pipeline_examples=12)  # fmt: skip
LARGE = Sizes("large", happy_cards=5000, happy_shards=25, cards=60, fuzz_examples=3000,
              fuzz_pipeline_examples=100)  # fmt: skip
#: A quick self-check of the suite while editing it (not the spec: scenario 1 needs 500).
SMOKE = Sizes("smoke", happy_cards=40, happy_shards=2, cards=12, fuzz_examples=40,
              fuzz_pipeline_examples=3)  # fmt: skip
SIZES = {"large": LARGE, "smoke": SMOKE}.get(os.environ.get(SIZE_ENV, "").strip().lower(), SMALL)
#: Extra env for every pod, `K=V,K=V` (to try a worker setting across the suite).
POD_ENV = dict(kv.split("=", 1) for kv in os.environ.get("OCRBATCH_E2E_POD_ENV", "").split(",") if "=" in kv)


def load_factor() -> float:
    """How many times slower than on an idle machine a process runs now: the load average
    per core (each runnable process gets about cores/load of a core), at least 1."""
    return max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))


#: The machine's load when the suite starts (the 2-core test machines are shared).
LOAD_FACTOR = load_factor()


def budget_s(inputs: int, fixed: float = 240.0) -> float:
    """A generous wall-time budget for `inputs` images on MAX_PROCESSES workers (the OCR
    costs 0.3–1 s per image per core on an idle machine), scaled by the machine's load when
    the suite started. A deadline to notice a hang, not a speed requirement."""
    return fixed + inputs * 2.5 / MAX_PROCESSES * LOAD_FACTOR


# ---------------------------------------------------------------------------- the report

REPORT: list[str] = []


def report(line: str) -> None:
    """A line for the summary printed at the end of the session."""
    REPORT.append(line)


def report_pods(title: str, runs: list[PodRun]) -> None:
    report(f"{title}: {len(runs)} pod(s)")
    for row in summary_rows(runs):
        report(
            f"  {row['pod']:<28} index {row['index']:>3}  limit {row['limit_mib']} MiB  "
            f"exit {row['exit']} {row['reason']:<10}  {row['wall_s']} s  "
            f"peak RSS {row['peak_rss_mib']} MiB  cgroup peak {row['cgroup_peak_mib']} MiB"
        )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if REPORT:
        terminalreporter.section(f"ocrbatch cluster e2e ({SIZES.name})")
        for line in REPORT:
            terminalreporter.write_line(line)


# ---------------------------------------------------------------------------- leaks


@dataclass
class LeakLog:
    """Personal data of every generated set, and every text a scenario produced that
    must not contain it (worker output, operator log, Events, API objects)."""

    sensitive: set[str] = field(default_factory=set)
    texts: list[tuple[str, str]] = field(default_factory=list)

    def watch(self, labels: dict[str, dict[str, Any]]) -> None:
        for label in labels.values():
            for key in ("id_number", "name"):
                value = (label.get("fields") or {}).get(key)
                if value and len(value) > 1:
                    self.sensitive.add(value)

    def add(self, source: str, text: str) -> None:
        self.texts.append((source, text))

    def leaks(self, texts: list[tuple[str, str]] | None = None) -> list[str]:
        found = []
        for source, text in self.texts if texts is None else texts:
            for value in self.sensitive:
                if value in text:
                    kind = "ID number" if value[:6].isdigit() else "name"
                    found.append(f"{source}: a full {kind} ({value[:1]}…)")
        return found


@pytest.fixture(scope="session")
def leak_log() -> LeakLog:
    return LeakLog()


# ---------------------------------------------------------------------------- skip

_UNAVAILABLE: list[str | None] = []


#: How pods run: local processes (default) or podman containers of the worker image
#: (OCRBATCH_E2E_RUNTIME=podman, `make e2e-podman`; tests/support/containers.py).
RUNTIME = requested_runtime()
#: The image of the operator's worker Jobs: with podman, the one `make images` built.
WORKER_IMAGE = OperatorConfig().worker_image if RUNTIME == "podman" else "ocrbatch-worker:e2e"


@pytest.fixture(scope="session", autouse=True)
def _cgroups_needed() -> None:
    if not _UNAVAILABLE:
        reason = cgroups_unavailable()
        if reason is None and RUNTIME == "podman":
            reason = podman_unavailable(WORKER_IMAGE)
        _UNAVAILABLE.append(reason)
        if reason is None and RUNTIME == "podman":
            report(f"pods run as podman containers of {WORKER_IMAGE}")
    if _UNAVAILABLE[0]:
        pytest.skip(f"the cluster e2e suite runs pods in memory cgroups ({RUNTIME}): {_UNAVAILABLE[0]}")


# ---------------------------------------------------------------------------- card sets


@dataclass(frozen=True)
class CardSet:
    """Generated cards in `parts` sub-sets (generated in parallel), with their labels keyed
    by the path below the set's root (`part-0/clean/0001-front.jpg`)."""

    root: Path
    labels: dict[str, dict[str, Any]]

    def files(self) -> list[tuple[str, Path]]:
        return [(rel, self.root / rel) for rel in sorted(self.labels)]

    @property
    def cards(self) -> int:
        return sum(1 for lab in self.labels.values() if lab["level"] != "bad")

    def expected_errors(self) -> dict[str, str]:
        return {rel: lab["expected_error"] for rel, lab in self.labels.items() if lab["expected_error"]}


def _generate(dest: str, count: int, seed: int, bad: bool, levels: tuple[str, ...]) -> str:
    generate_set(Path(dest), count, seed=seed, levels=levels, bad_inputs=bad)
    return dest


class CardLibrary:
    """Card sets cached across sessions (under pytest's cache dir): made once, then reused
    (`generate_set` leaves an up-to-date set alone)."""

    def __init__(self, base: Path, leaks: LeakLog) -> None:
        self.base = base
        self.leaks = leaks
        self._made: dict[str, CardSet] = {}

    def get(
        self,
        name: str,
        count: int,
        *,
        parts: int = 1,
        seed: int = 0,
        bad_inputs: bool = True,
        levels: tuple[str, ...] = ("clean", "photo", "hard"),
    ) -> CardSet:
        key = f"{name}-{count}x{parts}-s{seed}-{'bad' if bad_inputs else 'nobad'}-{'.'.join(levels)}"
        if key in self._made:
            return self._made[key]
        root = self.base / key
        sizes = [count // parts + (1 if k < count % parts else 0) for k in range(parts)]
        jobs = [(str(root / f"part-{k}"), n, seed * 100 + k, bad_inputs, levels)
                for k, n in enumerate(sizes)]  # fmt: skip
        if parts == 1:
            _generate(*jobs[0])
        else:
            with ProcessPoolExecutor(MAX_PROCESSES, mp_context=get_context("spawn")) as pool:
                list(pool.map(_generate, *zip(*jobs, strict=True)))
        labels: dict[str, dict[str, Any]] = {}
        for k in range(parts):
            for rel, lab in load_labels(root / f"part-{k}").items():
                labels[f"part-{k}/{rel}"] = lab
        self.leaks.watch(labels)
        made = self._made[key] = CardSet(root, labels)
        return made


@pytest.fixture(scope="session")
def cards(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          leak_log: LeakLog) -> CardLibrary:  # fmt: skip
    cache = getattr(request.config, "cache", None)
    base = cache.mkdir("ocrbatch-e2e-cards") if cache is not None else tmp_path_factory.mktemp("cards")
    return CardLibrary(Path(base), leak_log)


# ---------------------------------------------------------------------------- S3 and the API


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One S3 server for the scenarios that do not restart it."""
    server = S3Server(tmp_path_factory.mktemp("e2e-s3"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def crds() -> list[dict[str, Any]]:
    found = [load_crd(ROOT / "crds" / "ocrbatches.yaml")]
    intake = ROOT / "crds" / "ocrintakes.yaml"
    if intake.is_file():
        found.append(load_crd(intake))
    return found


def upload(s3: S3Server, bucket: str, prefix: str, files: list[tuple[str, Path]]) -> list[str]:
    """Put the files under `prefix/`; the object keys, sorted."""
    client = s3.client()

    def put(item: tuple[str, Path]) -> str:
        rel, path = item
        key = f"{prefix}/{rel}" if prefix else rel
        data = path.read_bytes()
        client.put_object(bucket, key, io.BytesIO(data), len(data))
        return key

    with ThreadPoolExecutor(8) as pool:
        return sorted(pool.map(put, files))


class World:
    """One scenario's cluster: API, S3, pod runner, operator; and the checks."""

    def __init__(self, kube: KubeServer, s3: S3Server, runner: PodRunner, workdir: Path,
                 leaks: LeakLog) -> None:  # fmt: skip
        self.kube = kube
        self.s3 = s3
        self.runner = runner
        self.workdir = workdir
        self.leaks = leaks
        self.api = k8s_config.new_client_from_config(str(kube.kubeconfig(workdir / "kubeconfig")))
        self.custom = k8s.CustomObjectsApi(self.api)
        self.operator_logs: list[str] = []
        self.operators: list[OperatorState] = []
        self.started = time.monotonic()
        self.secret = "s3-creds"
        kube.create(SECRETS, {
            "metadata": {"name": self.secret, "namespace": NAMESPACE},
            "data": {"accessKey": base64.b64encode(s3.access_key.encode()).decode(),
                     "secretKey": base64.b64encode(s3.secret_key.encode()).decode()},
        })  # fmt: skip

    # ------------------------------------------------------------------ the operator

    @contextlib.contextmanager
    def operator(self) -> Iterator[OperatorState]:
        """kopf running the real handlers (fresh registry) until the block ends."""
        registry = kopf.OperatorRegistry()
        state = OperatorState(
            config=OperatorConfig(
                s3_endpoint=self.s3.endpoint,
                resync_seconds=2.0,
                worker_image=WORKER_IMAGE,
                worker_status_interval=1.0,
            ),
            namespaces=[NAMESPACE],
            cluster_factory=lambda: KubeCluster(self.api, [NAMESPACE]),
        )
        register(registry, state)
        kube = self.kube

        @kopf.on.login(registry=registry)
        def login(**_: Any) -> kopf.ConnectionInfo:
            return kopf.ConnectionInfo(server=kube.url, token="emulator-token", insecure=True)

        args = ["run", "--standalone", "--verbose", "--namespace", NAMESPACE]
        runner = KopfRunner(args, registry=registry, timeout=60)
        try:
            with runner:
                deadline = time.monotonic() + 30
                while state.scheduler is None and time.monotonic() < deadline:
                    time.sleep(0.05)
                self.operators.append(state)
                yield state
        finally:
            output = ""
            with contextlib.suppress(Exception):
                output = runner.output
            self.operator_logs.append(output)
        assert runner.exception is None, runner.output[-5000:]

    # ------------------------------------------------------------------ batches

    def buckets(self) -> tuple[str, str]:
        tag = secrets.token_hex(4)
        return self.s3.make_bucket(f"in-{tag}"), self.s3.make_bucket(f"out-{tag}")

    def put_cards(self, bucket: str, card_set: CardSet, extra: dict[str, bytes] | None = None,
                  prefix: str = SOURCE_PREFIX) -> list[str]:  # fmt: skip
        """Upload a card set (and extra objects, relative key -> bytes) under `prefix/`."""
        keys = upload(self.s3, bucket, prefix, card_set.files())
        client = self.s3.client()
        for rel, data in (extra or {}).items():
            client.put_object(bucket, f"{prefix}/{rel}", io.BytesIO(data), len(data))
            keys.append(f"{prefix}/{rel}")
        return sorted(keys)

    def apply(self, name: str, src: str, out: str, **spec: Any) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "OcrBatch",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {
                "source": {"bucket": src, "prefix": SOURCE_PREFIX, "credentialsSecret": self.secret},
                "output": {"bucket": out, "prefix": f"results/{name}"},
                "parallelism": MAX_PROCESSES,
                **spec,
            },
        }
        return self.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, body)

    def batch(self, name: str) -> dict[str, Any]:
        return self.kube.get(BATCHES, NAMESPACE, name)

    def status(self, name: str) -> dict[str, Any]:
        return self.batch(name).get("status") or {}

    def wait(self, what: str, fn: Callable[[], Any], timeout: float, interval: float = 0.25,
             progress: Callable[[], Any] | None = None) -> Any:  # fmt: skip
        """Wait until `fn()` is true. The deadline is `timeout` after the start, or, with
        `progress`, after the last change of `progress()` (the time a hang is noticed in,
        however slow the loaded machine makes the work)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        seen = progress() if progress else None
        while time.monotonic() < deadline:
            last = fn()
            if last:
                return last
            if self.runner.errors:
                raise AssertionError(f"pod runner errors: {self.runner.errors}")
            time.sleep(interval)
            if progress and (now := progress()) != seen:
                seen, deadline = now, time.monotonic() + timeout
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}\n"
                             + self.diagnostics())  # fmt: skip

    def wait_finished(self, name: str, timeout: float) -> dict[str, Any]:
        """Wait for the batch's end: failed when neither its progress nor its pods moved for
        `timeout` s."""
        status = self.wait(
            f"batch {name} to finish",
            lambda: (s := self.status(name)).get("phase") in TERMINAL and s.get("results") and s,
            timeout,
            interval=0.5,
            progress=lambda: (self.moved(name), len(self.runner.runs())),
        )
        return dict(status)

    def moved(self, name: str) -> tuple[Any, ...]:
        """What of the batch's status changes as its inputs are done (not its rate or ETA)."""
        s = self.status(name)
        return tuple(s.get(k) for k in ("phase", "total", "processed", "completedShards", "failedShards"))

    def shard_report(self, name: str, index: int) -> dict[str, Any]:
        """A shard's last progress report: its worker's progress file in the batch's output
        ({} before the worker wrote one)."""
        out = self.batch(name)["spec"]["output"]
        key = "/".join(p for p in ((out.get("prefix") or "").strip("/"), progress_name(index)) if p)
        try:
            return dict(json.loads(self.read(out["bucket"], key)))
        except (S3Error, ValueError):
            return {}

    def shard_progress(self, name: str, index: int) -> int:
        """Inputs a shard's worker reported done."""
        return int(self.shard_report(name, index).get("processed") or 0)

    def jobs(self) -> list[dict[str, Any]]:
        return self.kube.list(JOBS, NAMESPACE)

    def pods(self) -> list[dict[str, Any]]:
        return self.kube.list(PODS, NAMESPACE)

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.kube.list(EVENTS, NAMESPACE)
                if name is None or e["involvedObject"]["name"] == name]  # fmt: skip

    # ------------------------------------------------------------------ results

    def read(self, bucket: str, key: str) -> bytes:
        response = self.s3.client().get_object(bucket, key)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def results(self, out: str, name: str, prefix: str | None = None) -> list[ResultRecord]:
        text = self.read(out, f"{prefix or f'results/{name}'}/results.jsonl").decode("utf-8")
        return [ResultRecord.model_validate_json(line) for line in text.splitlines() if line]

    def csv_rows(self, out: str, name: str, prefix: str | None = None) -> list[dict[str, str]]:
        text = self.read(out, f"{prefix or f'results/{name}'}/results.csv").decode("utf-8")
        assert text.startswith("\ufeff"), "results.csv starts with a BOM"
        return list(csv.DictReader(io.StringIO(text[1:])))

    def record_objects(self, out: str, name: str, prefix: str | None = None) -> dict[str, Any]:
        """Record objects (key of the input -> the object's stat), reserved dirs excluded."""
        prefix = f"{prefix or f'results/{name}'}/"
        found = {}
        for obj in self.s3.client().list_objects(out, prefix=prefix, recursive=True):
            rel = obj.object_name[len(prefix) :]
            if rel.startswith(("_shards/", "_manifests/")) or not rel.endswith(".json"):
                continue
            found[rel.removesuffix(".json")] = obj
        return found

    def check_complete(self, name: str, out: str, keys: list[str], status: dict[str, Any],
                       prefix: str | None = None) -> dict[str, ResultRecord]:  # fmt: skip
        """Every input has exactly one record (objects, results.jsonl, results.csv), no
        duplicates, and the status counts match the bucket."""
        records = self.results(out, name, prefix)
        sources = [r.source for r in records]
        assert len(sources) == len(set(sources)), "no duplicate lines in results.jsonl"
        assert sources == sorted(keys), "exactly one record per input in results.jsonl"
        assert sorted(self.record_objects(out, name, prefix)) == sorted(keys), "one record per input"
        rows = self.csv_rows(out, name, prefix)
        assert [r["source"] for r in rows] == sources and list(rows[0]) == list(CSV_COLUMNS)
        ok = sum(r.status == "ok" for r in records)
        errors = len(records) - ok
        assert (status["total"], status["processed"]) == (len(keys), len(keys))
        assert (status["succeeded"], status["failed"]) == (ok, errors), "status counts = bucket"
        assert status["progress"] == f"{len(keys)}/{len(keys)}"
        assert status["phase"] == ("Succeeded" if errors == 0 else "PartiallySucceeded"), status
        return {r.source: r for r in records}

    # ------------------------------------------------------------------ leaks and diagnostics

    def texts(self) -> list[tuple[str, str]]:
        """Everything this scenario wrote that a person or a log system could read."""
        texts = [(f"operator log #{i}", log) for i, log in enumerate(self.operator_logs)]
        texts += [(f"pod {p.name} output", p.log_text()) for p in self.runner.runs()]
        texts.append(("events", json.dumps(self.events(), ensure_ascii=False)))
        for res, label in ((BATCHES, "OcrBatch"), (JOBS, "Job"), (PODS, "Pod")):
            texts.append((f"{label} objects", json.dumps(self.kube.list(res, NAMESPACE), ensure_ascii=False)))
        with contextlib.suppress(Exception):
            intakes = self.kube.list((GROUP, VERSION, "ocrintakes"), NAMESPACE)
            texts.append(("OcrIntake objects", json.dumps(intakes, ensure_ascii=False)))
        return texts

    def check_no_leaks(self) -> None:
        texts = self.texts()
        for source, text in texts:
            self.leaks.add(source, text)
        leaks = self.leaks.leaks(texts)
        assert not leaks, f"personal data in logs/API objects: {leaks[:10]}"

    def diagnostics(self) -> str:
        lines = ["--- batches:"]
        for batch in self.kube.list(BATCHES, NAMESPACE):
            status = dict(batch.get("status") or {})
            status.pop("shards", None)
            lines.append(json.dumps({batch["metadata"]["name"]: status})[:3000])
        lines.append("--- jobs:")
        for job in self.jobs():
            lines.append(f"{job['metadata']['name']}: {json.dumps(job.get('status'))[:1000]}")
        lines.append("--- pods:")
        for row in summary_rows(self.runner.runs()):
            lines.append(str(row))
        for run in self.runner.runs()[-3:]:
            lines.append(f"--- output of {run.name} (tail):\n{run.log_text()[-2000:]}")
        return "\n".join(lines)


@pytest.fixture
def make_world(tmp_path: Path, leak_log: LeakLog, crd_list: list[dict[str, Any]]
               ) -> Iterator[Callable[[S3Server], World]]:  # fmt: skip
    """`make_world(s3)`: the API, the pod runner and the helpers for one scenario. At the end
    the pods are stopped, the scenario's texts go to the leak log, and no cgroup is left."""
    made: list[tuple[World, KubeServer, PodRunner]] = []

    def make(s3: S3Server) -> World:
        kube = KubeServer(crd_list).start()
        runner = PodRunner(kube, [NAMESPACE], max_processes=MAX_PROCESSES, extra_env=POD_ENV)
        runner.start()
        world = World(kube, s3, runner, tmp_path, leak_log)
        made.append((world, kube, runner))
        return world

    yield make
    for world, kube, runner in made:
        with contextlib.suppress(Exception):
            for source, text in world.texts():
                leak_log.add(source, text)
        runner.stop()
        kube.stop()
        assert runner.leftover_cgroups() == [], "the pod runner removes every cgroup it made"


@pytest.fixture(scope="session")
def crd_list() -> list[dict[str, Any]]:
    return crds()


@pytest.fixture
def world(make_world: Callable[[S3Server], World], s3: S3Server) -> World:
    return make_world(s3)
