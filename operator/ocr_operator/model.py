"""The OcrBatch spec as typed values, with the CRD's defaults (also applied here, so a
spec read before the API server defaulted it, or from an older CRD, still works)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class SpecModel(BaseModel):
    """The base of the CRDs' spec models: camelCase aliases, unknown keys ignored, frozen."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


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


class EngineSpec(SpecModel):
    name: Literal["onnx", "paddle"] = "onnx"
    threads: int | None = Field(default=None, ge=1, le=64)
    second_opinion: bool = True  # the worker's `second_opinion` (JobConfig)


class ResourcesSpec(SpecModel):
    memory: str = "512Mi"
    cpu: str | int = "1"


class RetrySpec(SpecModel):
    backoff_limit_per_index: int = Field(default=2, ge=0)
    memory_factor: float = Field(default=1.5, ge=1.0)
    max_memory: str = "2Gi"


class BatchSpec(SpecModel):
    source: SourceSpec
    output: OutputSpec
    engine: EngineSpec = EngineSpec()
    resources: ResourcesSpec = ResourcesSpec()
    parallelism: int = Field(default=4, ge=1)
    shard_size: int = Field(default=200, ge=1)
    retry: RetrySpec = RetrySpec()
    suspend: bool = False
    ttl_seconds_after_finished: int | None = None
    queue_name: str | None = None
    service_account_name: str | None = None

    @classmethod
    def parse(cls, spec: Mapping[str, Any]) -> BatchSpec:
        return cls.model_validate(dict(spec))


def s3_url(bucket: str, prefix: str, *rest: str) -> str:
    """`s3://bucket/prefix/rest…` with single slashes."""
    parts = [p.strip("/") for p in (prefix, *rest) if p and p.strip("/")]
    return "/".join([f"s3://{bucket}", *parts])
