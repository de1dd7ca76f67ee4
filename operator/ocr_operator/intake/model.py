"""OcrIntake: the spec as typed values and the pure decisions of a poll (see docs/intake.md).

Nothing here does I/O: batch names, folder names, readiness, the claim record, the batch a
folder gets, which objects of a finished folder are moved and which arrived late, and the
status counts. `reconcile.py` does the I/O around these.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from ocr_operator.batch.model import OutputSpec, SourceSpec, SpecModel
from ocr_operator.kube import (
    API_VERSION,
    GROUP,
    INTAKE_KIND,
    KIND,
    LABEL_INTAKE,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    MANAGER,
)

ANNOTATION_FOLDER = f"{GROUP}/intake-folder"

#: Marker objects the intake writes in a folder (top level of the folder).
CLAIM_MARKER = "_CLAIMED"
CLAIM_KEYS = "_CLAIMED.keys"
DONE_MARKER = "_DONE"
DEFAULT_READY_MARKER = "_READY"

#: A Kubernetes object name that is also a valid label value.
MAX_NAME = 63
HASH_LEN = 8

_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_DASHES = re.compile(r"-{2,}")


class IntakeSource(SourceSpec):
    """An OcrBatch source (the same contract), read as a folder of drop folders."""

    @property
    def base(self) -> str:
        """The prefix as a key prefix: "" or "a/b/" (one trailing slash)."""
        clean = "/".join(p for p in self.prefix.split("/") if p)
        return f"{clean}/" if clean else ""


class Readiness(SpecModel):
    mode: Literal["marker", "quiet"] = "marker"
    marker: str = Field(default=DEFAULT_READY_MARKER, min_length=1, pattern=r"^[^/]+$")
    quiet_seconds: int = Field(default=300, ge=1)


class OnSuccess(SpecModel):
    action: Literal["archive", "keep", "delete"] = "keep"
    archive_prefix: str | None = None

    @model_validator(mode="after")
    def _archive_needs_prefix(self) -> OnSuccess:
        if self.action == "archive" and not (self.archive_prefix or "").strip("/"):
            raise ValueError("onSuccess.archivePrefix is required when action is archive")
        return self

    @property
    def archive_base(self) -> str:
        clean = "/".join(p for p in (self.archive_prefix or "").split("/") if p)
        return f"{clean}/" if clean else ""


class BatchTemplate(SpecModel):
    """The OcrBatch spec minus its source; kept as the raw mapping for the batch."""

    output: OutputSpec
    raw: dict[str, Any] = Field(default_factory=dict, exclude=True)


class IntakeSpec(SpecModel):
    source: IntakeSource
    readiness: Readiness = Readiness()
    poll_interval_seconds: int = Field(default=60, ge=1)
    batch_template: BatchTemplate
    on_success: OnSuccess = OnSuccess()
    max_concurrent_batches: int = Field(default=4, ge=1)
    suspend: bool = False

    @classmethod
    def parse(cls, spec: Mapping[str, Any]) -> IntakeSpec:
        data = dict(spec)
        template = dict(data.get("batchTemplate") or {})
        data["batchTemplate"] = {**template, "raw": template}
        parsed = cls.model_validate(data)
        source_base = parsed.source.base
        archive = parsed.on_success.archive_base
        if archive and source_base and archive.startswith(source_base):
            first = archive[len(source_base) :].split("/", 1)[0]
            if not is_reserved_folder(first):
                raise ValueError(
                    "onSuccess.archivePrefix lies inside source.prefix: start its folder with"
                    " '_' (ignored by the intake) or put it elsewhere"
                )
        return parsed

    @property
    def reserved_names(self) -> frozenset[str]:
        """Top-level names in a folder that are markers, not inputs."""
        return frozenset({CLAIM_MARKER, CLAIM_KEYS, DONE_MARKER, self.readiness.marker})


# --------------------------------------------------------------------------- names


def _short_hash(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:HASH_LEN]


def dns_label(text: str, *, hash_of: Sequence[str] | None = None, limit: int = MAX_NAME) -> str:
    """`text` as a lowercase RFC 1123 label of at most `limit` characters.

    Unchanged when it already is one; otherwise sanitised (runs of other characters become
    one '-') and suffixed with a short hash of the original (`hash_of`, default `text`), so
    two different inputs never share a name by sanitising alike.
    """
    if len(text) <= limit and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", text):
        return text
    digest = _short_hash(*(hash_of or (text,)))
    stem = _DASHES.sub("-", _NOT_DNS.sub("-", text.lower())).strip("-")
    stem = stem[: limit - HASH_LEN - 1].rstrip("-")
    return f"{stem}-{digest}" if stem else f"x-{digest}"


def batch_name(intake: str, folder: str) -> str:
    """The OcrBatch of `folder`: `<intake>-<folder>`, sanitised, deterministic, ≤ 63."""
    return dns_label(f"{intake}-{folder}", hash_of=(intake, folder))


def label_value(name: str) -> str:
    """A label value for an object name (names may be longer than 63)."""
    if len(name) <= MAX_NAME:
        return name
    return dns_label(name)


def is_reserved_folder(name: str) -> bool:
    """Folders the intake never takes: `_archive`, `.hidden`, empty."""
    return not name or name.startswith(("_", "."))


def folder_of(common_prefix: str, base: str) -> str | None:
    """`base/<folder>/` → `<folder>`; None when it is not a takeable folder."""
    if not common_prefix.startswith(base) or not common_prefix.endswith("/"):
        return None
    name = common_prefix[len(base) : -1]
    if "/" in name or is_reserved_folder(name):
        return None
    return name


def ancestors(base: str) -> list[str]:
    """The folders above a folder under `base`: "a/b/" → ["a/b/", "a/", ""]? No root: the
    bucket root is no folder. Returns ["a/b/", "a/"]."""
    parts = [p for p in base.split("/") if p]
    return ["/".join(parts[:i]) + "/" for i in range(len(parts), 0, -1)]


# --------------------------------------------------------------------------- listing


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One object of a folder; `key` is relative to the folder."""

    key: str
    size: int = 0
    etag: str = ""
    modified: float = 0.0  # epoch seconds (the server's clock)


