"""The worker Jobs of one attempt: a pure function of the batch, its spec, the plan and the
attempt. Attempt 0 runs every shard; a retry attempt runs only the listed shard indexes
(the Job's completion index i maps to shard `OCR_SHARD_INDEXES[i]`, ranges "3,10-19").

An attempt of more than `max_shards_per_job` shards (operator setting, default 10,000; at
most 100,000, Kubernetes' limit on the completions of an Indexed Job with
backoffLimitPerIndex) is split into parts: consecutive slices of its shards, one Job each,
named `<batch>-<attempt>` for part 0 and `<batch>-<attempt>p<part>` for the others. Each
part has its own per-index backoff and failed indexes (docs/operator.md, "Many Jobs").
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import kopf

from ocr_job.config import JobConfig
from ocr_job.exit_codes import ExitCode
from ocr_job.sharding import SHARD_INDEXES_ENV
from ocr_operator.batch.model import BatchSpec, s3_url
from ocr_operator.batch.planner import MANIFEST_PATTERN, MANIFESTS_DIR
from ocr_operator.batch.s3 import SECRET_ACCESS_KEY, SECRET_SECRET_KEY, endpoint_env
from ocr_operator.config import OperatorConfig
from ocr_operator.kube import (
    GROUP,
    LABEL_ATTEMPT,
    LABEL_BATCH,
    LABEL_COMPONENT,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    LABEL_PART,
    LABEL_QUEUE,
    MANAGER,
    format_index_ranges,
    parse_index_ranges,
)
from ocr_operator.quantities import threads_for_cpu

CONTAINER = "worker"
MAX_NAME = 63
#: A container killed by the kernel (128 + SIGKILL): the OOM killer's exit code.
EXIT_OOM_KILLED = 137
#: The memory of an attempt, on its Job.
ANNOTATION_MEMORY = f"{GROUP}/memory"


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    memory: str
    #: Shard indexes of a retry; None for the first attempt (all shards).
    indexes: tuple[int, ...] | None = None
    reason: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def completions(self, shard_count: int) -> int:
        return shard_count if self.indexes is None else len(self.indexes)


def job_name(batch: str, attempt: int, part: int = 0) -> str:
    """`<batch>-<attempt>` (`<batch>-<attempt>p<part>` for a later part), or a truncated
    name with a hash when that is over 63 chars."""
    return _derived_name(batch, f"-{attempt}" if part == 0 else f"-{attempt}p{part}")


def attempt_shards(attempt: Attempt, shard_count: int) -> Sequence[int]:
    """The shards an attempt runs, ascending."""
    return range(shard_count) if attempt.indexes is None else attempt.indexes


def job_parts(attempt: Attempt, shard_count: int, per_job: int) -> list[Sequence[int]]:
    """The shards of each of an attempt's Jobs: consecutive slices of at most `per_job`."""
    shards = attempt_shards(attempt, shard_count)
    return [shards[i : i + per_job] for i in range(0, len(shards), per_job)]


def is_identity(shards: Sequence[int]) -> bool:
    """Whether completion index i runs shard i (no OCR_SHARD_INDEXES needed)."""
    return isinstance(shards, range) and shards.start == 0 and shards.step == 1


def identity_name(batch: str) -> str:
    """The per-batch worker ServiceAccount: `<batch>-ocr-worker`."""
    return _derived_name(batch, "-ocr-worker")


def _derived_name(batch: str, suffix: str) -> str:
    name = f"{batch}{suffix}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(batch.encode()).hexdigest()[:8]
    head = batch[: MAX_NAME - len(suffix) - len(digest) - 1].rstrip("-.")
    return f"{head}-{digest}{suffix}"


def batch_labels(batch: str) -> dict[str, str]:
    return {
        LABEL_NAME: "ocrbatch",
        LABEL_COMPONENT: "worker",
        LABEL_MANAGED_BY: MANAGER,
        LABEL_BATCH: batch,
    }


def worker_account(batch: str, spec: BatchSpec) -> str:
    """The workers' ServiceAccount: the spec's (allowlisted, `policy`) or the batch's own."""
    return spec.service_account_name or identity_name(batch)


def worker_identity(owner: Mapping[str, Any], spec: BatchSpec) -> list[dict[str, Any]]:
    """The batch's own worker ServiceAccount, unless the spec names one: an identity with no
    permission and no token (docs/operator.md, "Cluster surface"). Workers never call the
    Kubernetes API: their progress and summaries go to the output prefix (`_shards/`), which
    the operator reads. (Until issue 18 a Role here let them patch their batch's status.)
    Owned by the batch (garbage-collected with it)."""
    if spec.service_account_name:
        return []
    batch, namespace = owner["metadata"]["name"], owner["metadata"]["namespace"]
    account: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": identity_name(batch), "namespace": namespace, "labels": batch_labels(batch)},
        "automountServiceAccountToken": False,
    }
    kopf.append_owner_reference(account, owner=owner)  # type: ignore[arg-type]
    return [account]


def manifest_template(spec: BatchSpec) -> str:
    return s3_url(spec.output.bucket, spec.output.prefix, MANIFESTS_DIR, MANIFEST_PATTERN)


