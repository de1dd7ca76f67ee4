"""examples/*.yaml: custom resources (OcrBatch, OcrIntake when its CRD exists) against their
CRD's openAPIV3Schema, built-in kinds (the Secret) with kubernetes-validate --strict.

kubernetes-validate skips custom resources, hence the CRD check here. Like `kubectl apply`
(server-side strict field validation), an unknown field is an error, not silently pruned."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.chart.conftest import ROOT

CRDS = sorted((ROOT / "crds").glob("*.yaml"))
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


#: Value constraints of a structural schema: their `properties` restate fields, they do not
#: declare the object's fields, so they are never closed.
CONSTRAINTS = {"anyOf", "oneOf", "allOf", "not"}


def strict(schema: Any) -> Any:
    """The schema with every object that lists properties closed to other keys (what the API
    server's strict field validation does), except where the CRD preserves unknown fields."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: (v if k in CONSTRAINTS else strict(v)) for k, v in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the strict openAPIV3Schema, for every served version."""
    found = {}
    for path in CRDS:
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served"):
                found[(f"{group}/{version['name']}", kind)] = strict(version["schema"]["openAPIV3Schema"])
    return found


SCHEMAS = crd_schemas()


def errors(obj: dict[str, Any]) -> list[str]:
    schema = SCHEMAS[(obj["apiVersion"], obj["kind"])]
    validator = jsonschema.Draft7Validator(schema)
    return sorted(
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(obj)
    )


def example_docs() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{path.name}#{i}", doc)
        for path in EXAMPLES
        for i, doc in enumerate(yaml.safe_load_all(path.read_text()))
        if doc
    ]


def custom_examples() -> list[tuple[str, dict[str, Any]]]:
    return [(name, doc) for name, doc in example_docs() if (doc["apiVersion"], doc["kind"]) in SCHEMAS]


def test_there_are_ocrbatch_examples() -> None:
    kinds = [doc["kind"] for _, doc in custom_examples()]
    assert kinds.count("OcrBatch") >= 1, "examples/ has no OcrBatch"


@pytest.mark.parametrize(
    ("name", "doc"), [pytest.param(name, doc, id=name) for name, doc in custom_examples()]
)
def test_custom_resource_examples_match_their_crd(name: str, doc: dict[str, Any]) -> None:
    assert DNS_SUBDOMAIN.match(doc["metadata"]["name"]), name
    assert errors(doc) == [], name


def test_builtin_examples_pass_kubernetes_validate_strict(tmp_path: Path) -> None:
    builtins = [doc for _, doc in example_docs() if (doc["apiVersion"], doc["kind"]) not in SCHEMAS]
    if not builtins:
        pytest.skip("no built-in kinds in examples/")
    target = tmp_path / "builtins.yaml"
    target.write_text(yaml.safe_dump_all(builtins))
    proc = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", "1.35.0", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(" passed for resource ") == len(builtins), proc.stdout


def test_every_example_is_checked_by_one_of_the_two() -> None:
    for name, doc in example_docs():
        assert doc.get("apiVersion") and doc.get("kind"), name
        if doc["apiVersion"].split("/")[0].endswith("ocrbatch.io"):
            assert (doc["apiVersion"], doc["kind"]) in SCHEMAS, f"{name}: no CRD for {doc['kind']}"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("spec", "source", "bucekt"), "scans", "Additional properties are not allowed"),
        (("spec", "engine", "name"), "tesseract", "is not one of"),
        (("spec", "parallelism"), "4", "is not of type 'integer'"),
        (("spec", "resources", "memory"), "lots", "does not match"),
    ],
)
def test_the_crd_check_rejects_bad_batches(path: tuple[str, ...], value: Any, message: str) -> None:
    """The negative control: a typo'd key, a wrong enum, a wrong type, a bad quantity."""
    batches = [doc for _, doc in custom_examples() if doc["kind"] == "OcrBatch"]
    bad = copy.deepcopy(batches[0])
    node = bad
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    found = errors(bad)
    assert any(message in e for e in found), found
