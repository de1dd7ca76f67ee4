"""Whose plan is in an output prefix: a batch reuses its own complete plan, claims an empty
prefix (If-None-Match: *), and stops on anyone else's (docs/operator.md, "Plan ownership")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ocr_operator.batch.model import BatchSpec, spec_digest
from ocr_operator.batch.planner import Plan, PlanOwner, make_plan
from ocr_operator.batch.storage import BatchStorage

#: Condition reasons (and Event reasons) of a batch that stops before its workers start.
REASON_INVALID_SPEC = "InvalidSpec"
REASON_OUTPUT_IN_USE = "OutputInUse"
REASON_IDENTITY_CONFLICT = "IdentityConflict"


class BatchStopped(Exception):
    """The batch cannot go on (a foreign plan, an identity it does not own): it fails with
    this condition reason and message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def own_plan(storage: BatchStorage, meta: Mapping[str, Any], spec: BatchSpec) -> Plan:
    """This batch's plan: reused when complete and made from this spec, else made now
    under a claim. A plan of any other batch (or one without an owner, or unreadable)
    stops the batch: its manifests are never read."""
    uid = str(meta.get("uid") or "")
    owner = PlanOwner(uid=uid, namespace=meta["namespace"], name=meta["name"])
    digest = spec_digest(spec)
    found = read_plan(storage)
    if found is not None and found.reusable_by(uid, digest):
        return found
    if found is None:
        storage.create_plan(Plan.claim(owner, digest, spec.shard_size))
    # Read back: after a lost race (or a server that ignores If-None-Match), whose is it?
    current = read_plan(storage)
    check_owner(current, meta)
    # This batch's unfinished plan of this very spec: go on after its last checkpoint.
    resume = current if current is not None and current.spec_digest == digest else None
    plan = make_plan(
        storage.list_keys(),
        shard_size=spec.shard_size,
        include=spec.source.include,
        write_manifest=storage.write_manifest,
        owner=owner,
        spec_digest=digest,
        resume=resume,
        relist=storage.list_keys,
        checkpoint=storage.write_plan,
    )
    # A server that ignores If-None-Match lets two claims through: the last one wins.
    check_owner(read_plan(storage), meta)
    storage.write_plan(plan)
    return plan


def read_plan(storage: BatchStorage) -> Plan | None:
    try:
        return storage.read_plan()
    except ValueError:
        raise BatchStopped(
            REASON_OUTPUT_IN_USE,
            "the output prefix holds a _manifests/plan.json this batch cannot read;"
            " it is not reused: choose another output prefix or remove _manifests/",
        ) from None


def check_owner(plan: Plan | None, meta: Mapping[str, Any]) -> None:
    """Nothing when `plan` is this batch's (by uid); else BatchStopped naming whose it is
    (never another namespace's batch by name)."""
    if plan is not None and plan.owned_by(str(meta.get("uid") or "")):
        return
    if plan is None:
        whose = "a plan that vanished while planning"
    elif plan.owner is None:
        whose = "the plan of an older batch (no owner recorded)"
    elif (plan.owner.namespace, plan.owner.name) == (meta["namespace"], meta["name"]):
        whose = f"the plan of an earlier batch of this name (uid {plan.owner.uid})"
    elif plan.owner.namespace == meta["namespace"]:
        whose = f"the plan of the batch {plan.owner.name} (uid {plan.owner.uid})"
    else:
        whose = "the plan of a batch in another namespace"
    raise BatchStopped(
        REASON_OUTPUT_IN_USE,
        f"the output prefix holds {whose}; an output prefix belongs to one batch:"
        " choose another output prefix, or remove its _manifests/ folder",
    )
