"""What a batch may ask of the cluster, decided by the operator (docs/operator.md, "Cluster
surface"): its workers' ServiceAccount and its S3 endpoint come from allowlists of the
operator's configuration (chart values), and its memory, cpu and TTL stay under the maxima
of `model.py` (the CRD states the same maxima where a 1.20 schema can).

A refusal is a `PolicyViolation`: a condition reason and a message that names the field and
the rule, never the refused value (an endpoint may carry credentials).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from ocr_operator.batch.model import (
    MAX_CPU_CORES,
    MAX_MEMORY,
    BatchSpec,
)
from ocr_operator.config import OperatorConfig
from ocr_operator.quantities import cpu_cores, memory_bytes

#: An allowlist entry that allows every endpoint (an explicit opt-out, never the default).
ANY_ENDPOINT = "*"

REASON_SERVICE_ACCOUNT = "ServiceAccountNotAllowed"
REASON_ENDPOINT = "EndpointNotAllowed"
REASON_LIMITS = "LimitExceeded"


@dataclass(frozen=True, slots=True)
class PolicyViolation(Exception):
    reason: str
    message: str

    def __str__(self) -> str:
        return self.message


def normalize_endpoint(endpoint: str) -> str | None:
    """`host[:port]` in lower case from `host:port` or `http(s)://host:port[/]` (the scheme
    is not compared); None when it is not a bare endpoint (user info, a path, a query:
    never allowed, whatever the list)."""
    text = endpoint.strip()
    parsed = urlsplit(text if "://" in text else f"//{text}")
    if parsed.scheme not in ("", "http", "https"):
        return None
    if parsed.username or parsed.password or parsed.path.strip("/") or parsed.query:
        return None
    try:
        host, port = parsed.hostname, parsed.port
    except ValueError:
        return None
    if not host:
        return None
    return f"{host.lower()}:{port}" if port else host.lower()


def endpoint_allowed(endpoint: str, allowlist: Iterable[str]) -> bool:
    allowed = list(allowlist)
    if ANY_ENDPOINT in allowed:
        return normalize_endpoint(endpoint) is not None
    wanted = normalize_endpoint(endpoint)
    return wanted is not None and wanted in {normalize_endpoint(a) for a in allowed}


def check_endpoint(field: str, endpoint: str | None, config: OperatorConfig) -> None:
    """An explicit endpoint must be on `config.allowed_s3_endpoints`; unset means the
    operator's own endpoint, always allowed."""
    if endpoint is not None and not endpoint_allowed(endpoint, config.allowed_s3_endpoints):
        raise PolicyViolation(
            REASON_ENDPOINT,
            f"{field} is not on the operator's endpoint allowlist"
            " (chart value s3.allowedEndpoints); leave it unset to use the operator's endpoint",
        )


def check_service_account(name: str | None, config: OperatorConfig) -> None:
    if name is not None and name not in config.worker_service_accounts:
        raise PolicyViolation(
            REASON_SERVICE_ACCOUNT,
            "spec.serviceAccountName is not on the operator's allowlist"
            " (chart value worker.serviceAccounts); leave it unset for a per-batch identity",
        )


def check_limits(spec: BatchSpec) -> None:
    """The maxima the CRD cannot state for quantity strings on Kubernetes 1.20."""
    cap = memory_bytes(MAX_MEMORY)
    for field, value in (
        ("spec.resources.memory", spec.resources.memory),
        ("spec.retry.maxMemory", spec.retry.max_memory),
    ):
        if memory_bytes(value) > cap:
            raise PolicyViolation(REASON_LIMITS, f"{field} is over the maximum {MAX_MEMORY}")
    if cpu_cores(spec.resources.cpu) > MAX_CPU_CORES:
        raise PolicyViolation(REASON_LIMITS, f"spec.resources.cpu is over the maximum {MAX_CPU_CORES}")


def check_batch(spec: BatchSpec, config: OperatorConfig) -> None:
    """Raise `PolicyViolation` when the batch asks for more than the operator allows."""
    check_service_account(spec.service_account_name, config)
    check_endpoint("spec.source.endpoint", spec.source.endpoint, config)
    check_limits(spec)
