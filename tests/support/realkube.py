"""A real kube-apiserver (+ etcd + kube-controller-manager) for the tier-2 operator tests.

The binaries are Kubernetes 1.20.2 built from Debian's `kubernetes` source package by
`scripts/build-kube.sh` into `${OCRBATCH_CACHE:-~/.cache/ocrbatch}/kube-1.20.2/bin` (once
per machine, ~11 minutes on 2 cores); etcd is Debian's `etcd-server`. See
docs/testing-real-apiserver.md.

    bin_dir = ensure_binaries()                 # builds on first use; RealKubeUnavailable if it can't
    cluster = RealCluster(tmp_path / "kube", crds=[Path("crds/ocrbatches.yaml")])
    cluster.start()                             # etcd, kube-apiserver, CRDs, controller-manager
    api = cluster.api_client()                  # official `kubernetes` client, as cluster-admin
    cluster.kubectl("get", "ocrbatches", "-n", "default")
    token = cluster.service_account_token("ns", "sa")   # a real SA token (TokenRequest API)
    cluster.stop()                              # every process, by PID

Everything listens on 127.0.0.1 on free ports, all state lives under `base_dir`. Clients
authenticate with static bearer tokens (`--token-auth-file`); authorization is RBAC.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import yaml

from tests.support import started

KUBE_VERSION = "1.20.2"
HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build-kube.sh"
#: Debian packages the tier needs at run time (the build needs golang-go, dpkg-dev and
#: golang-github-modern-go-reflect2-dev too; scripts/build-kube.sh installs them all).
APT_PACKAGES = ("etcd-server", "openssl")
ADMIN_USER = "ocrbatch-admin"
CONTROLLER_MANAGER_USER = "system:kube-controller-manager"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
#: Controllers the tier runs: owner-reference GC, and namespace deletion.
CONTROLLERS = "garbagecollector,namespace"


class RealKubeUnavailable(RuntimeError):
    """The binaries are not there and cannot be built here (the message says why)."""


class RealKubeError(RuntimeError):
    """A component failed to start or to answer."""


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


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


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
                ["bash", *args], stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise RealKubeUnavailable(f"build timed out after {timeout_s:.0f}s; log {log_path}") from exc
    if proc.returncode != 0 or not _have_binaries(bin_dir):
        raise RealKubeUnavailable(
            f"scripts/build-kube.sh failed (exit {proc.returncode}) after "
            f"{time.monotonic() - started:.0f}s; log {log_path}:\n{_tail(log_path)}"
        )
    for tool in ("etcd", "openssl"):
        if shutil.which(tool) is None:
            raise RealKubeUnavailable(f"{tool} still missing after installing {APT_PACKAGES}")
    return bin_dir


# ---------------------------------------------------------------------- helpers

CRD_API = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


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
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
             "-days", "2", "-subj", "/CN=ocrbatch-test-ca", cwd=directory)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "apiserver.key", "-out",
             "apiserver.csr", "-subj", "/CN=kube-apiserver", cwd=directory)
    _openssl("x509", "-req", "-in", "apiserver.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "apiserver.crt", "-days", "2", "-extfile", ext.name,
             cwd=directory)
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


class _Proc:
    """One child process in its own session (so its whole group can be signalled)."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None):
        self.name = name
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("ab")
        self.popen = subprocess.Popen(
            list(argv), stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=dict(env) if env is not None else None,
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
                f"{self.name} exited with {self.popen.returncode}; {self.log_path}:\n"
                f"{_tail(self.log_path)}"
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


def _wait(what: str, probe: Any, timeout_s: float, procs: Iterable[_Proc] = (), interval: float = 0.2) -> Any:
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


_LIVE: weakref.WeakSet[RealCluster] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:  # last resort: a crashed test run still leaves no process behind
    for cluster in list(_LIVE):
        with contextlib.suppress(Exception):
            cluster.stop()


# ---------------------------------------------------------------------- the cluster


class RealCluster:
    """etcd + kube-apiserver (+ kube-controller-manager) under `base_dir`, on 127.0.0.1.

    `crds`: manifests applied (and waited Established) before the controller-manager starts,
    so its garbage collector watches them from its first discovery.
    `users`: extra static-token users, name -> groups (see `make_token_user`).
    """

    def __init__(
        self,
        base_dir: Path | str,
        *,
        crds: Sequence[Path] = (),
        users: Mapping[str, Sequence[str]] | None = None,
        controller_manager: bool = True,
        bin_dir: Path | None = None,
    ) -> None:
        self.base_dir = Path(base_dir)
        self.crds = list(crds)
        self.with_controller_manager = controller_manager
        self.bin_dir = bin_dir
        self.admin_token = secrets.token_urlsafe(24)
        self._tokens: dict[str, tuple[str, tuple[str, ...]]] = {
            ADMIN_USER: (self.admin_token, ("system:masters",)),
            CONTROLLER_MANAGER_USER: (secrets.token_urlsafe(24), ("system:masters",)),
        }
        for name, groups in (users or {}).items():
            self._tokens[name] = (secrets.token_urlsafe(24), tuple(groups))
        self.etcd: _Proc | None = None
        self.apiserver: _Proc | None = None
        self.controller_manager: _Proc | None = None
        self.apiserver_port = 0
        self.etcd_port = 0
        self.pki: dict[str, Path] = {}
        self.startup_seconds: float | None = None

    # ------------------------------------------------------------------ paths & identity

    @property
    def server(self) -> str:
        return f"https://{HOST}:{self.apiserver_port}"

    @property
    def kubeconfig_path(self) -> Path:
        return self.base_dir / "kubeconfig"

    @property
    def ca_path(self) -> Path:
        return self.pki["ca"]

    @property
    def logs_dir(self) -> Path:
        return self.base_dir / "logs"

    @property
    def running(self) -> bool:
        return self.apiserver is not None and self.apiserver.alive()

    def pids(self) -> dict[str, int]:
        return {
            p.name: p.pid
            for p in (self.etcd, self.apiserver, self.controller_manager)
            if p is not None and p.alive()
        }

    def token_for(self, user: str) -> str:
        return self._tokens[user][0]

    def make_token_user(self, name: str, groups: Sequence[str] = ()) -> str:
        """A static-token user `name` in `groups`; returns its bearer token. E.g.
        `make_token_user("system:serviceaccount:ns:sa", ["system:serviceaccounts",
        "system:serviceaccounts:ns"])` acts as that ServiceAccount for RBAC. The apiserver
        reads the token file at start only: on a running cluster it is restarted (etcd keeps
        the data; a few seconds)."""
        if name in self._tokens and tuple(groups) == self._tokens[name][1]:
            return self._tokens[name][0]
        token = secrets.token_urlsafe(24)
        self._tokens[name] = (token, tuple(groups))
        if self.running:
            self._write_tokens()
            self.restart_apiserver()
        return token

    def _write_tokens(self) -> Path:
        path = self.base_dir / "tokens.csv"
        lines = []
        for i, (user, (token, groups)) in enumerate(sorted(self._tokens.items())):
            group_field = f',"{",".join(groups)}"' if groups else ""
            lines.append(f"{token},{user},uid-{i}{group_field}")
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        return path

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout_s: float = 60.0) -> RealCluster:
        if self.running:
            return self
        t0 = time.monotonic()
        bin_dir = self.bin_dir or ensure_binaries()
        self.bin_dir = bin_dir
        etcd = shutil.which("etcd")
        if etcd is None:
            raise RealKubeUnavailable("etcd not found (apt-get install etcd-server)")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(exist_ok=True)
        _LIVE.add(self)
        try:
            self.pki = make_pki(self.base_dir / "pki")
            self._start_etcd(etcd, timeout_s)
            self._write_tokens()
            self._start_apiserver(timeout_s)
            write_kubeconfig(
                self.kubeconfig_path, self.server, self.ca_path, self.admin_token, ADMIN_USER
            )
            for crd in self.crds:
                self.apply_crd(crd)
            if self.with_controller_manager:
                self._start_controller_manager(timeout_s)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def _start_etcd(self, etcd: str, timeout_s: float) -> None:
        self.etcd_port, peer = free_port(), free_port()
        client_url, peer_url = f"http://{HOST}:{self.etcd_port}", f"http://{HOST}:{peer}"
        data = self.base_dir / "etcd"
        argv = [
            etcd, "--name", "realkube", "--data-dir", str(data),
            "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"realkube={peer_url}", "--initial-cluster-state", "new",
            "--logger", "zap", "--log-level", "warn", "--quota-backend-bytes", str(1 << 30),
        ]
        self.etcd = _Proc("etcd", argv, self.logs_dir / "etcd.log")

        def healthy() -> bool:
            with urllib.request.urlopen(f"{client_url}/health", timeout=2) as resp:
                return bool(json.loads(resp.read()).get("health") == "true")

        _wait("etcd /health", healthy, timeout_s, [self.etcd])

    def _apiserver_argv(self) -> list[str]:
        assert self.bin_dir is not None
        p = self.pki
        return [
            str(self.bin_dir / "kube-apiserver"),
            f"--etcd-servers=http://{HOST}:{self.etcd_port}",
            f"--bind-address={HOST}",
            f"--advertise-address={HOST}",
            f"--secure-port={self.apiserver_port}",
            "--insecure-port=0",
            f"--tls-cert-file={p['serving_cert']}",
            f"--tls-private-key-file={p['serving_key']}",
            f"--client-ca-file={p['ca']}",
            f"--cert-dir={self.base_dir / 'apiserver-certs'}",
            f"--token-auth-file={self.base_dir / 'tokens.csv'}",
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

    def _start_apiserver(self, timeout_s: float) -> None:
        if not self.apiserver_port:
            self.apiserver_port = free_port()
        self.apiserver = _Proc(
            "kube-apiserver", self._apiserver_argv(), self.logs_dir / "kube-apiserver.log"
        )
        assert self.etcd is not None
        _wait("kube-apiserver /readyz", lambda: self._get("/readyz") == "ok", timeout_s,
              [self.etcd, self.apiserver])

    def restart_apiserver(self, timeout_s: float = 60.0) -> None:
        if self.apiserver is not None:
            self.apiserver.stop()
        self._start_apiserver(timeout_s)

    def _start_controller_manager(self, timeout_s: float) -> None:
        assert self.bin_dir is not None
        kubeconfig = write_kubeconfig(
            self.base_dir / "controller-manager.kubeconfig", self.server, self.ca_path,
            self.token_for(CONTROLLER_MANAGER_USER), CONTROLLER_MANAGER_USER,
        )
        port = free_port()
        argv = [
            str(self.bin_dir / "kube-controller-manager"),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            f"--controllers={CONTROLLERS}",
            "--use-service-account-credentials=false",
            "--leader-elect=false",
            "--port=0",
            f"--bind-address={HOST}",
            f"--secure-port={port}",
            f"--cert-dir={self.base_dir / 'controller-manager-certs'}",
            f"--root-ca-file={self.ca_path}",
            "--concurrent-gc-syncs=5",
            "--v=1",
        ]
        self.controller_manager = _Proc(
            "kube-controller-manager", argv, self.logs_dir / "kube-controller-manager.log"
        )
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE

        def healthy() -> bool:
            with urllib.request.urlopen(f"https://{HOST}:{port}/healthz", timeout=2, context=insecure) as r:
                return r.read().decode() == "ok"

        assert self.apiserver is not None
        _wait("kube-controller-manager /healthz", healthy, timeout_s,
              [self.apiserver, self.controller_manager])

    def stop(self) -> None:
        """Stop every process by PID (controller-manager, apiserver, then etcd)."""
        for proc in (self.controller_manager, self.apiserver, self.etcd):
            if proc is not None:
                with contextlib.suppress(Exception):
                    proc.stop()
        self.controller_manager = self.apiserver = self.etcd = None
        _LIVE.discard(self)

    def __enter__(self) -> RealCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ raw HTTP

    def _ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_path))

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        content_type: str = "application/json",
        timeout_s: float = 10.0,
    ) -> tuple[int, Any]:
        """One API call with a bearer token (admin by default); returns (status, decoded body)
        and never raises on an HTTP error status."""
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {token or self.admin_token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=timeout_s, context=self._ssl_context()) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def _get(self, path: str) -> str:
        req = urllib.request.Request(self.server + path)
        req.add_header("Authorization", f"Bearer {self.admin_token}")
        with urllib.request.urlopen(req, timeout=3, context=self._ssl_context()) as resp:
            return str(resp.read().decode())

    def server_version(self) -> dict[str, str]:
        status, body = self.request("GET", "/version")
        if status != 200:
            raise RealKubeError(f"/version: HTTP {status}: {body}")
        return dict(body)

    # ------------------------------------------------------------------ clients

    def api_client(self, token: str | None = None) -> Any:
        """An official `kubernetes.client.ApiClient` for this cluster: cluster-admin, or the
        identity of `token` (a static token or a ServiceAccount token)."""
        from kubernetes import client as k8s

        configuration = k8s.Configuration()
        configuration.host = self.server
        configuration.ssl_ca_cert = str(self.ca_path)
        configuration.verify_ssl = True
        configuration.api_key = {"authorization": token or self.admin_token}
        configuration.api_key_prefix = {"authorization": "Bearer"}
        return k8s.ApiClient(configuration)

    def service_account_token(self, namespace: str, name: str, expiration_s: int = 3600) -> str:
        """A real ServiceAccount token from the TokenRequest API (the SA must exist)."""
        status, body = self.request(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
             "spec": {"expirationSeconds": expiration_s}},
        )
        if status != 201:
            raise RealKubeError(f"TokenRequest for {namespace}/{name}: HTTP {status}: {body}")
        return str(body["status"]["token"])

    def kubeconfig_for_token(self, token: str, name: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        return write_kubeconfig(
            self.base_dir / f"kubeconfig-{safe}", self.server, self.ca_path, token, name
        )

    def env(self, kubeconfig: Path | None = None) -> dict[str, str]:
        """A copy of os.environ with KUBECONFIG pointing at this cluster."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(kubeconfig or self.kubeconfig_path)
        return env

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        kubeconfig: Path | None = None,
        timeout_s: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl (v1.35.2 from tests/support/k8s_tools.py) against this cluster."""
        from tests.support.k8s_tools import kubectl_path

        proc = subprocess.run(
            [str(kubectl_path()), *args], input=input, capture_output=True, text=True,
            env=self.env(kubeconfig), timeout=timeout_s, check=False,
        )
        if check and proc.returncode != 0:
            raise RealKubeError(
                f"kubectl {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}{proc.stdout}"
            )
        return proc

    # ------------------------------------------------------------------ resources

    def apply_crd(self, path: Path, timeout_s: float = 30.0) -> dict[str, Any]:
        """Create (or replace) the CRD(s) in `path` and wait until each is Established.
        Raises RealKubeError with the apiserver's message when it refuses one."""
        result: dict[str, Any] = {}
        for doc in yaml.safe_load_all(Path(path).read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            name = doc["metadata"]["name"]
            status, body = self._put_crd(doc)
            if status not in (200, 201):
                message = body.get("message") if isinstance(body, dict) else body
                raise RealKubeError(
                    f"CRD {name} ({path}) refused by kube-apiserver {KUBE_VERSION}: "
                    f"HTTP {status}: {message}"
                )

            def established(url: str = f"{CRD_API}/{name}") -> dict[str, Any] | None:
                _, crd = self.request("GET", url)
                conditions = {c["type"]: c for c in (crd.get("status") or {}).get("conditions") or []}
                if conditions.get("Established", {}).get("status") == "True":
                    return dict(crd)
                return None

            result = _wait(f"CRD {name} Established", established, timeout_s)
        return result

    def _put_crd(self, doc: dict[str, Any]) -> tuple[int, Any]:
        name = doc["metadata"]["name"]
        status, body = self.request("POST", CRD_API, doc)
        if status == 409:
            _, current = self.request("GET", f"{CRD_API}/{name}")
            doc = copy.deepcopy(doc)
            doc["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            status, body = self.request("PUT", f"{CRD_API}/{name}", doc)
        return status, body

    def create_namespace(self, name: str) -> None:
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        status, body = self.request("POST", "/api/v1/namespaces", namespace)
        if status not in (201, 409):
            raise RealKubeError(f"namespace {name}: HTTP {status}: {body}")

    def wait_for(self, what: str, probe: Any, timeout_s: float = 30.0, interval: float = 0.25) -> Any:
        """Poll `probe()` until it returns something truthy (exceptions count as not yet)."""
        return _wait(what, probe, timeout_s, [p for p in (self.etcd, self.apiserver) if p], interval)


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