def fingerprint(objects: Iterable[ObjectInfo], reserved: frozenset[str] = frozenset()) -> str:
    """A digest of a folder's listing (keys, sizes, ETags, times), markers excluded: any
    upload, overwrite or delete changes it."""
    digest = hashlib.sha256()
    for obj in sorted(objects, key=lambda o: o.key):
        if obj.key in reserved:
            continue
        digest.update(f"{obj.key}\0{obj.size}\0{obj.etag}\0{obj.modified:.3f}\n".encode())
    return digest.hexdigest()[:32]


def keys_hash(keys: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for key in sorted(keys):
        digest.update(key.encode() + b"\n")
    return digest.hexdigest()


def inputs_of(objects: Iterable[ObjectInfo], reserved: frozenset[str]) -> list[ObjectInfo]:
    return sorted((o for o in objects if o.key not in reserved), key=lambda o: o.key)


def foreign_claims_below(objects: Iterable[ObjectInfo]) -> list[str]:
    """Sub-folders (relative) that hold a claim marker: another intake took them."""
    return sorted(
        o.key[: -len(CLAIM_MARKER)]
        for o in objects
        if "/" in o.key and o.key.rsplit("/", 1)[1] == CLAIM_MARKER
    )


# --------------------------------------------------------------------------- readiness


@dataclass(frozen=True, slots=True)
class QuietDecision:
    ready: bool
    fingerprint: str
    since: datetime
    message: str


def quiet_readiness(
    *,
    current: str,
    previous: str | None,
    since: datetime | None,
    now: datetime,
    quiet_seconds: int,
    empty: bool,
) -> QuietDecision:
    """Quiet mode: ready once the listing fingerprint has not changed for `quiet_seconds`
    (by the operator's clock, remembered in the status across polls and restarts).

    An empty folder is never ready; a changed fingerprint restarts the clock.
    """
    if previous != current or since is None:
        return QuietDecision(False, current, now, "objects are still arriving")
    waited = (now - since).total_seconds()
    if empty:
        return QuietDecision(False, current, since, "the folder is empty")
    if waited >= quiet_seconds:
        return QuietDecision(True, current, since, f"quiet for {int(waited)}s")
    return QuietDecision(False, current, since, f"quiet for {int(waited)}s of {quiet_seconds}s")


# --------------------------------------------------------------------------- the claim


@dataclass(frozen=True, slots=True)
class Claim:
    """The record in `<folder>/_CLAIMED` (JSON). First writer wins."""

    batch: str
    intake: str  # namespace/name
    intake_uid: str
    claimed_at: str
    objects: int
    keys_sha256: str
    nonce: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {
                "batch": self.batch,
                "intake": self.intake,
                "intakeUid": self.intake_uid,
                "claimedAt": self.claimed_at,
                "objects": self.objects,
                "keysSha256": self.keys_sha256,
                "nonce": self.nonce,
            },
            indent=1,
        )

    def owned_by(self, intake_uid: str) -> bool:
        return bool(intake_uid) and self.intake_uid == intake_uid


