"""Names in the Workspace contract: group, kind, condition types, labels, annotations.

The values are Kaito's, so dashboards, scripts and `kubectl` habits built for Kaito keep working.
"""

from __future__ import annotations

import enum
from typing import Final

GROUP: Final = "kaito.sh"
KIND: Final = "Workspace"
PLURAL: Final = "workspaces"
SINGULAR: Final = "workspace"
SHORT_NAMES: Final = ("wk", "wks")
CATEGORIES: Final = ("workspace",)
STORAGE_VERSION: Final = "v1beta1"

FINALIZER: Final = "workspace.finalizer.kaito.sh"


class ConditionType(enum.StrEnum):
    """Status condition types a Workspace reports."""

    MACHINE_READY = "MachineReady"
    NODE_CLAIM_READY = "NodeClaimReady"
    NODES_READY = "NodesReady"
    RESOURCE_READY = "ResourceReady"
    INFERENCE_READY = "InferenceReady"
    JOB_STARTED = "JobStarted"
    WORKSPACE_SUCCEEDED = "WorkspaceSucceeded"
    WORKSPACE_DELETING = "WorkspaceDeleting"


class State(enum.StrEnum):
    """The one-word summary in status.state (v1beta1)."""

    PENDING = "Pending"
    READY = "Ready"
    NOT_READY = "NotReady"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class TuningMethod(enum.StrEnum):
    """Parameter-efficient fine-tuning methods a tuning Workspace may ask for."""

    LORA = "lora"
    QLORA = "qlora"


class PartitionMode(enum.StrEnum):
    """How a node's GPUs are shared (v1beta1 resource.partition.mode)."""

    MIG = "mig"
    ACCELERATOR = "accelerator"


class ModelImageAccessMode(enum.StrEnum):
    """Whether a preset's image is public or private (deprecated in v1beta1)."""

    PUBLIC = "public"
    PRIVATE = "private"


# Labels the controller puts on the claims (and so the nodes) and pods it creates.
LABEL_WORKSPACE: Final = "kaito.sh/workspace"
LABEL_WORKSPACE_NAMESPACE: Final = "kaito.sh/workspacenamespace"
LABEL_REVISION_WORKSPACE_NAME: Final = "workspace.kaito.io/name"

# matchLabels keys that users may not set: the controller owns them.
RESERVED_SELECTOR_KEYS: Final = frozenset(
    {
        LABEL_WORKSPACE,
        LABEL_WORKSPACE_NAMESPACE,
        "kaito.sh/ragengine",
        "kaito.sh/ragenginenamespace",
        "karpenter.kaito.sh/workspace-name",
        "karpenter.kaito.sh/workspace-namespace",
        "karpenter.kaito.sh/inferenceset",
        "karpenter.kaito.sh/inferenceset-namespace",
    }
)

# Annotations users set on a Workspace to switch behaviour.
ANNOTATION_ENABLE_LB: Final = "kaito.sh/enablelb"
ANNOTATION_RUNTIME: Final = "kaito.sh/runtime"
ANNOTATION_BYPASS_RESOURCE_CHECKS: Final = "kaito.sh/bypass-resource-checks"
ANNOTATION_NODE_IMAGE_FAMILY: Final = "kaito.sh/node-image-family"
ANNOTATION_NODE_CLASS_NAME: Final = "kaito.sh/node-class-name"
ANNOTATION_DISABLE_BENCHMARK: Final = "kaito.sh/disable-benchmark"
ANNOTATION_PERFORMANCE_MODE: Final = "kaito.sh/performance-mode"
ANNOTATION_USE_LOCAL_WEIGHTS: Final = "kaito.sh/use-local-weights"

# Annotations the controller writes.
ANNOTATION_HASH: Final = "workspace.kaito.io/hash"
ANNOTATION_REVISION: Final = "workspace.kaito.io/revision"

MAX_ADAPTERS: Final = 10

MAX_NODE_COUNT: Final = 100
"""The most GPU nodes one Workspace may have (resource.count, status.targetNodeCount).

The CRD's hard ceiling; the admission policy's cap (a chart value, 10 by default) is the working
limit below it. Why 100: every NodeClaim becomes an AKS agent pool of its own and AKS allows 100
agent pools per cluster, so no Workspace can ever get more nodes than that on AKS; real Kaito
manifests ask for 1 to a handful (the preset catalog never needs more than 3)."""

MAX_PARTITION_GPUS: Final = 16
"""The most whole GPUs resource.partition.count may ask for: no Azure or AWS GPU VM has more than 8
GPUs; 16 leaves room without admitting absurd numbers."""
