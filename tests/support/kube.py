"""An in-process Kubernetes API for tier-1 operator tests: kmock's scaffold (routing,
discovery, error bodies, the aiohttp server) with a stateful store that behaves enough like
a kube-apiserver for kopf and the official client:

* a monotonic `resourceVersion` on every write, `uid`, `generation`, `creationTimestamp`,
  `generateName`; 201 on create, 409 on a duplicate, 404 on a missing object;
* the status subresource: writes to `/status` change only `.status`; other writes never
  change `.status`; a change outside metadata/status bumps `.metadata.generation`;
* merge patch (RFC 7386, also used for strategic merge patch) and JSON patch;
* CRD schemas: unknown fields pruned, defaults applied, then validation (422 with the
  field paths) with `jsonschema`;
* label selectors (`=`, `==`, `!=`, `in`, `notin`, exists, `!`) and field selectors on
  metadata.name/namespace for lists and watches;
* watch streams: the current objects as ADDED (or the history after a `resourceVersion`),
  then live events; `timeoutSeconds`;
* finalizers and `deletionTimestamp`; owner-reference cascade on delete (background GC).

`KubeServer` runs it on 127.0.0.1 in a thread of its own, so synchronous tests (and kopf's
own thread) can use it; its helpers let a test act as the Job controller and the kubelet.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import re
import secrets
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import jsonpatch
import jsonschema
import kmock
import yaml

ResKey = tuple[str, str, str]  # (group, version, plural)
ObjKey = tuple[ResKey, str | None, str]  # (resource, namespace, name)

#: Built-in resources the operator touches: plural -> (group, version, kind, namespaced).
BUILTINS: dict[str, tuple[str, str, str, bool]] = {
    "pods": ("", "v1", "Pod", True),
    "secrets": ("", "v1", "Secret", True),
    "events": ("", "v1", "Event", True),
    "namespaces": ("", "v1", "Namespace", False),
    "serviceaccounts": ("", "v1", "ServiceAccount", True),
    "roles": ("rbac.authorization.k8s.io", "v1", "Role", True),
    "rolebindings": ("rbac.authorization.k8s.io", "v1", "RoleBinding", True),
    "jobs": ("batch", "v1", "Job", True),
    "leases": ("coordination.k8s.io", "v1", "Lease", True),
}
#: Built-ins with a status subresource.
WITH_STATUS = {"pods", "jobs"}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, reason: str, message: str) -> kmock.KubernetesError:
    return kmock.KubernetesError(
        status=status, reason=reason, message=message, details={"causes": [{"message": message}]}
    )


# ------------------------------------------------------------------ patches and schemas


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: dicts merge recursively, null deletes, everything else (lists too) replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def prune(obj: Any, schema: Mapping[str, Any], *, root: bool = True) -> Any:
    """Drop fields the structural schema does not know (as the API server does)."""
    if isinstance(obj, dict):
        if schema.get("x-kubernetes-preserve-unknown-fields") and "properties" not in schema:
            return obj
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        result = {}
        for key, value in obj.items():
            if root and key in ("apiVersion", "kind", "metadata"):
                result[key] = value
            elif props is not None and key in props:
                result[key] = prune(value, props[key], root=False)
            elif isinstance(extra, Mapping):
                result[key] = prune(value, extra, root=False)
            elif props is None or schema.get("x-kubernetes-preserve-unknown-fields"):
                result[key] = value
        return result
    if isinstance(obj, list) and isinstance(schema.get("items"), Mapping):
        return [prune(item, schema["items"], root=False) for item in obj]
    return obj


def apply_defaults(obj: Any, schema: Mapping[str, Any]) -> Any:
    """Fill `default`s of absent properties, recursively (structural-schema defaulting)."""
    if isinstance(obj, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key not in obj and "default" in sub:
                obj[key] = copy.deepcopy(sub["default"])
            if key in obj:
                obj[key] = apply_defaults(obj[key], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            for key in obj:
                if key not in (schema.get("properties") or {}):
                    obj[key] = apply_defaults(obj[key], extra)
    elif isinstance(obj, list) and isinstance(schema.get("items"), Mapping):
        return [apply_defaults(item, schema["items"]) for item in obj]
    return obj


def schema_errors(obj: Any, schema: Mapping[str, Any]) -> list[str]:
    """Messages like `spec.engine.name: Unsupported value ...`, sorted by path."""
    validator = jsonschema.Draft7Validator(schema)
    messages = []
    for err in validator.iter_errors(obj):
        path = ".".join(str(p) for p in err.absolute_path) or "<root>"
        messages.append(f"{path}: {err.message}")
    return sorted(messages)


def load_crd(path: Path | str) -> dict[str, Any]:
    return yaml.safe_load(Path(path).read_text())


def crd_schema(crd: Mapping[str, Any], version: str | None = None) -> dict[str, Any]:
    for v in crd["spec"]["versions"]:
        if version is None or v["name"] == version:
            return v["schema"]["openAPIV3Schema"]
    raise KeyError(version)


def admit(obj: dict[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """Prune, default and validate `obj` as the API server would; ValueError on violations."""
    result = apply_defaults(prune(copy.deepcopy(obj), schema), schema)
    errors = schema_errors(result, schema)
    if errors:
        raise ValueError("; ".join(errors))
    return result


# ------------------------------------------------------------------ selectors

_SET_RE = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_selector(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def label_selector_matches(selector: str | None, labels: Mapping[str, str]) -> bool:
    for term in _split_selector(selector or ""):
        if m := _SET_RE.match(term):
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            if (op == "in") != (labels.get(key) in values):
                return False
        elif "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def field_selector_matches(selector: str | None, obj: Mapping[str, Any]) -> bool:
    meta = obj.get("metadata") or {}
    fields = {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
              "status.phase": (obj.get("status") or {}).get("phase")}  # pods: the apiserver's too
    for term in _split_selector(selector or ""):
        negate = "!=" in term
        key, value = (s.strip() for s in re.split(r"!=|==|=", term, maxsplit=1))
        if key not in fields:
            raise _error(400, "BadRequest", f"field label not supported: {key}")
        if (fields[key] == value) == negate:
            return False
    return True


# ------------------------------------------------------------------ the emulator


@attrs.define(kw_only=True)
class KubeEmulator(kmock.KubernetesScaffold):
    """A stateful, strict-enough Kubernetes API (see the module docstring)."""

    store: dict[ObjKey, dict[str, Any]] = attrs.field(factory=dict, init=False)
    schemas: dict[ResKey, dict[str, Any]] = attrs.field(factory=dict, init=False)
    status_subresource: set[ResKey] = attrs.field(factory=set, init=False)
    kinds: dict[ResKey, tuple[str, bool]] = attrs.field(factory=dict, init=False)
    history: list[tuple[int, ResKey, dict[str, Any]]] = attrs.field(factory=list, init=False)
    _rv: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1000), init=False)
    _last_rv: int = attrs.field(default=999, init=False)
    _watchers: list[tuple[ResKey, asyncio.Queue[dict[str, Any]]]] = attrs.field(
        factory=list, init=False
    )

    #: kmock keeps every request it served and, to route a new one, scans them (O(n) per
    #: request): a 5,000-card e2e run spent most of its CPU there. Nothing here reads the
    #: request log, so only the recent requests are kept.
    KEEP_REQUESTS = 1000

    async def _handle(self, request: kmock.Request) -> Any:
        if len(self._requests) > 2 * self.KEEP_REQUESTS:
            del self._requests[: -self.KEEP_REQUESTS]
        return await super()._handle(request)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.fallback[kmock.action.LIST] << self._serve_list
        self.fallback[kmock.action.WATCH] << self._serve_watch
        self.fallback[kmock.action.FETCH] << self._serve_fetch
        self.fallback[kmock.action.CREATE] << self._serve_create
        self.fallback[kmock.action.UPDATE] << self._serve_patch
        self.fallback[kmock.action.DELETE] << self._serve_delete
        for plural, (group, version, kind, namespaced) in BUILTINS.items():
            self.add_resource(group, version, plural, kind, namespaced=namespaced,
                              status=plural in WITH_STATUS)

    # ---------------------------------------------------------------- declarations

    def add_resource(
        self, group: str, version: str, plural: str, kind: str, *, namespaced: bool = True,
        status: bool = False, shortnames: Iterable[str] = (),
    ) -> None:
        key = (group, version, plural)
        self.kinds[key] = (kind, namespaced)
        if status:
            self.status_subresource.add(key)
        self.resources[kmock.resource(group, version, plural)] = kmock.ResourceInfo(
            kind=kind, namespaced=namespaced, singular=kind.lower(),
            verbs={"list", "watch", "get", "create", "patch", "delete"},
            shortnames=set(shortnames), subresources={"status"} if status else set(),
        )

    def add_crd(self, crd: Mapping[str, Any]) -> None:
        """Serve a CustomResourceDefinition's versions, with its schema and subresources."""
        spec = crd["spec"]
        names = spec["names"]
        for version in spec["versions"]:
            key = (spec["group"], version["name"], names["plural"])
            self.add_resource(
                spec["group"], version["name"], names["plural"], names["kind"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                status="status" in (version.get("subresources") or {}),
                shortnames=names.get("shortNames") or (),
            )
            self.schemas[key] = version["schema"]["openAPIV3Schema"]

    # ---------------------------------------------------------------- core operations
    # All of these run in the server's event loop without awaiting, so each is atomic.

    def _next_rv(self) -> str:
        self._last_rv = next(self._rv)
        return str(self._last_rv)

    def _emit(self, res: ResKey, kind: str, obj: dict[str, Any]) -> None:
        event = {"type": kind, "object": copy.deepcopy(obj)}
        self.history.append((int(obj["metadata"]["resourceVersion"]), res, event))
        for wres, queue in self._watchers:
            if wres == res:
                queue.put_nowait(event)

    def _admit(self, res: ResKey, obj: dict[str, Any]) -> dict[str, Any]:
        schema = self.schemas.get(res)
        if schema is None:
            return obj
        try:
            return admit(obj, schema)
        except ValueError as exc:
            kind = self.kinds[res][0]
            name = obj.get("metadata", {}).get("name")
            raise _error(422, "Invalid", f'{kind} "{name}" is invalid: {exc}') from None

    def create(self, res: ResKey, namespace: str | None, body: Mapping[str, Any]) -> dict[str, Any]:
        if res not in self.kinds:
            raise kmock.KubernetesResourceNotFoundError()
        kind, namespaced = self.kinds[res]
        obj = copy.deepcopy(dict(body))
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)
        if not meta.get("name"):
            raise _error(422, "Invalid", f"{kind}: metadata.name: Required value")
        namespace = (namespace or meta.get("namespace")) if namespaced else None
        if namespaced and not namespace:
            raise _error(422, "Invalid", f"{kind}: metadata.namespace: Required value")
        key = (res, namespace, meta["name"])
        if key in self.store:
            raise _error(409, "AlreadyExists", f'{res[2]} "{meta["name"]}" already exists')
        group, version, _ = res
        obj.setdefault("apiVersion", f"{group}/{version}" if group else version)
        obj.setdefault("kind", kind)
        if res in self.status_subresource and res in self.schemas:
            obj.pop("status", None)  # a create ignores the status of a CR with /status
        obj = self._admit(res, obj)
        meta = obj["metadata"]
        if namespace:
            meta["namespace"] = namespace
        meta.update(
            uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1,
            resourceVersion=self._next_rv(),
        )
        self.store[key] = obj
        self._emit(res, "ADDED", obj)
        return copy.deepcopy(obj)

    def get(self, res: ResKey, namespace: str | None, name: str) -> dict[str, Any]:
        try:
            return copy.deepcopy(self.store[(res, namespace, name)])
        except KeyError:
            raise _error(404, "NotFound", f'{res[2]} "{name}" not found') from None

    def list(
        self, res: ResKey, namespace: str | None = None, labels: str | None = None,
        fields: str | None = None,
    ) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(obj)
            for (r, ns, _), obj in sorted(self.store.items(), key=lambda kv: str(kv[0]))
            if r == res and (namespace is None or ns == namespace)
            and label_selector_matches(labels, obj["metadata"].get("labels") or {})
            and field_selector_matches(fields, obj)
        ]

    def patch(
        self, res: ResKey, namespace: str | None, name: str, patch: Any, *,
        subresource: str | None = None, content_type: str = "application/merge-patch+json",
    ) -> dict[str, Any]:
        key = (res, namespace, name)
        if key not in self.store:
            raise _error(404, "NotFound", f'{res[2]} "{name}" not found')
        old = self.store[key]
        if "json-patch" in content_type:
            try:
                new = jsonpatch.apply_patch(old, patch)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise _error(422, "Invalid", f"the JSON patch failed: {exc}") from None
        elif "apply-patch" in content_type:
            raise _error(415, "UnsupportedMediaType", "server-side apply is not emulated")
        else:  # merge patch; strategic merge patch is treated as a merge patch
            if not isinstance(patch, Mapping):
                raise _error(400, "BadRequest", "a merge patch must be an object")
            new = merge_patch(old, patch)
        has_status = res in self.status_subresource
        if subresource == "status":
            new = {**old, "status": new.get("status")} if "status" in new else {
                k: v for k, v in old.items() if k != "status"
            }
        elif subresource is not None:
            raise _error(404, "NotFound", f"subresource {subresource} is not emulated")
        elif has_status:
            new = {k: v for k, v in new.items() if k != "status"}
            if "status" in old:
                new["status"] = old["status"]
        meta = new.setdefault("metadata", {})
        for fixed in ("uid", "creationTimestamp", "namespace", "name", "generation"):
            if fixed in old["metadata"]:
                meta[fixed] = old["metadata"][fixed]
            else:
                meta.pop(fixed, None)
        if old["metadata"].get("deletionTimestamp"):
            meta["deletionTimestamp"] = old["metadata"]["deletionTimestamp"]
        new = self._admit(res, new)
        meta = new["metadata"]
        body_changed = {k: v for k, v in new.items() if k not in ("metadata", "status")} != {
            k: v for k, v in old.items() if k not in ("metadata", "status")
        }
        if body_changed:
            meta["generation"] = int(old["metadata"].get("generation", 1)) + 1
        if new == old:
            return copy.deepcopy(old)  # a no-op write keeps the resourceVersion
        meta["resourceVersion"] = self._next_rv()
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._remove(key)
            return copy.deepcopy(new)
        self.store[key] = new
        self._emit(res, "MODIFIED", new)
        return copy.deepcopy(new)

    def delete(self, res: ResKey, namespace: str | None, name: str) -> dict[str, Any]:
        key = (res, namespace, name)
        if key not in self.store:
            raise _error(404, "NotFound", f'{res[2]} "{name}" not found')
        obj = self.store[key]
        if obj["metadata"].get("finalizers"):
            if not obj["metadata"].get("deletionTimestamp"):
                obj = copy.deepcopy(obj)
                obj["metadata"]["deletionTimestamp"] = _now()
                obj["metadata"]["resourceVersion"] = self._next_rv()
                self.store[key] = obj
                self._emit(res, "MODIFIED", obj)
            return copy.deepcopy(obj)
        return self._remove(key)

    def _remove(self, key: ObjKey) -> dict[str, Any]:
        obj = self.store.pop(key)
        obj["metadata"]["resourceVersion"] = self._next_rv()
        self._emit(key[0], "DELETED", obj)
        # Background cascade: delete every object this one owned.
        uid = obj["metadata"].get("uid")
        for child_key, child in list(self.store.items()):
            refs = child["metadata"].get("ownerReferences") or []
            if child_key in self.store and any(r.get("uid") == uid for r in refs):
                self.delete(*child_key)
        return copy.deepcopy(obj)

    # ---------------------------------------------------------------- HTTP

    @staticmethod
    def _res(request: kmock.Request) -> ResKey:
        r = request.resource
        assert r is not None
        return (r.group or "", r.version or "", r.plural or "")

    def _check_known(self, res: ResKey) -> None:
        if res not in self.kinds:
            raise kmock.KubernetesResourceNotFoundError()

    def _serve_list(self, request: kmock.Request) -> kmock.Payload:
        res = self._res(request)
        self._check_known(res)
        items = self.list(
            res, request.namespace, request.params.get("labelSelector"),
            request.params.get("fieldSelector"),
        )
        return {
            "apiVersion": f"{res[0]}/{res[1]}" if res[0] else res[1],
            "kind": f"{self.kinds[res][0]}List",
            "metadata": {"resourceVersion": str(self._last_rv)},
            "items": items,
        }

    def _serve_fetch(self, request: kmock.Request) -> kmock.Payload:
        res = self._res(request)
        self._check_known(res)
        assert request.name is not None
        return self.get(res, request.namespace, request.name)

    def _serve_create(self, request: kmock.Request) -> kmock.Payload:
        res = self._res(request)
        if not isinstance(request.data, Mapping):
            raise _error(400, "BadRequest", "the body must be a JSON object")
        obj = self.create(res, request.namespace, request.data)
        return kmock.Response(status=201, payload=obj)

    def _serve_patch(self, request: kmock.Request) -> kmock.Payload:
        res = self._res(request)
        self._check_known(res)
        assert request.name is not None
        content_type = request.headers.get("Content-Type", "application/merge-patch+json")
        return self.patch(
            res, request.namespace, request.name, request.data,
            subresource=request.subresource, content_type=content_type,
        )

    def _serve_delete(self, request: kmock.Request) -> kmock.Payload:
        res = self._res(request)
        self._check_known(res)
        assert request.name is not None
        return self.delete(res, request.namespace, request.name)

    def _serve_watch(self, request: kmock.Request) -> AsyncIterator[kmock.Payload]:
        res = self._res(request)
        self._check_known(res)
        params = request.params
        labels, fields = params.get("labelSelector"), params.get("fieldSelector")
        since = params.get("resourceVersion")
        timeout = float(params["timeoutSeconds"]) if params.get("timeoutSeconds") else None
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        entry = (res, queue)
        # Subscribe and take the snapshot atomically (no await in between).
        self._watchers.append(entry)
        if since and since != "0":
            start = int(since)
            backlog = [e for rv, r, e in self.history if r == res and rv > start]
        else:
            backlog = [{"type": "ADDED", "object": o} for o in self.list(res, request.namespace)]

        def wanted(event: Mapping[str, Any]) -> bool:
            obj = event["object"]
            ns = obj["metadata"].get("namespace")
            return (
                (request.namespace is None or ns == request.namespace)
                and label_selector_matches(labels, obj["metadata"].get("labels") or {})
                and field_selector_matches(fields, obj)
            )

        async def stream() -> AsyncIterator[kmock.Payload]:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout if timeout else None
            try:
                yield b""  # send the headers now
                for event in backlog:
                    if wanted(event):
                        yield event
                while True:
                    wait = None if deadline is None else deadline - loop.time()
                    if wait is not None and wait <= 0:
                        return
                    try:
                        event = await asyncio.wait_for(queue.get(), wait)
                    except TimeoutError:
                        return
                    if wanted(event):
                        yield event
            finally:
                self._watchers.remove(entry)

        return stream()


