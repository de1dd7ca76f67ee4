"""Where a spec's source lives, as the operator's S3 client and the workers' environment
both need it: one reading of `spec.source` (endpoint, secure, region, credentials Secret)
for the batch reconciler, the intake reconciler and the worker Job."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ocr_job.config import S3Settings
from ocr_operator.batch.model import SourceSpec
from ocr_operator.config import OperatorConfig

#: Keys of a credentials Secret (`spec.source.credentialsSecret`).
SECRET_ACCESS_KEY = "accessKey"
SECRET_SECRET_KEY = "secretKey"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """`host[:port]` (no scheme), and the TLS and region choices; None: the default."""

    host: str | None
    secure: bool | None
    region: str | None


def endpoint_of(source: SourceSpec, config: OperatorConfig) -> Endpoint:
    """The source's endpoint, else the operator's; an `https://` endpoint means TLS unless
    `secure` says otherwise."""
    endpoint = source.endpoint or config.s3_endpoint
    secure = source.secure
    host = None
    if endpoint:
        if endpoint.startswith("https://") and secure is None:
            secure = True
        host = endpoint.removeprefix("https://").removeprefix("http://").rstrip("/")
    return Endpoint(host=host, secure=secure, region=source.region or None)


def s3_settings(
    source: SourceSpec, config: OperatorConfig, secret: Mapping[str, str] | None = None
) -> S3Settings:
    """The operator's S3 settings for `source`; `secret` is the credentials Secret's data."""
    where = endpoint_of(source, config)
    values: dict[str, Any] = {}
    if where.host:
        values["endpoint"] = where.host
    if where.secure is not None:
        values["secure"] = where.secure
    if where.region:
        values["region"] = where.region
    if secret is not None:
        values["access_key"] = secret.get(SECRET_ACCESS_KEY)
        values["secret_key"] = secret.get(SECRET_SECRET_KEY)
    return S3Settings(**values)


def endpoint_env(source: SourceSpec, config: OperatorConfig) -> dict[str, str]:
    """The same choices as the workers' `OCR_S3_*` variables (credentials come from the
    Secret by reference, `jobs.worker_env`)."""
    where = endpoint_of(source, config)
    env: dict[str, str] = {}
    if where.host:
        env["OCR_S3_ENDPOINT"] = where.host
    if where.secure is not None:
        env["OCR_S3_SECURE"] = "true" if where.secure else "false"
    if where.region:
        env["OCR_S3_REGION"] = where.region
    return env
