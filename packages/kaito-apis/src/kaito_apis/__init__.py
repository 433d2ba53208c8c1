"""Typed API models for Workspace, Machine and NodeClaim, and the CRD generator.

Pure data, no I/O: pydantic models that parse what the API server returns and build what the
controllers send. The CRDs under crds/ are generated from them (``kaito_apis.crdgen``), so the
Python types and the cluster's schema cannot drift apart.

Both controllers import this package; neither imports the other. A node provider needs only
``kaito_apis.karpenter``; an import contract keeps ``gpu_provisioner`` off
``kaito_apis.workspace``.
"""

from kaito_apis import karpenter, workspace
from kaito_apis._base import (
    Condition,
    ConditionStatus,
    KubeModel,
    LabelSelector,
    LabelSelectorRequirement,
    ObjectMeta,
    Quantity,
    ResourceList,
    Taint,
    TaintEffect,
)

__all__ = [
    "Condition",
    "ConditionStatus",
    "KubeModel",
    "LabelSelector",
    "LabelSelectorRequirement",
    "ObjectMeta",
    "Quantity",
    "ResourceList",
    "Taint",
    "TaintEffect",
    "karpenter",
    "workspace",
]
