"""The parts of the real-apiserver tier (`tests/support/realkube.py`): child processes in
sessions of their own, the PKI made with `openssl`, kubeconfigs, polling with the
components' liveness checked, and the command lines of the three components."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import yaml

from tests.support import started

HOST = "127.0.0.1"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
#: Controllers the tier runs: owner-reference GC, and namespace deletion.
CONTROLLERS = "garbagecollector,namespace"


class RealKubeError(RuntimeError):
    """A component failed to start or to answer."""


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(
        ["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60
    )
    if proc.returncode != 0:
        raise RealKubeError(f"openssl {' '.join(args[:2])} failed: {proc.stderr.strip()[-800:]}")


def make_pki(directory: Path) -> dict[str, Path]:
    """A CA, the apiserver's serving cert (127.0.0.1/localhost) and the service-account key
    pair, with the `openssl` CLI. Returns the paths by role."""
    directory.mkdir(parents=True, exist_ok=True)
    ext = directory / "serving.ext"
    ext.write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
        "DNS:kubernetes.default.svc\n"
    )
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=ocrbatch-test-ca",
        cwd=directory,
    )
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "apiserver.key",
        "-out",
        "apiserver.csr",
        "-subj",
        "/CN=kube-apiserver",
        cwd=directory,
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        "apiserver.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "apiserver.crt",
        "-days",
        "2",
        "-extfile",
        ext.name,
        cwd=directory,
    )
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=directory)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=directory)
    return {
        "ca": directory / "ca.crt",
        "serving_cert": directory / "apiserver.crt",
        "serving_key": directory / "apiserver.key",
        "sa_key": directory / "sa.key",
        "sa_pub": directory / "sa.pub",
    }


def write_kubeconfig(path: Path, server: str, ca: Path, token: str, user: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "realkube", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "realkube", "context": {"cluster": "realkube", "user": user}}],
        "current-context": "realkube",
        "preferences": {},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


class Proc:
    """One child process in its own session (so its whole group can be signalled)."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None):
        self.name = name
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("ab")
        self.popen = subprocess.Popen(
            list(argv),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=dict(env) if env is not None else None,
        )
        started.remember(self.popen.pid)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            raise RealKubeError(
                f"{self.name} exited with {self.popen.returncode}; {self.log_path}:\n{tail(self.log_path)}"
            )

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(timeout=timeout_s)
        else:  # reap, and still clear any child left in its group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        self._log.close()


def poll(what: str, probe: Any, timeout_s: float, procs: Iterable[Proc] = (), interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        for proc in procs:
            proc.check_alive()
        try:
            result = probe()
        except Exception as exc:
            last = exc
        else:
            if result:
                return result
            last = result
        time.sleep(interval)
    raise RealKubeError(f"timed out after {timeout_s:.0f}s waiting for {what} (last: {last!r})")


def etcd_argv(etcd: str, data: Path, client_url: str, peer_url: str) -> list[str]:
    return [
        etcd, "--name", "realkube", "--data-dir", str(data),
        "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
        "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
        "--initial-cluster", f"realkube={peer_url}", "--initial-cluster-state", "new",
        "--logger", "zap", "--log-level", "warn", "--quota-backend-bytes", str(1 << 30),
    ]  # fmt: skip


def apiserver_argv(
    bin_dir: Path, base_dir: Path, pki: Mapping[str, Path], etcd_port: int, port: int
) -> list[str]:
    p = pki
    return [
        str(bin_dir / "kube-apiserver"),
        f"--etcd-servers=http://{HOST}:{etcd_port}",
        f"--bind-address={HOST}",
        f"--advertise-address={HOST}",
        f"--secure-port={port}",
        "--insecure-port=0",
        f"--tls-cert-file={p['serving_cert']}",
        f"--tls-private-key-file={p['serving_key']}",
        f"--client-ca-file={p['ca']}",
        f"--cert-dir={base_dir / 'apiserver-certs'}",
        f"--token-auth-file={base_dir / 'tokens.csv'}",
        "--authorization-mode=RBAC",
        "--anonymous-auth=false",
        f"--service-account-key-file={p['sa_pub']}",
        f"--service-account-signing-key-file={p['sa_key']}",
        f"--service-account-issuer={SA_ISSUER}",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--endpoint-reconciler-type=none",
        "--allow-privileged=false",
        "--profiling=false",
        "--event-ttl=1h",
        "--v=1",
    ]


def controller_manager_argv(
    bin_dir: Path, base_dir: Path, kubeconfig: Path, port: int, ca: Path
) -> list[str]:
    return [
        str(bin_dir / "kube-controller-manager"),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--controllers={CONTROLLERS}",
        "--use-service-account-credentials=false",
        "--leader-elect=false",
        "--port=0",
        f"--bind-address={HOST}",
        f"--secure-port={port}",
        f"--cert-dir={base_dir / 'controller-manager-certs'}",
        f"--root-ca-file={ca}",
        "--concurrent-gc-syncs=5",
        "--v=1",
    ]


def write_tokens(path: Path, tokens: Mapping[str, tuple[str, Sequence[str]]]) -> Path:
    """The apiserver's `--token-auth-file`: user name -> (token, groups)."""
    lines = []
    for i, (user, (token, groups)) in enumerate(sorted(tokens.items())):
        group_field = f',"{",".join(groups)}"' if groups else ""
        lines.append(f"{token},{user},uid-{i}{group_field}")
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def http_request(
    url: str,
    method: str,
    body: Any,
    token: str,
    context: ssl.SSLContext,
    content_type: str = "application/json",
    timeout_s: float = 10.0,
) -> tuple[int, Any]:
    """One API call with a bearer token; (status, decoded body), never raising on an HTTP
    error status."""
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s, context=context) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def leftover_processes(pids: Iterable[int]) -> Iterator[int]:
    """The PIDs of `pids` still alive (zombies of other parents count as alive)."""
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        except PermissionError:
            pass
        yield pid
