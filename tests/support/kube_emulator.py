"""An in-process Kubernetes API for the operator and end-to-end tests: kmock's scaffold
(routing, discovery, error bodies, the aiohttp server) with a stateful store that behaves
enough like a kube-apiserver for kopf and the official client:

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

The rules on single objects (patches, schemas, selectors) are in
`tests/support/kube_rules.py`; `tests/support/kube.py` runs the emulator in a thread.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import secrets
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import attrs
import kmock

from tests.support.kube_rules import (
    admit,
    api_error,
    field_selector_matches,
    label_selector_matches,
    now,
    patched,
)

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
    _watchers: list[tuple[ResKey, asyncio.Queue[dict[str, Any]]]] = attrs.field(factory=list, init=False)

    #: kmock keeps every request it served and, to route a new one, asks each reaction
    #: whether the request is among those its filter sees: a scan of the whole log per
    #: reaction (6 here), so the cost of a request grew with the log (with 1,000 kept, a
    #: 40-card e2e run spent two thirds of the harness's CPU there). Nothing here reads the
    #: log, and routing runs before the first await after the request is logged, so the log
    #: keeps only the request being routed.
    KEEP_REQUESTS = 1

    async def _handle(self, request: kmock.Request) -> Any:
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
            self.add_resource(
                group, version, plural, kind, namespaced=namespaced, status=plural in WITH_STATUS
            )

    # ---------------------------------------------------------------- declarations

    def add_resource(
        self,
        group: str,
        version: str,
        plural: str,
        kind: str,
        *,
        namespaced: bool = True,
        status: bool = False,
        shortnames: Iterable[str] = (),
    ) -> None:
        key = (group, version, plural)
        self.kinds[key] = (kind, namespaced)
        if status:
            self.status_subresource.add(key)
        self.resources[kmock.resource(group, version, plural)] = kmock.ResourceInfo(
            kind=kind,
            namespaced=namespaced,
            singular=kind.lower(),
            verbs={"list", "watch", "get", "create", "patch", "delete"},
            shortnames=set(shortnames),
            subresources={"status"} if status else set(),
        )

    def add_crd(self, crd: Mapping[str, Any]) -> None:
        """Serve a CustomResourceDefinition's versions, with its schema and subresources."""
        spec = crd["spec"]
        names = spec["names"]
        for version in spec["versions"]:
            key = (spec["group"], version["name"], names["plural"])
            self.add_resource(
                spec["group"],
                version["name"],
                names["plural"],
                names["kind"],
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
            raise api_error(422, "Invalid", f'{kind} "{name}" is invalid: {exc}') from None

    def create(self, res: ResKey, namespace: str | None, body: Mapping[str, Any]) -> dict[str, Any]:
        if res not in self.kinds:
            raise kmock.KubernetesResourceNotFoundError()
        kind, namespaced = self.kinds[res]
        obj = copy.deepcopy(dict(body))
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)
        if not meta.get("name"):
            raise api_error(422, "Invalid", f"{kind}: metadata.name: Required value")
        namespace = (namespace or meta.get("namespace")) if namespaced else None
        if namespaced and not namespace:
            raise api_error(422, "Invalid", f"{kind}: metadata.namespace: Required value")
        key = (res, namespace, meta["name"])
        if key in self.store:
            raise api_error(409, "AlreadyExists", f'{res[2]} "{meta["name"]}" already exists')
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
            uid=str(uuid.uuid4()),
            creationTimestamp=now(),
            generation=1,
            resourceVersion=self._next_rv(),
        )
        self.store[key] = obj
        self._emit(res, "ADDED", obj)
        return copy.deepcopy(obj)

    def get(self, res: ResKey, namespace: str | None, name: str) -> dict[str, Any]:
        try:
            return copy.deepcopy(self.store[(res, namespace, name)])
        except KeyError:
            raise api_error(404, "NotFound", f'{res[2]} "{name}" not found') from None

    def list(
        self,
        res: ResKey,
        namespace: str | None = None,
        labels: str | None = None,
        fields: str | None = None,
    ) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(obj)
            for (r, ns, _), obj in sorted(self.store.items(), key=lambda kv: str(kv[0]))
            if r == res
            and (namespace is None or ns == namespace)
            and label_selector_matches(labels, obj["metadata"].get("labels") or {})
            and field_selector_matches(fields, obj)
        ]

    def patch(
        self,
        res: ResKey,
        namespace: str | None,
        name: str,
        patch: Any,
        *,
        subresource: str | None = None,
        content_type: str = "application/merge-patch+json",
    ) -> dict[str, Any]:
        key = (res, namespace, name)
        if key not in self.store:
            raise api_error(404, "NotFound", f'{res[2]} "{name}" not found')
        old = self.store[key]
        has_status = res in self.status_subresource
        new = self._admit(res, patched(old, patch, content_type, subresource, has_status))
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
            raise api_error(404, "NotFound", f'{res[2]} "{name}" not found')
        obj = self.store[key]
        if obj["metadata"].get("finalizers"):
            if not obj["metadata"].get("deletionTimestamp"):
                obj = copy.deepcopy(obj)
                obj["metadata"]["deletionTimestamp"] = now()
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
            res,
            request.namespace,
            request.params.get("labelSelector"),
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
            raise api_error(400, "BadRequest", "the body must be a JSON object")
        obj = self.create(res, request.namespace, request.data)
        return kmock.Response(status=201, payload=obj)

    def _serve_patch(self, request: kmock.Request) -> kmock.Payload:
        res = self._res(request)
        self._check_known(res)
        assert request.name is not None
        content_type = request.headers.get("Content-Type", "application/merge-patch+json")
        return self.patch(
            res,
            request.namespace,
            request.name,
            request.data,
            subresource=request.subresource,
            content_type=content_type,
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
