"""The operator's own configuration, from `OCRBATCH_*` environment variables (the chart's
ConfigMap), read by pydantic-settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_WORKER_IMAGE = "ocrbatch-worker:0.1.0"
DEFAULT_SERVICE_ACCOUNT = "ocrbatch-worker"
ENV_PREFIX = "OCRBATCH_"
#: Shards per worker Job; an attempt with more is split into several Jobs (`batch/jobs.py`).
DEFAULT_SHARDS_PER_JOB = 10_000

#: A comma- or space-separated list in the environment (chart values are joined with commas).
Words = Annotated[tuple[str, ...] | None, NoDecode]


def _env(name: str) -> Any:
    return Field(validation_alias=f"{ENV_PREFIX}{name}")


class OperatorConfig(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, populate_by_name=True
    )

    #: The worker image of every Job.
    worker_image: str = DEFAULT_WORKER_IMAGE
    image_pull_policy: str = "IfNotPresent"
    #: The chart's worker ServiceAccount: the default entry of `worker_service_accounts`.
    service_account: str = Field(
        DEFAULT_SERVICE_ACCOUNT, validation_alias=f"{ENV_PREFIX}WORKER_SERVICE_ACCOUNT"
    )
    #: ServiceAccounts a batch may name in spec.serviceAccountName (unset: a per-batch
    #: one); None: `service_account` alone.
    service_accounts: Words = Field(None, validation_alias=f"{ENV_PREFIX}WORKER_SERVICE_ACCOUNTS")
    #: S3 endpoint for batches that do not name one (host:port or URL).
    s3_endpoint: str | None = None
    #: Endpoints a batch or intake may name (`policy.normalize_endpoint`; "*" any); None:
    #: `s3_endpoint` alone.
    s3_endpoints: Words = Field(None, validation_alias=f"{ENV_PREFIX}ALLOWED_S3_ENDPOINTS")
    #: Seconds between two full resyncs of every batch (events trigger sooner).
    resync_seconds: float = 30.0
    #: Shards per worker Job: an attempt with more is split into several Jobs (at most
    #: 100,000: Kubernetes' limit on an Indexed Job with backoffLimitPerIndex).
    max_shards_per_job: int = Field(DEFAULT_SHARDS_PER_JOB, ge=1, le=100_000)
    #: Minimum seconds between two reconcile passes of one batch: the bound on the API
    #: writes a batch causes (one status patch per pass at most, docs/operator.md).
    min_pass_seconds: float = Field(2.0, ge=0.0)
    #: Minimum seconds between two progress writes of one worker (to the output prefix).
    worker_status_interval: float = 5.0
    #: Numeric uid/gid the workers run as.
    run_as_user: int = 10001
    #: Size limit of the workers' /tmp emptyDir.
    tmp_size_limit: str = "1Gi"

    @field_validator("service_accounts", "s3_endpoints", mode="before")
    @classmethod
    def _words(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(w for w in value.replace(",", " ").split() if w) or None
        return value or None

    @field_validator("s3_endpoint", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return value or None

    @property
    def worker_service_accounts(self) -> tuple[str, ...]:
        return self.service_accounts or (self.service_account,)

    @property
    def allowed_s3_endpoints(self) -> tuple[str, ...]:
        if self.s3_endpoints is not None:
            return self.s3_endpoints
        return (self.s3_endpoint,) if self.s3_endpoint else ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OperatorConfig:
        """From the process environment, or from `env` alone (a ConfigMap's data)."""
        if env is None:
            return cls()
        names = {
            (f.validation_alias if isinstance(f.validation_alias, str) else None)
            or f"{ENV_PREFIX}{name.upper()}": name
            for name, f in cls.model_fields.items()
        }
        return cls.model_validate({names[k]: v for k, v in env.items() if k in names})
