"""The scale bench (issue 18; not a test, not in `make test`): one OcrBatch over many tiny
objects, the operator in a process of its own against the in-process Kubernetes emulator
(tests/support/kube.py) and a real S3 server (SeaweedFS, tests/support/s3server.py), and
fake workers that read the manifests (S3), write one record per input and the shard
summaries, and complete Job indexes as fast as they can.

    python -m bench.scale --inputs 100000 --shard-size 20          # or: make bench-scale
    python -m bench.scale --inputs 1000000 --populate-only         # create the inputs once
    nice -n 5 python -m bench.scale --inputs 1000000 --shard-size 200 --no-merge-alone
    nice -n 5 python -m bench.scale --inputs 100000 --shard-size 10 --failing 0.1 --no-merge-alone

Reports planning time, the operator's peak RSS (VmHWM of its process; also its largest RSS
before and during its own merge), the largest OcrBatch seen (`kubectl get -o json` bytes,
sampled every 0.2 s and at every batch write), the API writes the batch caused (per second,
overall and in the busiest 10 s), and the merge's time and peak RSS run alone in a child
process (unless --no-merge-alone). The inputs are created once in `--data` (kept between
runs), empty, through the SeaweedFS filer (`FilerWriter`: ~2,000-5,000/s here, against
~300/s through the S3 API from Python); JSON goes to bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "scale"
BATCHES = ("ocrbatch.io", "v1alpha1", "ocrbatches")
TERMINAL = {"Succeeded", "PartiallySucceeded", "Failed"}
#: Shards a fake worker tick completes per Job.
TICK_SHARDS = 50
#: Threads writing through the filer (more only queue up in `weed` on two cores).
FILER_THREADS = 8
#: Objects up to this size stay in the SeaweedFS filer's store (`s3_server`).
INLINE_BYTES = 2048


def peak_rss_mib(pid: int) -> float:
    """VmHWM (peak resident set) of a live process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --------------------------------------------------------------------------- the operator


def run_operator(kubeconfig: str, url: str, endpoint: str) -> None:
    """The operator alone in this process (what its Deployment runs), against the emulator."""
    import kopf
    from kubernetes import config as k8s_config
    from ocr_operator.cluster import KubeCluster
    from ocr_operator.config import OperatorConfig
    from ocr_operator.handlers import OperatorState, register

    registry = kopf.OperatorRegistry()
    state = OperatorState(
        config=OperatorConfig(s3_endpoint=endpoint, worker_image="worker:bench"),
        namespaces=[NAMESPACE],
        cluster_factory=lambda: KubeCluster(k8s_config.new_client_from_config(kubeconfig), [NAMESPACE]),
    )
    register(registry, state)

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=url, token="emulator-token", insecure=True)

    kopf.run(registry=registry, standalone=True, namespaces=[NAMESPACE])


# --------------------------------------------------------------------------- S3 set-up


class FilerWriter:
    """Objects written straight through the SeaweedFS filer's HTTP API (`PUT
    /buckets/<bucket>/<key>`): no S3 signing and, for an empty body, no volume write, so a
    million inputs take minutes instead of the hour the S3 API takes from Python on two
    cores. One keep-alive connection per thread."""

    def __init__(self, s3: Any) -> None:
        self.port = s3.ports["filer"]
        self._local = threading.local()

    def put(self, bucket: str, key: str, body: bytes = b"") -> None:
        for attempt in range(4):
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                conn.request("PUT", f"/buckets/{bucket}/{urllib.parse.quote(key)}", body=body)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self._local.conn = None
                if attempt == 3:
                    raise
                continue
            if response.status in (200, 201):
                return
            if attempt == 3 or response.status < 500:
                raise RuntimeError(f"the filer answered {response.status} to a PUT")
        raise AssertionError("unreachable")


def populate(s3: Any, bucket: str, count: int, marker: Path) -> float:
    """`count` empty .jpg objects under `in/` (1,000 per folder), in parallel through the
    filer; seconds (0 when `marker` says they exist)."""
    if marker.exists() and int(marker.read_text()) >= count:
        return 0.0
    client = s3.client()
    if not client.bucket_exists(bucket):
        client.make_bucket(bucket)
    writer = FilerWriter(s3)
    started = time.perf_counter()

    def put(i: int) -> None:
        writer.put(bucket, f"in/{i // 1000:05d}/{i:08d}.jpg")

    with ThreadPoolExecutor(FILER_THREADS) as pool:
        for done, _ in enumerate(pool.map(put, range(count)), 1):
            if done % 100_000 == 0:
                print(f"  created {done}/{count} in {time.perf_counter() - started:.0f} s", flush=True)
    marker.write_text(str(count))
    return time.perf_counter() - started


