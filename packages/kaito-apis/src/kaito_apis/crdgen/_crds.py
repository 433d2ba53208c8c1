"""The three CRDs: names, versions, printer columns and subresources around the model schemas."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import yaml

from kaito_apis.crdgen import _schema
from kaito_apis.karpenter import constants as karpenter
from kaito_apis.karpenter import v1, v1alpha5
from kaito_apis.workspace import constants as workspace
from kaito_apis.workspace import v1alpha1, v1beta1

if TYPE_CHECKING:
    import pydantic


@dataclasses.dataclass(frozen=True, kw_only=True)
class Column:
    """One ``kubectl get`` column."""

    name: str
    json_path: str
    type: str = "string"
    priority: int = 0

    def to_schema(self) -> dict[str, Any]:
        col: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.priority:
            col["priority"] = self.priority
        return col


@dataclasses.dataclass(frozen=True, kw_only=True)
class Version:
    name: str
    model: type[pydantic.BaseModel]
    storage: bool
    columns: tuple[Column, ...]
    deprecation_warning: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Crd:
    group: str
    kind: str
    plural: str
    singular: str
    scope: str
    versions: tuple[Version, ...]
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.plural}.{self.group}"

    def to_manifest(self) -> dict[str, Any]:
        names: dict[str, Any] = {
            "kind": self.kind,
            "listKind": f"{self.kind}List",
            "plural": self.plural,
            "singular": self.singular,
        }
        if self.short_names:
            names["shortNames"] = list(self.short_names)
        if self.categories:
            names["categories"] = list(self.categories)
        versions = []
        for version in self.versions:
            schema = _schema.structural_schema(version.model)
            entry: dict[str, Any] = {
                "name": version.name,
                "served": True,
                "storage": version.storage,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [c.to_schema() for c in version.columns],
                "schema": {"openAPIV3Schema": schema},
            }
            versions.append(entry)
        return {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": self.name},
            "spec": {
                "group": self.group,
                "names": names,
                "scope": self.scope,
                "versions": versions,
            },
        }


def _condition(name: str, condition_type: str | None = None) -> Column:
    return Column(
        name=str(name),
        json_path=f'.status.conditions[?(@.type=="{condition_type or name}")].status',
    )


_AGE = Column(name="Age", json_path=".metadata.creationTimestamp", type="date")
_WORKSPACE_COLUMNS = (
    Column(name="Instance", json_path=".resource.instanceType"),
    _condition(workspace.ConditionType.RESOURCE_READY),
    _condition(workspace.ConditionType.INFERENCE_READY),
    _condition(workspace.ConditionType.JOB_STARTED),
    _condition(workspace.ConditionType.WORKSPACE_SUCCEEDED),
)

WORKSPACES = Crd(
    group=workspace.GROUP,
    kind=workspace.KIND,
    plural=workspace.PLURAL,
    singular=workspace.SINGULAR,
    scope="Namespaced",
    short_names=workspace.SHORT_NAMES,
    categories=workspace.CATEGORIES,
    versions=(
        Version(
            name="v1alpha1",
            model=v1alpha1.Workspace,
            storage=False,
            columns=(*_WORKSPACE_COLUMNS, _AGE),
        ),
        Version(
            name="v1beta1",
            model=v1beta1.Workspace,
            storage=True,
            columns=(
                *_WORKSPACE_COLUMNS,
                Column(name="TargetNodeCount", json_path=".status.targetNodeCount", type="integer"),
                Column(name="State", json_path=".status.state"),
                _AGE,
            ),
        ),
    ),
)

_INSTANCE_TYPE = Column(
    name="Type", json_path=".metadata.labels.node\\.kubernetes\\.io/instance-type"
)
_ZONE = Column(name="Zone", json_path=".metadata.labels.topology\\.kubernetes\\.io/zone")
_CAPACITY = Column(name="Capacity", json_path=".metadata.labels.karpenter\\.sh/capacity-type")
_NODE = Column(name="Node", json_path=".status.nodeName")
_READY = _condition("Ready")

MACHINES = Crd(
    group=karpenter.GROUP,
    kind=karpenter.MACHINE_KIND,
    plural=karpenter.MACHINE_PLURAL,
    singular="machine",
    scope="Cluster",
    categories=karpenter.CATEGORIES,
    versions=(
        Version(
            name="v1alpha5",
            model=v1alpha5.Machine,
            storage=True,
            columns=(
                _INSTANCE_TYPE,
                _ZONE,
                _NODE,
                _READY,
                _AGE,
                dataclasses.replace(_CAPACITY, priority=1),
                Column(
                    name="Provisioner",
                    json_path=".metadata.labels.karpenter\\.sh/provisioner-name",
                    priority=1,
                ),
                Column(name="Template", json_path=".spec.machineTemplateRef.name", priority=1),
            ),
        ),
    ),
)

NODECLAIMS = Crd(
    group=karpenter.GROUP,
    kind=karpenter.NODECLAIM_KIND,
    plural=karpenter.NODECLAIM_PLURAL,
    singular="nodeclaim",
    scope="Cluster",
    categories=karpenter.CATEGORIES,
    versions=(
        Version(
            name="v1",
            model=v1.NodeClaim,
            storage=True,
            columns=(
                _INSTANCE_TYPE,
                _CAPACITY,
                _ZONE,
                _NODE,
                _READY,
                _AGE,
                Column(name="ID", json_path=".status.providerID", priority=1),
                Column(
                    name="NodePool",
                    json_path=".metadata.labels.karpenter\\.sh/nodepool",
                    priority=1,
                ),
                Column(name="NodeClass", json_path=".spec.nodeClassRef.name", priority=1),
            ),
        ),
    ),
)

CRD_FILES: dict[str, Crd] = {
    f"{WORKSPACES.group}_{WORKSPACES.plural}.yaml": WORKSPACES,
    f"{MACHINES.group}_{MACHINES.plural}.yaml": MACHINES,
    f"{NODECLAIMS.group}_{NODECLAIMS.plural}.yaml": NODECLAIMS,
}
"""File name under crds/ → CRD."""


def all_crds() -> dict[str, dict[str, Any]]:
    """File name → CRD manifest."""
    return {filename: crd.to_manifest() for filename, crd in CRD_FILES.items()}


class _Dumper(yaml.SafeDumper):
    """Plain YAML: no anchors/aliases even where the same list object appears twice."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render() -> dict[str, str]:
    """File name → YAML text, exactly as committed under crds/."""
    header = (
        "# Generated by `make crds` (python -m kaito_apis.crdgen) from kaito_apis. Do not edit.\n"
    )
    return {
        filename: header + yaml.dump(manifest, Dumper=_Dumper, sort_keys=False, width=100)
        for filename, manifest in all_crds().items()
    }
