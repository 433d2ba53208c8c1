"""Machine ``karpenter.sh/v1alpha5``: the node claim of the original Kaito design.

The schema is karpenter-core v0.29's.

Cluster-scoped. Kept loose where upstream was loose (no required spec fields, free-form operator),
so any v0.29-era client's Machine validates.
"""

from __future__ import annotations

import datetime
from typing import Literal

import pydantic

from kaito_apis import _base

API_VERSION: Literal["karpenter.sh/v1alpha5"] = "karpenter.sh/v1alpha5"


class NodeSelectorRequirement(_base.KubeModel):
    """A requirement on a node label: key, operator and values."""

    key: str
    """The node label key."""
    operator: str
    """In, NotIn, Exists, DoesNotExist, Gt or Lt."""
    values: list[str] | None = None
    """Values for In/NotIn (at least one), none for Exists/DoesNotExist, one integer for Gt/Lt."""


class ResourceRequirements(_base.KubeModel):
    """Resources the node must offer."""

    requests: _base.ResourceList | None = None
    """Minimum resources (cpu, memory, storage, nvidia.com/gpu, ...) the node must have."""


class KubeletConfiguration(_base.KubeModel):
    """Kubelet settings for the node, where the provider supports them."""

    cluster_dns: list[str] | None = pydantic.Field(default=None, alias="clusterDNS")
    """Cluster DNS server addresses."""
    container_runtime: str | None = None
    """The container runtime of the node."""
    max_pods: int | None = None
    """Maximum number of pods on the node."""
    pods_per_core: int | None = None
    """Maximum pods per CPU core (capped by maxPods)."""
    system_reserved: _base.ResourceList | None = None
    """Resources reserved for operating-system daemons."""
    kube_reserved: _base.ResourceList | None = None
    """Resources reserved for Kubernetes system components."""
    eviction_hard: dict[str, str] | None = None
    """Hard eviction thresholds by signal."""
    eviction_soft: dict[str, str] | None = None
    """Soft eviction thresholds by signal."""
    eviction_soft_grace_period: dict[str, str] | None = None
    """Grace periods for the soft eviction thresholds."""
    eviction_max_pod_grace_period: int | None = None
    """Longest pod grace period (seconds) when evicting for a soft threshold."""
    image_gc_high_threshold_percent: int | None = None
    """Disk usage percentage that always triggers image garbage collection."""
    image_gc_low_threshold_percent: int | None = None
    """Disk usage percentage below which image garbage collection never runs."""
    cpu_cfs_quota: bool | None = pydantic.Field(default=None, alias="cpuCFSQuota")
    """Enforce CPU limits with CFS quota."""


class MachineTemplateRef(_base.KubeModel):
    """A reference to the provider-specific template object."""

    kind: str | None = None
    """Kind of the template object."""
    name: str | None = None
    """Name of the template object."""
    api_version: str | None = None
    """API version of the template object."""


class MachineSpec(_base.KubeModel):
    """The node a Machine asks for."""

    taints: list[_base.Taint] | None = None
    """Taints the node carries."""
    startup_taints: list[_base.Taint] | None = None
    """Taints present at start-up that something else removes once the node is initialised."""
    requirements: list[NodeSelectorRequirement] | None = None
    """Label requirements the node satisfies (instance type, zone, architecture, ...)."""
    resources: ResourceRequirements | None = None
    """Resources the node must offer."""
    kubelet: KubeletConfiguration | None = None
    """Kubelet settings."""
    machine_template_ref: MachineTemplateRef | None = None
    """Provider-specific settings for the node."""


class MachineCondition(_base.KubeModel):
    """A Machine status condition (knative style, with severity)."""

    type: str
    """Condition type: MachineLaunched, MachineRegistered, MachineInitialized, Ready."""
    status: str
    """True, False or Unknown."""
    severity: str | None = None
    """How to treat a failure of this condition (Error when empty, Warning, Info)."""
    last_transition_time: datetime.datetime | None = None
    """When the status last changed."""
    reason: str | None = None
    """Why the condition last changed, as one word."""
    message: str | None = None
    """Why the condition last changed, for humans."""


class MachineStatus(_base.KubeModel):
    """What the provider observed about the Machine's node."""

    node_name: str | None = None
    """Name of the Node that registered for this Machine."""
    provider_id: str | None = pydantic.Field(default=None, alias="providerID")
    """The cloud provider's ID of the instance."""
    capacity: _base.ResourceList | None = None
    """The node's estimated capacity."""
    allocatable: _base.ResourceList | None = None
    """The node's estimated allocatable resources."""
    conditions: list[MachineCondition] | None = None
    """Lifecycle conditions."""


class Machine(_base.KubeModel):
    """A request for one node, fulfilled by a Karpenter provider (v1alpha5)."""

    api_version: Literal["karpenter.sh/v1alpha5"] = API_VERSION
    """The API version, karpenter.sh/v1alpha5."""
    kind: Literal["Machine"] = "Machine"
    """The kind, Machine."""
    metadata: _base.ObjectMeta = _base.ObjectMeta()
    """Standard object metadata."""
    spec: MachineSpec | None = None
    """The node asked for."""
    status: MachineStatus | None = None
    """What the provider observed."""
