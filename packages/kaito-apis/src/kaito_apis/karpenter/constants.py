"""Karpenter's well-known names: group, kinds, labels, annotations, taints, finalizer."""

from __future__ import annotations

import enum
from typing import Final

GROUP: Final = "karpenter.sh"
CATEGORIES: Final = ("karpenter",)

MACHINE_KIND: Final = "Machine"
MACHINE_PLURAL: Final = "machines"
NODECLAIM_KIND: Final = "NodeClaim"
NODECLAIM_PLURAL: Final = "nodeclaims"

FINALIZER_TERMINATION: Final = "karpenter.sh/termination"

LABEL_NODEPOOL: Final = "karpenter.sh/nodepool"
LABEL_PROVISIONER_NAME: Final = "karpenter.sh/provisioner-name"
LABEL_INITIALIZED: Final = "karpenter.sh/initialized"
LABEL_REGISTERED: Final = "karpenter.sh/registered"
LABEL_CAPACITY_TYPE: Final = "karpenter.sh/capacity-type"
LABEL_DO_NOT_SYNC_TAINTS: Final = "karpenter.sh/do-not-sync-taints"

LABEL_INSTANCE_TYPE: Final = "node.kubernetes.io/instance-type"
LABEL_ZONE: Final = "topology.kubernetes.io/zone"
LABEL_REGION: Final = "topology.kubernetes.io/region"
LABEL_ARCH: Final = "kubernetes.io/arch"
LABEL_OS: Final = "kubernetes.io/os"

ANNOTATION_DO_NOT_DISRUPT: Final = "karpenter.sh/do-not-disrupt"
ANNOTATION_DO_NOT_EVICT: Final = "karpenter.sh/do-not-evict"

TAINT_UNREGISTERED: Final = "karpenter.sh/unregistered"
TAINT_DISRUPTED: Final = "karpenter.sh/disrupted"

# Label keys a NodeClaim requirement may use inside the restricted kubernetes.io domain.
WELL_KNOWN_KUBERNETES_LABELS: Final = (
    "beta.kubernetes.io/instance-type",
    "failure-domain.beta.kubernetes.io/region",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch",
    "failure-domain.beta.kubernetes.io/zone",
    LABEL_ZONE,
    LABEL_REGION,
    LABEL_INSTANCE_TYPE,
    LABEL_ARCH,
    LABEL_OS,
    "node.kubernetes.io/windows-build",
)


class MachineConditionType(enum.StrEnum):
    """Condition types of a v1alpha5 Machine."""

    LAUNCHED = "MachineLaunched"
    REGISTERED = "MachineRegistered"
    INITIALIZED = "MachineInitialized"
    READY = "Ready"


class NodeClaimConditionType(enum.StrEnum):
    """Condition types of a v1 NodeClaim (the lifecycle ones and the root Ready)."""

    LAUNCHED = "Launched"
    REGISTERED = "Registered"
    INITIALIZED = "Initialized"
    READY = "Ready"
    DRIFTED = "Drifted"
    INSTANCE_TERMINATING = "InstanceTerminating"


class Operator(enum.StrEnum):
    """Node selector requirement operators."""

    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"
    GT = "Gt"
    LT = "Lt"
