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
    #: The workers' ServiceAccount (needs `patch ocrbatches/status`), unless the batch names one.
    service_account: str = DEFAULT_SERVICE_ACCOUNT
    #: S3 endpoint for batches that do not name one (host:port or URL).
    s3_endpoint: str | None = None
    #: Seconds between two full resyncs of every batch (events trigger sooner).
    resync_seconds: float = 30.0
    #: Minimum seconds between two status patches of one worker.
    worker_status_interval: float = 5.0
    #: Numeric uid/gid the workers run as.
    run_as_user: int = 10001
    #: Size limit of the workers' /tmp emptyDir.
    tmp_size_limit: str = "1Gi"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OperatorConfig:
        env = os.environ if env is None else env
        defaults = cls()
        return cls(
            worker_image=env.get("OCRBATCH_WORKER_IMAGE", defaults.worker_image),
            image_pull_policy=env.get("OCRBATCH_IMAGE_PULL_POLICY", defaults.image_pull_policy),
            service_account=env.get("OCRBATCH_WORKER_SERVICE_ACCOUNT", defaults.service_account),
            s3_endpoint=env.get("OCRBATCH_S3_ENDPOINT") or None,
            resync_seconds=float(env.get("OCRBATCH_RESYNC_SECONDS", defaults.resync_seconds)),
            worker_status_interval=float(
                env.get("OCRBATCH_WORKER_STATUS_INTERVAL", defaults.worker_status_interval)
            ),
            run_as_user=int(env.get("OCRBATCH_RUN_AS_USER", defaults.run_as_user)),
            tmp_size_limit=env.get("OCRBATCH_TMP_SIZE_LIMIT", defaults.tmp_size_limit),
        )