# ------------------------------------------------------------------ a threaded server


class KubeServer:
    """The emulator on 127.0.0.1:<free port>, in a thread with its own event loop."""

    def __init__(self, crds: Iterable[Mapping[str, Any]] = ()) -> None:
        self.api = KubeEmulator()
        for crd in crds:
            self.api.add_crd(crd)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name="kube-emulator", daemon=True)
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._url: str | None = None
        self._failure: BaseException | None = None

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # surfaced by start()
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with self.api, kmock.Server(self.api) as server:
            self._url = str(server.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()

    def start(self) -> KubeServer:
        self._thread.start()
        self._ready.wait(30)
        if self._failure or not self._url:
            raise RuntimeError(f"the Kubernetes emulator did not start: {self._failure!r}")
        return self

    def stop(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)

    def __enter__(self) -> KubeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._url is not None
        return self._url

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run `fn(*args)` in the server's loop (the store is not thread-safe) and return."""
        future: Future[Any] = Future()

        def run() -> None:
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(10)

    # ---------------------------------------------------------------- convenience

    def kubeconfig(self, path: Path) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "emulator-token"}}],
            "contexts": [
                {"name": "emulator", "context": {"cluster": "emulator", "user": "tester"}}
            ],
            "current-context": "emulator",
        }
        path.write_text(json.dumps(config))
        return path

    def create(self, res: ResKey, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.call(self.api.create, res, body.get("metadata", {}).get("namespace"), body)

    def get(self, res: ResKey, namespace: str | None, name: str) -> dict[str, Any]:
        return self.call(self.api.get, res, namespace, name)

    def find(self, res: ResKey, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            return self.get(res, namespace, name)
        except kmock.KubernetesError:
            return None

    def list(
        self, res: ResKey, namespace: str | None = None, labels: str | None = None
    ) -> list[dict[str, Any]]:
        return self.call(self.api.list, res, namespace, labels)

    def patch(
        self, res: ResKey, namespace: str | None, name: str, patch: Any,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        return self.call(self.api.patch, res, namespace, name, patch, subresource=subresource)

    def delete(self, res: ResKey, namespace: str | None, name: str) -> dict[str, Any]:
        return self.call(self.api.delete, res, namespace, name)


JOBS: ResKey = ("batch", "v1", "jobs")
PODS: ResKey = ("", "v1", "pods")
SECRETS: ResKey = ("", "v1", "secrets")
EVENTS: ResKey = ("", "v1", "events")


class JobController:
    """What a test does in place of the Job controller and the kubelet."""

    def __init__(self, server: KubeServer) -> None:
        self.server = server

    def run_pod(
        self, job: Mapping[str, Any], index: int, *, exit_code: int = 0,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """A finished pod of `job` at completion `index` (exit 137 + OOMKilled, etc.)."""
        meta = job["metadata"]
        template = job["spec"]["template"]
        name = f"{meta['name']}-{index}-{secrets.token_hex(3)}"
        pod = {
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "labels": {
                    **template["metadata"]["labels"],
                    "batch.kubernetes.io/job-completion-index": str(index),
                    "job-name": meta["name"],
                },
                "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
                "ownerReferences": [
                    {"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"],
                     "uid": meta["uid"], "controller": True}
                ],
            },
            "spec": copy.deepcopy(template["spec"]),
        }
        self.server.create(PODS, pod)
        terminated = {
            "exitCode": exit_code,
            "reason": reason or ("Completed" if exit_code == 0 else "Error"),
            "finishedAt": _now(),
        }
        status = {
            "phase": "Succeeded" if exit_code == 0 else "Failed",
            "containerStatuses": [
                {"name": "worker", "state": {"terminated": terminated}, "ready": False}
            ],
        }
        return self.server.patch(PODS, meta["namespace"], name, {"status": status}, "status")

    def set_status(self, job: Mapping[str, Any], **status: Any) -> dict[str, Any]:
        meta = job["metadata"]
        return self.server.patch(JOBS, meta["namespace"], meta["name"], {"status": status}, "status")

    def finish(
        self, job: Mapping[str, Any], *, completed: str, failed: str = "",
        reason: str | None = None,
    ) -> dict[str, Any]:
        """Mark the Job finished: Complete, or Failed (FailedIndexes unless `reason`)."""
        if failed or reason:
            cond = {"type": "Failed", "status": "True", "reason": reason or "FailedIndexes"}
        else:
            cond = {"type": "Complete", "status": "True", "reason": "CompletionsReached"}
        return self.set_status(
            job, completedIndexes=completed, failedIndexes=failed, active=0, conditions=[cond]
        )
