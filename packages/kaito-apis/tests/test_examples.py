"""Every example manifest validates against the generated CRD schema and parses into the models."""

from __future__ import annotations

import copy
import pathlib
from typing import Any

import jsonschema
import pytest
import yaml

from kaito_apis import crdgen
from kaito_apis.workspace import v1alpha1, v1beta1

REPO = pathlib.Path(__file__).resolve().parents[3]
EXAMPLES = sorted((REPO / "examples").rglob("*.yaml"))
MODELS = {"kaito.sh/v1alpha1": v1alpha1.Workspace, "kaito.sh/v1beta1": v1beta1.Workspace}


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with unknown fields rejected (the API server would silently prune them)."""
    schema = copy.deepcopy(schema)

    def close(node: dict[str, Any]) -> None:
        if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            node.setdefault("additionalProperties", False)
            for sub in node["properties"].values():
                close(sub)
        if "items" in node:
            close(node["items"])

    close(schema)
    return schema


def _workspace_schema(api_version: str) -> dict[str, Any]:
    crd = crdgen.all_crds()["kaito.sh_workspaces.yaml"]
    version = api_version.split("/")[1]
    (entry,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    return _strict(entry["schema"]["openAPIV3Schema"])


def test_there_are_examples_of_both_versions_and_both_modes() -> None:
    docs = [yaml.safe_load(p.read_text()) for p in EXAMPLES]
    assert {d["apiVersion"] for d in docs} == set(MODELS)
    assert any("tuning" in d for d in docs)
    assert any("inference" in d for d in docs)
    assert (REPO / "examples/fine-tuning/kaito_workspace_tuning_phi_3.yaml") in EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_validates_against_the_generated_schema(path: pathlib.Path) -> None:
    doc = yaml.safe_load(path.read_text())
    jsonschema.Draft7Validator(_workspace_schema(doc["apiVersion"])).validate(doc)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_parses_into_the_models_and_back(path: pathlib.Path) -> None:
    doc = yaml.safe_load(path.read_text())
    model = MODELS[doc["apiVersion"]]
    workspace = model.model_validate(doc)
    wire = workspace.to_wire()
    assert model.model_validate(wire) == workspace
    _assert_subset(doc, wire, "")


def _assert_subset(expected: Any, actual: Any, path: str) -> None:
    """Everything the manifest says survives the round trip; only defaults are added."""
    if isinstance(expected, dict):
        for key, value in expected.items():
            assert key in actual, f"{path}.{key} lost"
            _assert_subset(value, actual[key], f"{path}.{key}")
    else:
        assert expected == actual, f"{path}: {expected!r} became {actual!r}"


def test_strict_schema_catches_a_typo() -> None:
    doc = yaml.safe_load(EXAMPLES[0].read_text())
    doc["resource"]["instanceTyp"] = doc["resource"].pop("instanceType")
    with pytest.raises(jsonschema.ValidationError, match="instanceTyp"):
        jsonschema.Draft7Validator(_workspace_schema(doc["apiVersion"])).validate(doc)
