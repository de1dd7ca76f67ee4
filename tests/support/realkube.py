"""A real kube-apiserver (+ etcd + kube-controller-manager) for the tier-2 operator tests.

The binaries: `tests/support/realkube_binaries.py`; processes, PKI, kubeconfigs and command
lines: `tests/support/realkube_parts.py`. See docs/testing-real-apiserver.md.

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
import secrets
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.support.realkube_binaries import (
    KUBE_VERSION,
    RealKubeUnavailable,
    ensure_binaries,
    have_binaries,
)
from tests.support.realkube_parts import (
    HOST,
    Proc,
    RealKubeError,
    apiserver_argv,
    controller_manager_argv,
    etcd_argv,
    free_port,
    http_request,
    leftover_processes,
    make_pki,
    poll,
    write_kubeconfig,
    write_tokens,
)

__all__ = [
    "KUBE_VERSION",
    "RealCluster",
    "RealKubeError",
    "RealKubeUnavailable",
    "ensure_binaries",
    "have_binaries",
    "leftover_processes",
]

ADMIN_USER = "ocrbatch-admin"
CONTROLLER_MANAGER_USER = "system:kube-controller-manager"
CRD_API = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


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
        self.etcd: Proc | None = None
        self.apiserver: Proc | None = None
        self.controller_manager: Proc | None = None
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
        return write_tokens(self.base_dir / "tokens.csv", self._tokens)

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
            write_kubeconfig(self.kubeconfig_path, self.server, self.ca_path, self.admin_token, ADMIN_USER)
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
        argv = etcd_argv(etcd, data, client_url, peer_url)
        self.etcd = Proc("etcd", argv, self.logs_dir / "etcd.log")

        def healthy() -> bool:
            with urllib.request.urlopen(f"{client_url}/health", timeout=2) as resp:
                return bool(json.loads(resp.read()).get("health") == "true")

        poll("etcd /health", healthy, timeout_s, [self.etcd])

    def _start_apiserver(self, timeout_s: float) -> None:
        if not self.apiserver_port:
            self.apiserver_port = free_port()
        assert self.bin_dir is not None
        argv = apiserver_argv(self.bin_dir, self.base_dir, self.pki, self.etcd_port, self.apiserver_port)
        self.apiserver = Proc("kube-apiserver", argv, self.logs_dir / "kube-apiserver.log")
        assert self.etcd is not None
        poll(
            "kube-apiserver /readyz",
            lambda: self._get("/readyz") == "ok",
            timeout_s,
            [self.etcd, self.apiserver],
        )

    def restart_apiserver(self, timeout_s: float = 60.0) -> None:
        if self.apiserver is not None:
            self.apiserver.stop()
        self._start_apiserver(timeout_s)

    def _start_controller_manager(self, timeout_s: float) -> None:
        assert self.bin_dir is not None
        kubeconfig = write_kubeconfig(
            self.base_dir / "controller-manager.kubeconfig",
            self.server,
            self.ca_path,
            self.token_for(CONTROLLER_MANAGER_USER),
            CONTROLLER_MANAGER_USER,
        )
        port = free_port()
        argv = controller_manager_argv(self.bin_dir, self.base_dir, kubeconfig, port, self.ca_path)
        self.controller_manager = Proc(
            "kube-controller-manager", argv, self.logs_dir / "kube-controller-manager.log"
        )
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE

        def healthy() -> bool:
            with urllib.request.urlopen(f"https://{HOST}:{port}/healthz", timeout=2, context=insecure) as r:
                return r.read().decode() == "ok"

        assert self.apiserver is not None
        poll(
            "kube-controller-manager /healthz", healthy, timeout_s, [self.apiserver, self.controller_manager]
        )

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
        token = token or self.admin_token
        return http_request(
            self.server + path, method, body, token, self._ssl_context(), content_type, timeout_s
        )

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
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": expiration_s},
            },
        )
        if status != 201:
            raise RealKubeError(f"TokenRequest for {namespace}/{name}: HTTP {status}: {body}")
        return str(body["status"]["token"])

    def kubeconfig_for_token(self, token: str, name: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        return write_kubeconfig(self.base_dir / f"kubeconfig-{safe}", self.server, self.ca_path, token, name)

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
            [str(kubectl_path()), *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env(kubeconfig),
            timeout=timeout_s,
            check=False,
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
                    f"CRD {name} ({path}) refused by kube-apiserver {KUBE_VERSION}: HTTP {status}: {message}"
                )

            def established(url: str = f"{CRD_API}/{name}") -> dict[str, Any] | None:
                _, crd = self.request("GET", url)
                conditions = {c["type"]: c for c in (crd.get("status") or {}).get("conditions") or []}
                if conditions.get("Established", {}).get("status") == "True":
                    return dict(crd)
                return None

            result = poll(f"CRD {name} Established", established, timeout_s)
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
        return poll(what, probe, timeout_s, [p for p in (self.etcd, self.apiserver) if p], interval)
