"""The operator's own configuration, from `OCRBATCH_*` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_WORKER_IMAGE = "ocrbatch-worker:0.1.0"
DEFAULT_SERVICE_ACCOUNT = "ocrbatch-worker"


@dataclass(frozen=True, slots=True)
class OperatorConfig:
    #: The worker image of every Job.
    worker_image: str = DEFAULT_WORKER_IMAGE
    image_pull_policy: str = "IfNotPresent"
    #: The chart's worker ServiceAccount: the default entry of `worker_service_accounts`.
    service_account: str = DEFAULT_SERVICE_ACCOUNT
    #: ServiceAccounts a batch may name in spec.serviceAccountName (unset: a per-batch
    #: one); None: `service_account` alone.
    service_accounts: tuple[str, ...] | None = None
    #: S3 endpoint for batches that do not name one (host:port or URL).
    s3_endpoint: str | None = None
    #: Endpoints a batch or intake may name (`policy.normalize_endpoint`; "*" any); None:
    #: `s3_endpoint` alone.
    s3_endpoints: tuple[str, ...] | None = None
    #: Seconds between two full resyncs of every batch (events trigger sooner).
    resync_seconds: float = 30.0
    #: Minimum seconds between two status patches of one worker.
    worker_status_interval: float = 5.0
    #: Numeric uid/gid the workers run as.
    run_as_user: int = 10001
    #: Size limit of the workers' /tmp emptyDir.
    tmp_size_limit: str = "1Gi"

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
        env = os.environ if env is None else env
        defaults = cls()
        service_account = env.get("OCRBATCH_WORKER_SERVICE_ACCOUNT", defaults.service_account)
        s3_endpoint = env.get("OCRBATCH_S3_ENDPOINT") or None
        return cls(
            worker_image=env.get("OCRBATCH_WORKER_IMAGE", defaults.worker_image),
            image_pull_policy=env.get("OCRBATCH_IMAGE_PULL_POLICY", defaults.image_pull_policy),
            service_account=service_account,
            service_accounts=_words(env.get("OCRBATCH_WORKER_SERVICE_ACCOUNTS")) or None,
            s3_endpoint=s3_endpoint,
            s3_endpoints=_words(env.get("OCRBATCH_ALLOWED_S3_ENDPOINTS")) or None,
            resync_seconds=float(env.get("OCRBATCH_RESYNC_SECONDS", defaults.resync_seconds)),
            worker_status_interval=float(
                env.get("OCRBATCH_WORKER_STATUS_INTERVAL", defaults.worker_status_interval)
            ),
            run_as_user=int(env.get("OCRBATCH_RUN_AS_USER", defaults.run_as_user)),
            tmp_size_limit=env.get("OCRBATCH_TMP_SIZE_LIMIT", defaults.tmp_size_limit),
        )


def _words(value: str | None) -> tuple[str, ...]:
    """A comma- or space-separated list (chart values are joined with commas)."""
    return tuple(w for w in (value or "").replace(",", " ").split() if w)
