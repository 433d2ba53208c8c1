"""The two claim APIs served: where they live, what their conditions are called, which are ours.

A Machine (karpenter.sh/v1alpha5) and a NodeClaim (karpenter.sh/v1) go through the same lifecycle;
only the condition names, the group-kind selection rule and observedGeneration differ.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from controller_kit import Resource
from kaito_apis.karpenter import constants

if TYPE_CHECKING:
    from collections.abc import Mapping

NODECLAIM_NODE_LABEL = "karpenter.sh/nodeclaim"
"""Names a Node's NodeClaim on Nodes that carry it; termination also finds Nodes by it."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClaimKind:
    kind: str
    resource: Resource
    launched: str
    registered: str
    initialized: str
    ready: str = "Ready"
    observed_generation: bool = True
    """Whether conditions carry observedGeneration (v1 metav1-style ones do)."""
    node_label: str = ""
    """A Node label whose value names its claim, where one is in use ("" for none)."""

    @property
    def controller_name(self) -> str:
        return f"{self.kind.lower()}.lifecycle"


NODECLAIM = ClaimKind(
    kind=constants.NODECLAIM_KIND,
    resource=Resource(
        group=constants.GROUP,
        version="v1",
        plural=constants.NODECLAIM_PLURAL,
        kind=constants.NODECLAIM_KIND,
        namespaced=False,
    ),
    launched=constants.NodeClaimConditionType.LAUNCHED,
    registered=constants.NodeClaimConditionType.REGISTERED,
    initialized=constants.NodeClaimConditionType.INITIALIZED,
    node_label=NODECLAIM_NODE_LABEL,
)
MACHINE = ClaimKind(
    kind=constants.MACHINE_KIND,
    resource=Resource(
        group=constants.GROUP,
        version="v1alpha5",
        plural=constants.MACHINE_PLURAL,
        kind=constants.MACHINE_KIND,
        namespaced=False,
    ),
    launched=constants.MachineConditionType.LAUNCHED,
    registered=constants.MachineConditionType.REGISTERED,
    initialized=constants.MachineConditionType.INITIALIZED,
    observed_generation=False,
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Selection:
    """Which claims are ours: nodeClassRef group/kind (NodeClaims), or any of these labels."""

    node_class_group: str = "kaito.sh"
    node_class_kind: str = "KaitoNodeClass"
    labels: tuple[str, ...] = ("kaito.sh/workspace", "kaito.sh/ragengine")

    def manages(self, obj: Mapping[str, Any]) -> bool:
        ref = (obj.get("spec") or {}).get("nodeClassRef") or {}
        if ref.get("group") == self.node_class_group and ref.get("kind") == self.node_class_kind:
            return True
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return any(key in labels for key in self.labels)


def nodepool_of(obj: Mapping[str, Any]) -> str:
    """The metric label: the claim's nodepool (or provisioner-name) label."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return str(
        labels.get(constants.LABEL_NODEPOOL) or labels.get(constants.LABEL_PROVISIONER_NAME) or ""
    )
