"""The rules a kube-apiserver applies to objects, for the in-process API
(`tests/support/kube_emulator.py`): merge and JSON patches, the status subresource, CRD
structural schemas (pruning, defaults, validation with `jsonschema`), label and field
selectors, and the API's error bodies."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonpatch
import jsonschema
import kmock
import yaml


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def api_error(status: int, reason: str, message: str) -> kmock.KubernetesError:
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


def patched(
    old: Mapping[str, Any],
    patch: Any,
    content_type: str,
    subresource: str | None,
    has_status: bool,
) -> dict[str, Any]:
    """`old` with `patch` applied as a write to `subresource` would change it, before the
    schema: `/status` changes only `.status`; other writes never change the `.status` of a
    resource with that subresource; identity fields and `deletionTimestamp` are kept."""
    if "json-patch" in content_type:
        try:
            new = jsonpatch.apply_patch(old, patch)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise api_error(422, "Invalid", f"the JSON patch failed: {exc}") from None
    elif "apply-patch" in content_type:
        raise api_error(415, "UnsupportedMediaType", "server-side apply is not emulated")
    else:  # merge patch; strategic merge patch is treated as a merge patch
        if not isinstance(patch, Mapping):
            raise api_error(400, "BadRequest", "a merge patch must be an object")
        new = merge_patch(old, patch)
    if subresource == "status":
        new = (
            {**old, "status": new.get("status")}
            if "status" in new
            else {k: v for k, v in old.items() if k != "status"}
        )
    elif subresource is not None:
        raise api_error(404, "NotFound", f"subresource {subresource} is not emulated")
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
    return dict(new)


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
    fields = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "status.phase": (obj.get("status") or {}).get("phase"),
    }  # pods: the apiserver's too
    for term in _split_selector(selector or ""):
        negate = "!=" in term
        key, value = (s.strip() for s in re.split(r"!=|==|=", term, maxsplit=1))
        if key not in fields:
            raise api_error(400, "BadRequest", f"field label not supported: {key}")
        if (fields[key] == value) == negate:
            return False
    return True
