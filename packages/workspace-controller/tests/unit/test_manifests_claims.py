"""NodeClaims and Machines: Kaito's labels, requirements, taint and storage; valid claims."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest

from kaito_apis import crdgen
from kaito_apis.karpenter import v1, v1alpha5
from kaito_apis.workspace import v1beta1
from workspace_controller.manifests import claims
from workspace_controller.settings import ProvisioningSettings

ToWorkspace = Callable[[dict[str, Any]], v1beta1.Workspace]


SETTINGS = ProvisioningSettings()


def _requirements(claim: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    return {r["key"]: (r["operator"], r["values"]) for r in claim["spec"]["requirements"]}


def _nodeclaim(ws: v1beta1.Workspace, *, sku: str = "Standard_NC6s_v3") -> dict[str, Any]:
    return claims.nodeclaim(
        ws, name="ws0123abcde", instance_type=sku, storage_gib=80, settings=SETTINGS
    )


def _machine(ws: v1beta1.Workspace, *, sku: str = "Standard_NC6s_v3") -> dict[str, Any]:
    return claims.machine(
        ws, name="ws0123abcde", instance_type=sku, storage_gib=80, settings=SETTINGS
    )


def _crd_schema(file_name: str, version: str) -> dict[str, Any]:
    crd = crdgen.all_crds()[file_name]
    (entry,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema: dict[str, Any] = entry["schema"]["openAPIV3Schema"]
    return schema


def test_claim_name_is_ws_and_nine_hex_digits_and_deterministic() -> None:
    name = claims.claim_name(namespace="default", name="workspace-tuning-phi-3", seed="uid-0")
    assert re.fullmatch(r"ws[0-9a-f]{9}", name)
    assert name == claims.claim_name(
        namespace="default", name="workspace-tuning-phi-3", seed="uid-0"
    )


@pytest.mark.parametrize(
    "other",
    [
        {"namespace": "prod", "name": "workspace-tuning-phi-3", "seed": "uid-0"},
        {"namespace": "default", "name": "workspace-tuning-phi-4", "seed": "uid-0"},
        {"namespace": "default", "name": "workspace-tuning-phi-3", "seed": "uid-1"},
    ],
    ids=["namespace", "name", "seed"],
)
def test_claim_name_changes_with_each_input(other: dict[str, str]) -> None:
    base = claims.claim_name(namespace="default", name="workspace-tuning-phi-3", seed="uid-0")
    assert claims.claim_name(**other) != base


def test_nodeclaim_validates_against_the_karpenter_v1_model(seed: v1beta1.Workspace) -> None:
    manifest = _nodeclaim(seed)
    model = v1.NodeClaim.model_validate(manifest)
    assert model.metadata.name == "ws0123abcde"
    jsonschema.validate(manifest, _crd_schema("karpenter.sh_nodeclaims.yaml", "v1"))
    assert manifest["apiVersion"] == "karpenter.sh/v1"
    assert manifest["kind"] == "NodeClaim"


def test_nodeclaim_carries_kaitos_labels_and_annotations(seed: v1beta1.Workspace) -> None:
    metadata = _nodeclaim(seed)["metadata"]
    assert metadata["labels"] == {
        "app": "tuning-phi-3",
        "karpenter.sh/nodepool": "kaito",
        "kaito.sh/workspace": "workspace-tuning-phi-3",
        "kaito.sh/workspacenamespace": "default",
    }
    assert metadata["annotations"] == {
        "karpenter.sh/do-not-disrupt": "true",
        "kaito.sh/node-image-family": "ubuntu",
    }
    assert "ownerReferences" not in metadata  # cluster-scoped: deleted by the finalizer
    assert "namespace" not in metadata


def test_nodeclaim_asks_for_the_sku_on_linux_amd64_in_the_fake_pool(
    seed: v1beta1.Workspace,
) -> None:
    manifest = _nodeclaim(seed)
    assert _requirements(manifest) == {
        "karpenter.sh/nodepool": ("In", ["kaito"]),
        "node.kubernetes.io/instance-type": ("In", ["Standard_NC6s_v3"]),
        "kubernetes.io/os": ("In", ["linux"]),
        "kubernetes.io/arch": ("In", ["amd64"]),
        "karpenter.azure.com/sku-name": ("In", ["Standard_NC6s_v3"]),
    }
    spec = manifest["spec"]
    assert spec["taints"] == [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}]
    assert spec["resources"] == {"requests": {"storage": "80Gi"}}
    assert spec["nodeClassRef"] == {
        "group": "kaito.sh",
        "kind": "KaitoNodeClass",
        "name": "default",
    }
    assert spec["expireAfter"] == "Never"


def test_nodeclaim_for_a_non_azure_sku_has_no_azure_requirement(seed: v1beta1.Workspace) -> None:
    manifest = _nodeclaim(seed, sku="p4d.24xlarge")
    assert "karpenter.azure.com/sku-name" not in _requirements(manifest)
    v1.NodeClaim.model_validate(manifest)


def test_nodeclaim_follows_the_settings(seed: v1beta1.Workspace) -> None:
    settings = ProvisioningSettings(
        node_class_group="karpenter.azure.com",
        node_class_kind="AKSNodeClass",
        node_class_name="gpu",
        node_pool_name="workspaces",
        default_node_image_family="azurelinux",
    )
    manifest = claims.nodeclaim(
        seed,
        name="ws0123abcde",
        instance_type="Standard_NC6s_v3",
        storage_gib=1024,
        settings=settings,
    )
    assert manifest["metadata"]["labels"]["karpenter.sh/nodepool"] == "workspaces"
    assert _requirements(manifest)["karpenter.sh/nodepool"] == ("In", ["workspaces"])
    assert manifest["metadata"]["annotations"]["kaito.sh/node-image-family"] == "azurelinux"
    assert manifest["spec"]["nodeClassRef"] == {
        "group": "karpenter.azure.com",
        "kind": "AKSNodeClass",
        "name": "gpu",
    }
    assert manifest["spec"]["resources"]["requests"]["storage"] == "1024Gi"


def test_the_workspace_annotation_picks_the_node_image_family(
    to_workspace: ToWorkspace, seed_doc: dict[str, Any]
) -> None:
    doc = copy.deepcopy(seed_doc)
    doc["metadata"]["annotations"] = {"kaito.sh/node-image-family": "azurelinux"}
    ws = to_workspace(doc)
    assert _nodeclaim(ws)["metadata"]["annotations"]["kaito.sh/node-image-family"] == "azurelinux"
    assert _machine(ws)["metadata"]["annotations"]["kaito.sh/node-image-family"] == "azurelinux"


def test_machine_validates_against_the_karpenter_v1alpha5_model(seed: v1beta1.Workspace) -> None:
    manifest = _machine(seed)
    v1alpha5.Machine.model_validate(manifest)
    jsonschema.validate(manifest, _crd_schema("karpenter.sh_machines.yaml", "v1alpha5"))
    assert manifest["apiVersion"] == "karpenter.sh/v1alpha5"
    assert manifest["kind"] == "Machine"


def test_machine_has_the_provisioner_label_requirements_and_template_ref(
    seed: v1beta1.Workspace,
) -> None:
    manifest = _machine(seed)
    assert manifest["metadata"]["labels"] == {
        "app": "tuning-phi-3",
        "karpenter.sh/provisioner-name": "default",
        "kaito.sh/workspace": "workspace-tuning-phi-3",
        "kaito.sh/workspacenamespace": "default",
    }
    assert _requirements(manifest) == {
        "node.kubernetes.io/instance-type": ("In", ["Standard_NC6s_v3"]),
        "karpenter.sh/provisioner-name": ("In", ["default"]),
        "kaito.sh/machine-type": ("In", ["gpu"]),
        "kubernetes.io/arch": ("In", ["amd64"]),
        "kubernetes.io/os": ("In", ["linux"]),
    }
    spec = manifest["spec"]
    assert spec["taints"] == [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}]
    assert spec["resources"] == {"requests": {"storage": "80Gi"}}
    assert spec["machineTemplateRef"] == {"name": "ws0123abcde"}
    assert "ownerReferences" not in manifest["metadata"]


@pytest.mark.parametrize("api", ["machine", "nodeclaim"])
def test_reserved_match_labels_never_reach_a_claim(
    to_workspace: ToWorkspace, seed_doc: dict[str, Any], api: str
) -> None:
    doc = copy.deepcopy(seed_doc)
    doc["resource"]["labelSelector"]["matchLabels"].update(
        {"kaito.sh/workspace": "someone-else", "kaito.sh/workspacenamespace": "elsewhere"}
    )
    ws = to_workspace(doc)
    build = claims.machine if api == "machine" else claims.nodeclaim
    labels = build(
        ws, name="ws0123abcde", instance_type="Standard_NC6s_v3", storage_gib=80, settings=SETTINGS
    )["metadata"]["labels"]
    assert labels["kaito.sh/workspace"] == "workspace-tuning-phi-3"
    assert labels["kaito.sh/workspacenamespace"] == "default"
    assert labels["app"] == "tuning-phi-3"


@pytest.mark.parametrize("build", [claims.nodeclaim, claims.machine])
def test_a_claim_needs_a_positive_storage_request(
    seed: v1beta1.Workspace, build: Callable[..., dict[str, Any]]
) -> None:
    with pytest.raises(ValueError, match="storage_gib"):
        build(
            seed,
            name="ws0123abcde",
            instance_type="Standard_NC6s_v3",
            storage_gib=0,
            settings=SETTINGS,
        )


def test_claim_labels_pick_the_pool_label_by_api(seed: v1beta1.Workspace) -> None:
    machine_labels = claims.claim_labels(seed, settings=SETTINGS, api="machine")
    nodeclaim_labels = claims.claim_labels(seed, settings=SETTINGS, api="nodeclaim")
    assert machine_labels["karpenter.sh/provisioner-name"] == "default"
    assert "karpenter.sh/nodepool" not in machine_labels
    assert nodeclaim_labels["karpenter.sh/nodepool"] == "kaito"
    assert "karpenter.sh/provisioner-name" not in nodeclaim_labels