def parse_claim(text: str | bytes | None) -> Claim | None:
    """The claim in a marker, or None when it is absent or not ours to read (a foreign or
    hand-written marker still claims the folder: see `claim_blocks`)."""
    if not text:
        return None
    try:
        data = json.loads(text)
        return Claim(
            batch=str(data["batch"]),
            intake=str(data.get("intake", "")),
            intake_uid=str(data.get("intakeUid", "")),
            claimed_at=str(data.get("claimedAt", "")),
            objects=int(data.get("objects", 0)),
            keys_sha256=str(data.get("keysSha256", "")),
            nonce=str(data.get("nonce", "")),
        )
    except (ValueError, KeyError, TypeError):
        return None


# --------------------------------------------------------------------------- the batch


def batch_for(
    *,
    intake: Mapping[str, Any],
    spec: IntakeSpec,
    folder: str,
    name: str,
) -> dict[str, Any]:
    """The OcrBatch of one folder: the template, the folder as source, the output prefix
    `<template prefix>/<folder>`; owned by and labelled with the intake."""
    meta = intake["metadata"]
    template = {k: v for k, v in spec.batch_template.raw.items() if k not in ("source", "output")}
    out = spec.batch_template.output
    out_prefix = "/".join(p for p in (*out.prefix.split("/"), folder) if p)
    src = spec.source
    source: dict[str, Any] = {"bucket": src.bucket, "prefix": f"{src.base}{folder}"}
    for key, value in (
        ("include", list(src.include) or None),
        ("endpoint", src.endpoint),
        ("secure", src.secure),
        ("region", src.region),
        ("credentialsSecret", src.credentials_secret),
    ):
        if value is not None:
            source[key] = value
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": {
                LABEL_NAME: "ocrbatch",
                LABEL_MANAGED_BY: MANAGER,
                LABEL_INTAKE: label_value(meta["name"]),
            },
            "annotations": {ANNOTATION_FOLDER: folder},
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": INTAKE_KIND,
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": {
            **template,
            "source": source,
            "output": {"bucket": out.bucket, "prefix": out_prefix, "crops": out.crops},
        },
    }


# --------------------------------------------------------------------------- finishing


@dataclass(frozen=True, slots=True)
class Settlement:
    """What a finished folder's objects become."""

    move: list[str]  # taken by the batch: archived / deleted on success
    late: list[str]  # arrived after the claim and not processed: left in place
    markers: list[str]  # our markers present in the folder


def settle(
    current: Iterable[str],
    *,
    claimed: set[str] | None,
    processed: set[str],
    reserved: frozenset[str],
) -> Settlement:
    """Split a finished folder's keys (relative): claimed or processed ones go with the
    batch; the rest arrived late. Without the claim's key list every non-marker counts as
    claimed (nothing is reported late)."""
    move, late, markers = [], [], []
    for key in sorted(set(current)):
        if key in reserved:
            markers.append(key)
        elif claimed is None or key in claimed or key in processed:
            move.append(key)
        else:
            late.append(key)
    return Settlement(move=move, late=late, markers=markers)


SUCCESS_PHASES = frozenset({"Succeeded", "PartiallySucceeded"})
TERMINAL_PHASES = frozenset({*SUCCESS_PHASES, "Failed"})
