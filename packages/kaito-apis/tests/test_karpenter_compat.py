"""Our Karpenter CRDs accept what upstream's accept: same names, types, requirements, enums.

The expected facts below are read off upstream Karpenter's CRDs (NodeClaim at v1.x,
Machine at karpenter-core v0.29); they are the compatibility contract with any other provider.
"""

from __future__ import annotations

from typing import Any

from kaito_apis import crdgen


def _schema(filename: str, version: str) -> dict[str, Any]:
    crd = crdgen.all_crds()[filename]
    (entry,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema: dict[str, Any] = entry["schema"]["openAPIV3Schema"]
    return schema


def _types(node: dict[str, Any], path: str = "") -> dict[str, str]:
    out = {}
    for name, sub in node.get("properties", {}).items():
        kind = "int-or-string" if sub.get("x-kubernetes-int-or-string") else sub.get("type", "?")
        out[f"{path}.{name}"] = kind
        out.update(_types(sub, f"{path}.{name}"))
        if "items" in sub:
            out.update(_types(sub["items"], f"{path}.{name}[]"))
    return out


UPSTREAM_NODECLAIM_V1 = {
    ".spec": "object",
    ".spec.taints": "array",
    ".spec.startupTaints": "array",
    ".spec.requirements": "array",
    ".spec.requirements[].key": "string",
    ".spec.requirements[].operator": "string",
    ".spec.requirements[].values": "array",
    ".spec.requirements[].minValues": "integer",
    ".spec.resources": "object",
    ".spec.resources.requests": "object",
    ".spec.nodeClassRef": "object",
    ".spec.nodeClassRef.group": "string",
    ".spec.nodeClassRef.kind": "string",
    ".spec.nodeClassRef.name": "string",
    ".spec.terminationGracePeriod": "string",
    ".spec.expireAfter": "string",
    ".status": "object",
    ".status.nodeName": "string",
    ".status.providerID": "string",
    ".status.imageID": "string",
    ".status.capacity": "object",
    ".status.allocatable": "object",
    ".status.conditions": "array",
    ".status.conditions[].type": "string",
    ".status.conditions[].status": "string",
    ".status.conditions[].reason": "string",
    ".status.conditions[].message": "string",
    ".status.conditions[].lastTransitionTime": "string",
    ".status.conditions[].observedGeneration": "integer",
    ".status.lastPodEventTime": "string",
    ".spec.taints[].key": "string",
    ".spec.taints[].value": "string",
    ".spec.taints[].effect": "string",
    ".spec.taints[].timeAdded": "string",
    ".spec.startupTaints[].key": "string",
    ".spec.startupTaints[].value": "string",
    ".spec.startupTaints[].effect": "string",
    ".spec.startupTaints[].timeAdded": "string",
}


def test_nodeclaim_fields_and_types_match_upstream() -> None:
    ours = _types(_schema("karpenter.sh_nodeclaims.yaml", "v1"))
    for path, kind in UPSTREAM_NODECLAIM_V1.items():
        assert ours.get(path) == kind, f"{path}: upstream {kind}, ours {ours.get(path)}"
    extra = {p for p in ours if p.startswith((".spec", ".status"))} - set(UPSTREAM_NODECLAIM_V1)
    assert not extra, f"fields upstream does not have: {extra}"


def test_nodeclaim_required_enums_defaults_and_immutability() -> None:
    schema = _schema("karpenter.sh_nodeclaims.yaml", "v1")
    spec = schema["properties"]["spec"]
    assert schema["required"] == ["spec"]
    assert sorted(spec["required"]) == ["nodeClassRef", "requirements"]
    assert sorted(spec["properties"]["nodeClassRef"]["required"]) == ["group", "kind", "name"]
    assert spec["properties"]["expireAfter"]["default"] == "720h"
    assert {"rule": "self == oldSelf", "message": "spec is immutable"} in spec[
        "x-kubernetes-validations"
    ]
    requirement = spec["properties"]["requirements"]["items"]
    assert requirement["properties"]["operator"]["enum"] == [
        "In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"
    ]  # fmt: skip
    assert sorted(requirement["required"]) == ["key", "operator"]
    assert spec["properties"]["requirements"]["maxItems"] == 100
    taint = spec["properties"]["taints"]["items"]
    assert taint["properties"]["effect"]["enum"] == ["NoSchedule", "PreferNoSchedule", "NoExecute"]
    assert sorted(taint["required"]) == ["effect", "key"]
    condition = schema["properties"]["status"]["properties"]["conditions"]["items"]
    assert sorted(condition["required"]) == ["lastTransitionTime", "status", "type"]
    assert condition["properties"]["status"]["enum"] == ["True", "False", "Unknown"]


UPSTREAM_MACHINE_V1ALPHA5 = {
    ".spec.taints": "array",
    ".spec.startupTaints": "array",
    ".spec.requirements": "array",
    ".spec.requirements[].key": "string",
    ".spec.requirements[].operator": "string",
    ".spec.requirements[].values": "array",
    ".spec.resources.requests": "object",
    ".spec.kubelet": "object",
    ".spec.kubelet.clusterDNS": "array",
    ".spec.kubelet.maxPods": "integer",
    ".spec.kubelet.systemReserved": "object",
    ".spec.kubelet.kubeReserved": "object",
    ".spec.kubelet.evictionHard": "object",
    ".spec.machineTemplateRef": "object",
    ".spec.machineTemplateRef.name": "string",
    ".spec.machineTemplateRef.kind": "string",
    ".spec.machineTemplateRef.apiVersion": "string",
    ".status.nodeName": "string",
    ".status.providerID": "string",
    ".status.capacity": "object",
    ".status.allocatable": "object",
    ".status.conditions[].type": "string",
    ".status.conditions[].status": "string",
    ".status.conditions[].severity": "string",
    ".status.conditions[].reason": "string",
    ".status.conditions[].message": "string",
    ".status.conditions[].lastTransitionTime": "string",
}


def test_machine_fields_and_types_match_upstream() -> None:
    schema = _schema("karpenter.sh_machines.yaml", "v1alpha5")
    ours = _types(schema)
    for path, kind in UPSTREAM_MACHINE_V1ALPHA5.items():
        assert ours.get(path) == kind, f"{path}: upstream {kind}, ours {ours.get(path)}"
    assert "required" not in schema["properties"]["spec"], "upstream Machine spec requires nothing"
    condition = schema["properties"]["status"]["properties"]["conditions"]["items"]
    assert sorted(condition["required"]) == ["status", "type"]


def test_both_karpenter_crds_are_cluster_scoped_in_the_karpenter_category() -> None:
    for filename in ("karpenter.sh_machines.yaml", "karpenter.sh_nodeclaims.yaml"):
        spec = crdgen.all_crds()[filename]["spec"]
        assert spec["scope"] == "Cluster"
        assert spec["names"]["categories"] == ["karpenter"]
        assert spec["group"] == "karpenter.sh"
