"""Who the emulator pretends to be: one subscription, resource group, managed cluster and location.

Why one of each: the gpu-provisioner talks to exactly one cluster (its ``ARM_SUBSCRIPTION_ID``,
``ARM_RESOURCE_GROUP`` and cluster name), so anything else answers with ARM's "not found" errors,
which also catches a product that builds the wrong resource path.

The names AKS derives from these (the ``MC_`` node resource group, the per-cluster 8-digit VMSS
suffix, provider IDs) are computed here, in one place, so nodes, VMSS listings and the managed
cluster document agree.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "ClusterIdentity",
    "EmulatorConfig",
    "OperationTiming",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._()-]{0,89}$")

# api-versions the emulator answers, per resource provider. The Go gpu-provisioner pins 2024-01-01
# (armcontainerservice v4); azure-mgmt-containerservice 41.8.0 sends 2026-08-01; azure-mgmt-compute
# 39.0.0 sends 2021-07-01 for resourceSkus and 2026-04-01 for usages and VMSS VMs.
DEFAULT_API_VERSIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "microsoft.containerservice": frozenset({"2024-01-01", "2025-10-01", "2026-08-01"}),
        "microsoft.compute": frozenset({"2021-07-01", "2024-07-01", "2026-03-03", "2026-04-01"}),
    }
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClusterIdentity:
    """The one managed cluster the emulator serves."""

    subscription: str = "00000000-0000-0000-0000-000000000000"
    resource_group: str = "kaito-rg"
    cluster: str = "kaito-aks"
    location: str = "eastus"

    def __post_init__(self) -> None:
        for field in ("resource_group", "cluster"):
            if not _NAME.match(getattr(self, field)):
                raise ValueError(f"{field} {getattr(self, field)!r} is not a valid ARM name")
        if not re.fullmatch(r"[a-z0-9]+", self.location):
            raise ValueError(f"location {self.location!r} must be a lowercase region name")

    @property
    def cluster_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.ContainerService/managedClusters/{self.cluster}"
        )

    @property
    def node_resource_group(self) -> str:
        """The node resource group as ARM reports it in ``properties.nodeResourceGroup``."""
        return f"MC_{self.resource_group}_{self.cluster}_{self.location}"

    @property
    def provider_id_resource_group(self) -> str:
        """The node resource group as it appears in a Node's ``spec.providerID``.

        The Azure cloud provider writes it entirely in lowercase (``mc_<rg>_<cluster>_<location>``
        with the resource group and cluster names lowercased too), while ARM reports ``MC_`` with
        the original casing. Resource group names are case-insensitive, so consumers must compare
        them case-insensitively; the emulator keeps both spellings to make sure they do.
        """
        return self.node_resource_group.lower()

    @property
    def vmss_suffix(self) -> str:
        """The 8 digits AKS puts in every VMSS name of this cluster (stable per cluster)."""
        digest = hashlib.sha256(self.cluster_id.lower().encode()).digest()
        return f"{int.from_bytes(digest[:8], 'big') % 10**8:08d}"

    def vmss_name(self, pool: str) -> str:
        return f"aks-{pool}-{self.vmss_suffix}-vmss"

    def node_name(self, pool: str, instance_id: int) -> str:
        """``aks-<pool>-<digits>-vmss`` + the instance id in base 36, six characters wide."""
        return f"{self.vmss_name(pool)}{_base36(instance_id).rjust(6, '0')}"

    def provider_id(self, pool: str, instance_id: int) -> str:
        return (
            f"azure:///subscriptions/{self.subscription}"
            f"/resourceGroups/{self.provider_id_resource_group}"
            f"/providers/Microsoft.Compute/virtualMachineScaleSets/{self.vmss_name(pool)}"
            f"/virtualMachines/{instance_id}"
        )


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
        if value == 0:
            return out


@dataclasses.dataclass(frozen=True, kw_only=True)
class OperationTiming:
    """How long each long-running operation takes before it ends (seconds of the injected
    clock). Real GPU pools take minutes; tests use a few milliseconds."""

    create_seconds: float = 1.0
    update_seconds: float = 0.5
    delete_seconds: float = 0.5

    def __post_init__(self) -> None:
        if min(self.create_seconds, self.update_seconds, self.delete_seconds) < 0:
            raise ValueError("operation durations must be >= 0")


@dataclasses.dataclass(frozen=True, kw_only=True)
class EmulatorConfig:
    """Everything about the emulator that is fixed at start (faults are separate and mutable)."""

    identity: ClusterIdentity = dataclasses.field(default_factory=ClusterIdentity)
    zones: tuple[str, ...] = ("1", "2", "3")
    """Availability zones of the location (the catalog has no zone list, so it lives here)."""
    kubernetes_version: str = "1.32.6"
    node_image_version: str = "AKSUbuntu-2204gen2containerd-202601.07.0"
    default_family_vcpu_quota: int = 1000
    """vCPU limit of every VM family without a ``quota`` fault."""
    default_regional_vcpu_quota: int = 5000
    """Limit of the regional total (usage name ``cores``) without a ``quota`` fault."""
    system_pool: str | None = "nodepool1"
    """A System-mode pool that exists from the start (as in every AKS cluster); it is listed but
    cannot be changed or deleted, has no GPU, joins no Node and uses no GPU quota."""
    page_size: int = 20
    """Items per page of every list; smaller values exercise ``nextLink`` paging."""
    timing: OperationTiming = dataclasses.field(default_factory=OperationTiming)
    bearer_token: str | None = None
    """If set, only this token is accepted; otherwise any non-empty bearer token is."""
    federated_subject: str | None = None
    """If set, the Entra token endpoint only accepts federated assertions with this ``sub``
    (``system:serviceaccount:<namespace>:<name>``), like a federated identity credential."""
    api_versions: Mapping[str, frozenset[str]] = dataclasses.field(
        default_factory=lambda: DEFAULT_API_VERSIONS
    )
    """Lowercased provider namespace → accepted api-versions."""
    seed: int = 0
    """Seed of the random source behind fault rates and random latencies."""

    def __post_init__(self) -> None:
        if self.page_size < 1:
            raise ValueError("page_size must be >= 1")
        if not self.zones or len(set(self.zones)) != len(self.zones):
            raise ValueError("zones must be a non-empty list of distinct names")