# --------------------------------------------------------------------------- the run


class WriteCounter:
    """Counts the emulator's writes per resource, with their times (API writes/s)."""

    def __init__(self, emulator: type, on_batch_write: Callable[[Any], None]) -> None:
        self.times: dict[str, list[float]] = {}
        self._on_batch_write = on_batch_write
        for method in ("create", "patch"):  # the class: its instances are slotted
            setattr(emulator, method, self._counting(getattr(emulator, method)))

    def _counting(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def counted(api: Any, res: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(api, res, *args, **kwargs)
            self.times.setdefault(res[2], []).append(time.monotonic())
            if res == BATCHES:
                self._on_batch_write(result)
            return result

        return counted


class Monitor:
    """Samples the batch's size and the operator's RSS until stopped."""

    def __init__(self, kube: Any, pid: int) -> None:
        self.kube, self.pid = kube, pid
        self.max_status = 0
        #: (monotonic time, the operator's RSS in MiB) every 0.2 s.
        self.rss: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self, body: dict[str, Any] | None) -> None:
        if body is not None:
            self.max_status = max(self.max_status, len(json.dumps(body, indent=4).encode()))

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.sample(self.kube.find(BATCHES, NAMESPACE, "scale"))
                self.rss.append((time.monotonic(), rss_mib(self.pid)))
            except Exception:  # the process may be gone at the end
                pass

    def start(self) -> None:
        self._thread.start()

    def max_rss(self, since: float = 0.0, until: float = float("inf")) -> float:
        return max((rss for t, rss in self.rss if since <= t <= until), default=0.0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def failing(fraction: float) -> Callable[[int], bool]:
    """Whether a shard fails for good: `fraction` of them, spread evenly (scattered: with
    0.1, every tenth shard, each a gap of its own in the shard sets)."""

    def fails(shard: int) -> bool:
        return int((shard + 1) * fraction) > int(shard * fraction)

    return fails


def fake_workers(
    kube: Any, s3: Any, out: str, status_of: Callable[[], dict[str, Any]], fail: float = 0.0
) -> float:
    """Play the Job controller and the workers until the batch is terminal; the time the
    last Job finished (monotonic). Manifests are read through S3 as workers do; records,
    summaries and progress are written through the filer (`FilerWriter`), the same bytes
    and keys a worker's S3 PUT makes, at a rate a loaded two-core machine can keep up.
    A `fail` fraction of the shards fails for good (no record, a failed Job index)."""
    from ocr_operator.kube import format_index_ranges

    from ocr_job.records import ResultRecord
    from ocr_job.sharding import resolve_shard_index
    from ocr_job.status import progress_name, summary_name
    from ocr_job.storage.s3 import join_key, read_manifest, record_key
    from tests.support.kube import JOBS, JobController

    jobs = JobController(kube)
    settings = s3.settings()
    writer = FilerWriter(s3)
    done: dict[str, int] = {}
    failed: dict[str, list[int]] = {}
    fails = failing(fail)
    last_finish = time.monotonic()

    def write_json(name: str, data: dict[str, Any]) -> None:
        writer.put(out, join_key("", name), json.dumps(data).encode())

    def work(env: dict[str, str], template: str, ci: int) -> bool:
        shard = resolve_shard_index({**env, "JOB_COMPLETION_INDEX": str(ci)})
        assert shard is not None
        if fails(shard):
            return False
        keys = read_manifest(template.format(index=shard), settings)
        for key in keys:
            record = ResultRecord(source=key, status="ok", side="front")
            writer.put(out, record_key("", key), record.model_dump_json(indent=1).encode())
        n = len(keys)
        write_json(
            summary_name(shard),
            {"index": shard, "total": n, "processed": n, "succeeded": n, "failed": 0, "errors": {}},
        )
        return True

    with ThreadPoolExecutor(FILER_THREADS) as pool:
        while status_of().get("phase") not in TERMINAL:
            busy = False
            for job in kube.list(JOBS, NAMESPACE):
                name = job["metadata"]["name"]
                completions = int(job["spec"]["completions"])
                start = done.get(name, 0)
                if start >= completions:
                    continue
                busy = True
                container = job["spec"]["template"]["spec"]["containers"][0]
                env = {e["name"]: e.get("value", "") for e in container["env"]}
                template = status_of()["manifests"]
                stop = min(completions, start + TICK_SHARDS)
                tick = range(start, stop)
                ran = list(pool.map(work, [env] * len(tick), [template] * len(tick), tick))
                lost = failed.setdefault(name, [])
                lost += [ci for ci, ok in zip(tick, ran, strict=True) if not ok]
                for ci in range(stop, min(completions, stop + 5)):  # a few running shards' progress
                    shard = int(resolve_shard_index({**env, "JOB_COMPLETION_INDEX": str(ci)}) or 0)
                    write_json(
                        progress_name(shard),
                        {"index": shard, "phase": "Running", "total": 20, "processed": 7, "succeeded": 7},
                    )
                done[name] = stop
                completed = format_index_ranges(set(range(stop)) - set(lost))
                if stop == completions:
                    jobs.finish(job, completed=completed, failed=format_index_ranges(lost))
                    last_finish = time.monotonic()
                else:
                    jobs.set_status(
                        job,
                        completedIndexes=completed,
                        failedIndexes=format_index_ranges(lost),
                        active=min(200, completions - stop),
                    )
            if not busy:
                time.sleep(0.2)
    return last_finish


def merge_alone(s3: Any, out: str) -> dict[str, Any]:
    """The merge of the batch's records in a child process: seconds and peak RSS (MiB, the
    child's VmHWM sampled until it exits: `ru_maxrss` would carry the parent's peak from
    before `exec`)."""
    env = {**os.environ, **s3.env()}
    code = (
        "import sys\nfrom ocr_job.config import S3Settings\nfrom ocr_job.merge import merge\n"
        "from ocr_job.storage.s3 import S3Sink, make_client\n"
        f"print(merge(S3Sink(make_client(S3Settings()), {out!r}, '')))\n"
    )
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE)
    peak = 0.0
    while proc.poll() is None:
        try:
            peak = max(peak, peak_rss_mib(proc.pid))
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.2)
    stdout, _ = proc.communicate()
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"the merge failed ({proc.returncode})")
    return {"seconds": round(seconds, 1), "peak_rss_mib": round(peak, 1), "summary": stdout.decode().strip()}


