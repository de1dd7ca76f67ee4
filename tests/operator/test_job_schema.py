"""The Jobs the operator creates, first attempt and OOM retry, validate against the newest
Kubernetes schema kubernetes-validate ships, in strict mode (no field the API would drop)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from ocr_operator.batch.jobs import Attempt, build_job
from ocr_operator.batch.model import BatchSpec
from ocr_operator.batch.oom import JobOutcome, OomKill, decide_retry
from ocr_operator.config import OperatorConfig

kubernetes_validate = pytest.importorskip("kubernetes_validate")
from kubernetes_validate import utils as kv  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
#: The newest Kubernetes version whose schemas this kubernetes-validate ships.
NEWEST = max(kv.all_versions(), key=lambda v: tuple(int(p) for p in v.split(".")))
MINIMAL = {
    "source": {"bucket": "scans", "prefix": "2024/", "credentialsSecret": "s3-creds"},
    "output": {"bucket": "results", "prefix": "run1"},
}
SHARDS = 5


def example_spec(name: str) -> tuple[dict[str, Any], BatchSpec]:
    body = yaml.safe_load((ROOT / "examples" / name).read_text())
    owner = {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "metadata": {**body["metadata"], "uid": "0b8f5a1e-uid"},
    }
    return owner, BatchSpec.parse(body["spec"])


def specs() -> dict[str, tuple[dict[str, Any], BatchSpec]]:
    owner = {
        "apiVersion": "ocrbatch.io/v1alpha1",
        "kind": "OcrBatch",
        "metadata": {"name": "cards", "namespace": "ocr", "uid": "uid-1"},
    }
    return {
        "minimal": (owner, BatchSpec.parse(MINIMAL)),
        "example": example_spec("ocrbatch.yaml"),
        "every-field": example_spec("ocrbatch-full.yaml"),
    }


def first_and_retry(owner: dict[str, Any], spec: BatchSpec) -> dict[str, dict[str, Any]]:
    """The first attempt's Job, and the retry's as the operator decides it after shards 1
    and 3 of the first were OOM-killed."""
    config = OperatorConfig()
    first = Attempt(number=0, memory=spec.resources.memory)
    kills = [
        OomKill(shard=s, attempt=0, pod=f"cards-0-{s}-x", memory=first.memory, time=None) for s in (1, 3)
    ]
    outcome = JobOutcome(finished=True, completed=frozenset({0, 2, 4}), failed=frozenset({1, 3}))
    decision = decide_retry(first, outcome, kills, spec.retry)
    assert decision is not None and decision.attempt is not None, "no retry decided"
    jobs = {}
    for label, attempt in (("first", first), ("retry", decision.attempt)):
        jobs[label] = build_job(owner=owner, spec=spec, shard_count=SHARDS, attempt=attempt, config=config)
    return jobs


def validate(job: dict[str, Any]) -> None:
    kv.validate(job, NEWEST, strict=True)


SPECS = specs()


@pytest.mark.parametrize("attempt", ["first", "retry"])
@pytest.mark.parametrize("name", sorted(SPECS))
def test_jobs_validate_strictly_against_the_newest_schema(name: str, attempt: str) -> None:
    job = first_and_retry(*SPECS[name])[attempt]
    validate(job)  # raises ValidationError with the failing path
    if attempt == "retry":
        assert job["spec"]["completions"] == 2
        assert job["metadata"]["name"].endswith("-1")


@pytest.mark.parametrize(
    ("where", "field"),
    [
        (("spec",), "backoffLimitPerIndexx"),
        (("spec", "template", "spec", "containers", 0, "securityContext"), "readOnlyRootFilesystm"),
    ],
)
def test_strict_validation_rejects_an_unknown_field(where: tuple[Any, ...], field: str) -> None:
    """The negative control: a field the API does not know fails, so the check has teeth."""
    job = copy.deepcopy(first_and_retry(*SPECS["minimal"])["first"])
    target: Any = job
    for key in where:
        target = target[key]
    target[field] = 1
    with pytest.raises(kv.ValidationError) as raised:
        validate(job)
    assert field in str(raised.value)