def worker_env(
    *,
    namespace: str,
    batch: str,
    spec: BatchSpec,
    attempt: Attempt,
    config: OperatorConfig,
    shards: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    job_config = JobConfig(
        source=s3_url(spec.source.bucket, spec.source.prefix),
        output=s3_url(spec.output.bucket, spec.output.prefix),
        engine=spec.engine.name,
        threads=spec.engine.threads or threads_for_cpu(spec.resources.cpu),
        second_opinion=spec.engine.second_opinion,
        crops=spec.output.crops,
        manifest=manifest_template(spec),
        status_target=f"{namespace}/{batch}",
        status_interval_s=config.worker_status_interval,
    )
    plain = {**job_config.to_env(), **endpoint_env(spec.source, config), "HOME": "/tmp"}
    if shards is None:
        shards = attempt.indexes
    if shards is not None and not is_identity(shards):
        plain[SHARD_INDEXES_ENV] = format_index_ranges(shards)
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(plain.items())]
    if spec.source.credentials_secret:
        for var, key in (
            ("OCR_S3_ACCESS_KEY", SECRET_ACCESS_KEY),
            ("OCR_S3_SECRET_KEY", SECRET_SECRET_KEY),
        ):
            env.append(
                {
                    "name": var,
                    "valueFrom": {"secretKeyRef": {"name": spec.source.credentials_secret, "key": key}},
                }
            )
    return env


def job_shards(job: Mapping[str, Any]) -> list[int] | None:
    """The shards a Job runs, from its `OCR_SHARD_INDEXES` (None: the Job has none, its
    completion index is its shard)."""
    for container in ((job.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []:
        for var in container.get("env") or []:
            if var.get("name") == SHARD_INDEXES_ENV and var.get("value") is not None:
                return sorted(parse_index_ranges(str(var["value"])))
    return None


def build_job(
    *,
    owner: Mapping[str, Any],
    spec: BatchSpec,
    shard_count: int,
    attempt: Attempt,
    config: OperatorConfig,
    part: int = 0,
) -> dict[str, Any]:
    """The Indexed Job of `attempt` (its part `part`) for the OcrBatch `owner` (its body:
    metadata with uid)."""
    # Long on purpose: one Job manifest written out as the API shows it, read top to bottom.
    meta = owner["metadata"]
    batch, namespace = meta["name"], meta["namespace"]
    shards = job_parts(attempt, shard_count, config.max_shards_per_job)[part]
    labels = {**batch_labels(batch), LABEL_ATTEMPT: str(attempt.number), LABEL_PART: str(part)}
    job_labels = dict(labels)
    if spec.queue_name:
        job_labels[LABEL_QUEUE] = spec.queue_name
    resources = {"memory": attempt.memory, "cpu": str(spec.resources.cpu)}
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": config.worker_image,
        "imagePullPolicy": config.image_pull_policy,
        "command": ["ocr-job"],
        "args": [
            "run",
            s3_url(spec.source.bucket, spec.source.prefix),
            "--output",
            s3_url(spec.output.bucket, spec.output.prefix),
            "--manifest",
            manifest_template(spec),
        ],
        "env": worker_env(
            namespace=namespace, batch=batch, spec=spec, attempt=attempt, config=config, shards=shards
        ),
        "resources": {"requests": dict(resources), "limits": dict(resources)},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": config.run_as_user,
            "runAsGroup": config.run_as_user,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    job_spec: dict[str, Any] = {
        "completionMode": "Indexed",
        "completions": len(shards),
        "parallelism": min(spec.parallelism, len(shards)),
        "backoffLimitPerIndex": spec.retry.backoff_limit_per_index,
        "podReplacementPolicy": "Failed",
        "suspend": bool(spec.suspend or spec.queue_name),
        "podFailurePolicy": {
            "rules": [
                {
                    "action": "FailJob",
                    "onExitCodes": {
                        "containerName": CONTAINER,
                        "operator": "In",
                        "values": [int(ExitCode.USAGE)],
                    },
                },
                {
                    "action": "Count",
                    "onExitCodes": {
                        "containerName": CONTAINER,
                        "operator": "In",
                        "values": [EXIT_OOM_KILLED],
                    },
                },
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            ]
        },
        "template": {
            "metadata": {"labels": dict(labels)},
            "spec": {
                "restartPolicy": "Never",
                "serviceAccountName": worker_account(batch, spec),
                # Workers make no API call: their progress goes to the output prefix.
                "automountServiceAccountToken": False,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": config.run_as_user,
                    "runAsGroup": config.run_as_user,
                    "fsGroup": config.run_as_user,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [container],
                "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": config.tmp_size_limit}}],
            },
        },
    }
    if spec.ttl_seconds_after_finished is not None:
        job_spec["ttlSecondsAfterFinished"] = spec.ttl_seconds_after_finished
    job: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(batch, attempt.number, part),
            "namespace": namespace,
            "labels": job_labels,
            "annotations": {ANNOTATION_MEMORY: attempt.memory},
        },
        "spec": job_spec,
    }
    kopf.append_owner_reference(job, owner=owner)  # type: ignore[arg-type]
    return job


def shard_of(completion_index: int, indexes: Sequence[int] | None) -> int:
    """The shard index run by a completion index of an attempt."""
    return completion_index if indexes is None else indexes[completion_index]