def windowed_max(times: list[float], width: float = 10.0) -> float:
    window: deque[float] = deque()
    best = 0
    for t in sorted(times):
        window.append(t)
        while window[0] < t - width:
            window.popleft()
        best = max(best, len(window))
    return best / width


def s3_server(data: Path) -> Any:
    """The test S3 server, keeping objects of up to `INLINE_BYTES` in the filer's store
    (`-filer.saveToFilerLimit`, as a SeaweedFS deployment for small files would): a record
    PUT or GET then costs no volume read or write, which the shared machine cannot spare a
    million times. The inputs (empty) and the merged files are unaffected."""
    from tests.support.s3server import S3Server

    class BenchS3Server(S3Server):
        def _command(self, weed: str) -> list[str]:
            return [*super()._command(weed), f"-filer.saveToFilerLimit={INLINE_BYTES}"]

    return BenchS3Server(data / "s3")


def bench(args: argparse.Namespace) -> dict[str, Any]:
    from tests.support.kube import SECRETS, KubeServer, load_crd

    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    s3 = s3_server(data)
    s3.start()
    try:
        created = populate(s3, "scale-in", args.inputs, data / f"populated-{args.inputs}")
        out = s3.make_bucket(f"scale-out-{secrets.token_hex(3)}")
        crds = [load_crd(ROOT / "crds" / name) for name in ("ocrbatches.yaml", "ocrintakes.yaml")]
        with KubeServer(crds) as kube:
            return run_batch(args, kube, s3, out, created, SECRETS)
    finally:
        s3.stop()


