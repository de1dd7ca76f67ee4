"""The OcrBatch spec as typed values, with the CRD's defaults (also applied here, so a
spec read before the API server defaulted it, or from an older CRD, still works)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from ocr_operator.quantities import cpu_cores, memory_bytes

#: Maxima of a batch's spec (the CRD states the integer ones; the quantity strings are
#: checked by the operator, `policy.check_limits`, as a 1.20 schema has no CEL).
MAX_MEMORY = "32Gi"
MAX_CPU_CORES = 32
MAX_TTL_SECONDS = 30 * 24 * 3600
MAX_PARALLELISM = 1000
MAX_SHARD_SIZE = 100_000


class SpecModel(BaseModel):
    """The base of the CRDs' spec models: camelCase aliases, unknown keys ignored, frozen."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


class SourceSpec(SpecModel):
    bucket: str
    prefix: str = ""
    include: tuple[str, ...] = ()
    endpoint: str | None = None
    secure: bool | None = None
    region: str | None = None
    credentials_secret: str | None = None


class OutputSpec(SpecModel):
    bucket: str
    prefix: str = ""
    crops: bool = False  # the worker's `crops` (JobConfig): card and portrait JPEGs


class EngineSpec(SpecModel):
    name: Literal["onnx", "paddle"] = "onnx"
    threads: int | None = Field(default=None, ge=1, le=64)
    second_opinion: bool = True  # the worker's `second_opinion` (JobConfig)


def _memory(value: str) -> str:
    memory_bytes(value)  # ValueError: not a memory quantity
    return value


class ResourcesSpec(SpecModel):
    memory: str = "512Mi"
    cpu: str | int = "1"

    _check_memory = field_validator("memory")(_memory)

    @field_validator("cpu")
    @classmethod
    def _check_cpu(cls, value: str | int) -> str | int:
        if cpu_cores(value) <= 0:
            raise ValueError("cpu must be above 0")
        return value


class RetrySpec(SpecModel):
    backoff_limit_per_index: int = Field(default=2, ge=0)
    memory_factor: float = Field(default=1.5, ge=1.0)
    max_memory: str = "2Gi"

    _check_memory = field_validator("max_memory")(_memory)


class BatchSpec(SpecModel):
    source: SourceSpec
    output: OutputSpec
    engine: EngineSpec = EngineSpec()
    resources: ResourcesSpec = ResourcesSpec()
    parallelism: int = Field(default=4, ge=1, le=MAX_PARALLELISM)
    shard_size: int = Field(default=200, ge=1, le=MAX_SHARD_SIZE)
    retry: RetrySpec = RetrySpec()
    suspend: bool = False
    ttl_seconds_after_finished: int | None = Field(default=None, ge=0, le=MAX_TTL_SECONDS)
    queue_name: str | None = None
    service_account_name: str | None = None

    @classmethod
    def parse(cls, spec: Mapping[str, Any]) -> BatchSpec:
        return cls.model_validate(dict(spec))


def s3_url(bucket: str, prefix: str, *rest: str) -> str:
    """`s3://bucket/prefix/rest…` with single slashes."""
    parts = [p.strip("/") for p in (prefix, *rest) if p and p.strip("/")]
    return "/".join([f"s3://{bucket}", *parts])


def spec_digest(spec: BatchSpec) -> str:
    """sha256 of what decides a plan's keys and where it lives: the source, the output and
    the shard size (`plan.json` records it; a mismatch means the plan is not this spec's)."""
    fields = {
        "source": spec.source.model_dump(
            mode="json", include={"bucket", "prefix", "include", "endpoint", "region"}
        ),
        "output": spec.output.model_dump(mode="json", include={"bucket", "prefix"}),
        "shardSize": spec.shard_size,
    }
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
