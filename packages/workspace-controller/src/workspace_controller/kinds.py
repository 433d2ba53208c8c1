"""REST coordinates of the kinds this controller reads and writes."""

from __future__ import annotations

from typing import Literal

from controller_kit import Resource, resources
from kaito_apis.karpenter import constants as karpenter
from kaito_apis.workspace import constants as workspace

WORKSPACES = Resource(
    group=workspace.GROUP,
    version=workspace.STORAGE_VERSION,
    plural=workspace.PLURAL,
    kind=workspace.KIND,
    namespaced=True,
)
NODECLAIMS = Resource(
    group=karpenter.GROUP,
    version="v1",
    plural=karpenter.NODECLAIM_PLURAL,
    kind=karpenter.NODECLAIM_KIND,
    namespaced=False,
)
MACHINES = Resource(
    group=karpenter.GROUP,
    version="v1alpha5",
    plural=karpenter.MACHINE_PLURAL,
    kind=karpenter.MACHINE_KIND,
    namespaced=False,
)

__all__ = ["CLAIMS", "ClaimApi", "Resource"]

ClaimApi = Literal["machine", "nodeclaim"]

CLAIMS: dict[ClaimApi, Resource] = {"machine": MACHINES, "nodeclaim": NODECLAIMS}

NODES = resources.NODES
PODS = resources.PODS
JOBS = resources.JOBS
DEPLOYMENTS = resources.DEPLOYMENTS
STATEFULSETS = resources.STATEFULSETS
SERVICES = resources.SERVICES
CONFIGMAPS = resources.CONFIGMAPS

# Condition types that say a claim is up, and that its launch went wrong, per claim API.
CLAIM_READY: dict[ClaimApi, str] = {
    "machine": karpenter.MachineConditionType.READY,
    "nodeclaim": karpenter.NodeClaimConditionType.READY,
}
CLAIM_LAUNCHED: dict[ClaimApi, str] = {
    "machine": karpenter.MachineConditionType.LAUNCHED,
    "nodeclaim": karpenter.NodeClaimConditionType.LAUNCHED,
}
