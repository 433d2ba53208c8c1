"""The committed CRDs are exactly what the models generate, and every field is explained."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
import yaml

from kaito_apis import crdgen
from kaito_apis.crdgen import __main__ as cli

REPO = pathlib.Path(__file__).resolve().parents[3]
CRDS = REPO / "crds"


def test_committed_crds_match_the_models() -> None:
    rendered = crdgen.render()
    committed = {p.name for p in CRDS.glob("*.yaml")}
    assert committed == set(rendered), "crds/ has files the generator does not make (or lacks some)"
    for filename, text in rendered.items():
        assert (CRDS / filename).read_text() == text, f"{filename} is stale: run `make crds`"


def test_generation_is_deterministic() -> None:
    assert crdgen.render() == crdgen.render()


def test_check_mode_reports_a_stale_file(tmp_path: pathlib.Path) -> None:
    assert cli.main(["--out", str(tmp_path)]) == 0
    assert cli.main(["--out", str(tmp_path), "--check"]) == 0
    stale = tmp_path / "kaito.sh_workspaces.yaml"
    stale.write_text(stale.read_text().replace("Workspace", "Workplace", 1))
    assert cli.main(["--out", str(tmp_path), "--check"]) == 1


def _walk(node: dict[str, Any], path: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, sub in node.get("properties", {}).items():
        found.append((f"{path}.{name}", sub))
        found.extend(_walk(sub, f"{path}.{name}"))
    if "items" in node:
        found.extend(_walk(node["items"], f"{path}[]"))
    if isinstance(node.get("additionalProperties"), dict):
        found.extend(_walk(node["additionalProperties"], f"{path}{{}}"))
    return found


def _versions() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{crd['metadata']['name']}/{v['name']}", v["schema"]["openAPIV3Schema"])
        for crd in crdgen.all_crds().values()
        for v in crd["spec"]["versions"]
    ]


@pytest.mark.parametrize(("version", "schema"), _versions(), ids=lambda v: str(v)[:40])
def test_every_field_has_a_description(version: str, schema: dict[str, Any]) -> None:
    undescribed = [
        path
        for path, sub in _walk(schema, "")
        if path != ".metadata" and not sub.get("description")
    ]
    assert not undescribed, f"{version}: fields without description: {undescribed}"


@pytest.mark.parametrize(("version", "schema"), _versions(), ids=lambda v: str(v)[:40])
def test_schemas_are_structural(version: str, schema: dict[str, Any]) -> None:
    """No construct that the API server rejects in a structural schema."""
    text = yaml.safe_dump(schema)
    for forbidden in ("$ref", "allOf", "const:", "title:", "type: 'null'", "nullable"):
        assert forbidden not in text, f"{version} contains {forbidden}"
    for path, sub in [("", schema), *_walk(schema, "")]:
        if "anyOf" not in sub:
            assert "type" in sub or sub.get("x-kubernetes-preserve-unknown-fields"), (
                f"{version}{path} has no type"
            )
    assert schema["properties"]["metadata"] == {"type": "object"}


def test_workspace_crd_shape() -> None:
    crd = crdgen.all_crds()["kaito.sh_workspaces.yaml"]
    spec = crd["spec"]
    assert spec["group"] == "kaito.sh"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["shortNames"] == ["wk", "wks"]
    versions = {v["name"]: v for v in spec["versions"]}
    assert [n for n, v in versions.items() if v["storage"]] == ["v1beta1"]
    assert all(v["served"] and v["subresources"] == {"status": {}} for v in versions.values())
    columns = {n: [c["name"] for c in v["additionalPrinterColumns"]] for n, v in versions.items()}
    kaito = ["Instance", "ResourceReady", "InferenceReady", "JobStarted", "WorkspaceSucceeded"]
    assert columns["v1alpha1"] == [*kaito, "Age"]
    assert columns["v1beta1"] == [*kaito, "TargetNodeCount", "State", "Age"]
    for v in versions.values():
        props = v["schema"]["openAPIV3Schema"]["properties"]
        assert "spec" not in props, (
            "a Workspace has no spec: resource/inference/tuning are top-level"
        )
        assert {"resource", "inference", "tuning", "status"} <= set(props)
    beta = versions["v1beta1"]["schema"]["openAPIV3Schema"]["properties"]
    alpha = versions["v1alpha1"]["schema"]["openAPIV3Schema"]["properties"]
    assert "partition" in beta["resource"]["properties"]
    assert "partition" not in alpha["resource"]["properties"]
    assert {"state", "targetNodeCount", "performance"} <= set(beta["status"]["properties"])
    assert not {"state", "targetNodeCount"} & set(alpha["status"]["properties"])
    assert beta["resource"]["properties"]["count"]["default"] == 1