def run_batch(
    args: argparse.Namespace, kube: Any, s3: Any, out: str, created: float, secrets_res: Any
) -> dict[str, Any]:
    kubeconfig = kube.kubeconfig(Path(args.data) / "kubeconfig")
    kube.create(
        secrets_res,
        {
            "metadata": {"name": "s3", "namespace": NAMESPACE},
            "data": {
                "accessKey": base64.b64encode(s3.access_key.encode()).decode(),
                "secretKey": base64.b64encode(s3.secret_key.encode()).decode(),
            },
        },
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'operator'}"}
    with open(Path(args.data) / "operator.log", "w") as log:
        operator = subprocess.Popen(
            [sys.executable, "-m", "bench.scale", "--operator", str(kubeconfig), kube.url, s3.endpoint],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    monitor = Monitor(kube, operator.pid)
    counter = WriteCounter(type(kube.api), monitor.sample)
    monitor.start()
    try:
        time.sleep(3)  # kopf starts
        began = time.monotonic()
        kube.create(
            BATCHES,
            {
                "apiVersion": "ocrbatch.io/v1alpha1",
                "kind": "OcrBatch",
                "metadata": {"name": "scale", "namespace": NAMESPACE},
                "spec": {
                    "source": {"bucket": "scale-in", "prefix": "in", "credentialsSecret": "s3"},
                    "output": {"bucket": out},
                    "shardSize": args.shard_size,
                    "parallelism": 200,
                },
            },
        )

        def status() -> dict[str, Any]:
            return kube.get(BATCHES, NAMESPACE, "scale").get("status") or {}

        while status().get("shardCount") is None:
            if operator.poll() is not None:
                raise RuntimeError("the operator exited; see operator.log")
            time.sleep(0.2)
        planned = time.monotonic()
        print(
            f"  planned {status()['total']} inputs in {status()['shardCount']} shards "
            f"in {planned - began:.1f} s",
            flush=True,
        )
        last_finish = fake_workers(kube, s3, out, status, args.failing)
        ended = time.monotonic()
        final = status()
        operator_peak = peak_rss_mib(operator.pid)
    finally:
        monitor.stop()
        operator.terminate()
        operator.wait(30)
    batch_writes = counter.times.get("ocrbatches", [])
    run_s = ended - planned
    merge = merge_alone(s3, out) if args.merge_alone else None
    return {
        "inputs": args.inputs,
        "shard_size": args.shard_size,
        "shards": final.get("shardCount"),
        "jobs": final.get("jobs"),
        "failing_fraction": args.failing,
        "phase": final.get("phase"),
        "completed_shards": final.get("completedShardCount"),
        "failed_shards": final.get("failedShardCount"),
        "shard_sets_object_bytes": sets_object_bytes(s3, out, final),
        "processed": final.get("processed"),
        "create_inputs_s": round(created, 1),
        "planning_s": round(planned - began, 1),
        "run_s": round(run_s, 1),
        "merge_in_operator_s": round(ended - last_finish, 1),
        "operator_peak_rss_mib": round(max(operator_peak, monitor.max_rss()), 1),
        "operator_max_rss_before_merge_mib": round(monitor.max_rss(until=last_finish), 1),
        "operator_max_rss_in_merge_mib": round(monitor.max_rss(since=last_finish), 1),
        "max_batch_object_bytes": monitor.max_status,
        "final_batch_object_bytes": len(json.dumps(kube.get(BATCHES, NAMESPACE, "scale"), indent=4).encode()),
        "batch_writes": len(batch_writes),
        "batch_writes_per_s": round(len(batch_writes) / max(ended - began, 1e-9), 3),
        "batch_writes_per_s_busiest_10s": windowed_max(batch_writes),
        "job_writes": len(counter.times.get("jobs", [])),
        "event_writes": len(counter.times.get("events", [])),
        "merge_alone": merge,
    }


def sets_object_bytes(s3: Any, out: str, status: dict[str, Any]) -> int | None:
    """The size of the shard-sets object the status names (None: the status holds them)."""
    url = (status.get("shardSets") or {}).get("object")
    if not url:
        return None
    return int(s3.client().stat_object(out, url.removeprefix(f"s3://{out}/")).size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--shard-size", type=int, default=20)
    parser.add_argument(
        "--failing",
        type=float,
        default=0.0,
        help="fraction of the shards that fail for good, spread evenly (0.1: every tenth)",
    )
    parser.add_argument("--data", default=str(Path(os.environ.get("TMPDIR", "/tmp")) / "ocrbatch-scale"))
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "scale.json"))
    parser.add_argument(
        "--operator", nargs=3, metavar=("KUBECONFIG", "URL", "S3_ENDPOINT"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--merge-only", metavar="BUCKET", help="only the merge of an earlier run's output bucket (in --data)"
    )
    parser.add_argument(
        "--no-merge-alone",
        dest="merge_alone",
        action="store_false",
        help="skip the second merge in a child process (the operator's own merge is measured anyway)",
    )
    parser.add_argument(
        "--populate-only", action="store_true", help="only create the inputs in --data (kept for later runs)"
    )
    args = parser.parse_args(argv)
    if args.operator:
        run_operator(*args.operator)
        return 0
    if args.populate_only:
        s3 = s3_server(Path(args.data))
        s3.start()
        try:
            seconds = populate(s3, "scale-in", args.inputs, Path(args.data) / f"populated-{args.inputs}")
            print(f"created {args.inputs} inputs in {seconds:.0f} s")
        finally:
            s3.stop()
        return 0
    if args.merge_only:
        s3 = s3_server(Path(args.data))
        s3.start()
        try:
            print(json.dumps(merge_alone(s3, args.merge_only), indent=1))
        finally:
            s3.stop()
        return 0
    result = bench(args)
    print(json.dumps(result, indent=1))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
