"""Provider IDs of AKS nodes, built and parsed. Pure.

``azure:///subscriptions/<sub>/resourceGroups/<node rg>/providers/Microsoft.Compute/
virtualMachineScaleSets/aks-<pool>-<digits>-vmss/virtualMachines/<n>``. The Azure cloud provider
writes the node resource group in lowercase while ARM reports ``MC_...`` in its original case, so
IDs compare case-insensitively; the pool is the second dash-separated part of the VMSS name.
"""

from __future__ import annotations

import dataclasses
import re

_PATTERN = re.compile(
    r"^azure:///subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.Compute/virtualMachineScaleSets/(?P<vmss>[^/]+)"
    r"/virtualMachines/(?P<instance>[^/]+)$",
    re.IGNORECASE,
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProviderId:
    subscription: str
    resource_group: str
    vmss: str
    instance: str

    @property
    def pool(self) -> str:
        """The agent pool of an AKS VMSS named ``aks-<pool>-<digits>-vmss``."""
        parts = self.vmss.split("-")
        if len(parts) < 4 or parts[0].lower() != "aks":
            raise ValueError(f"VMSS {self.vmss!r} is not an AKS agent pool scale set")
        return parts[1]

    def __str__(self) -> str:
        return build(
            subscription=self.subscription,
            resource_group=self.resource_group,
            vmss=self.vmss,
            instance=self.instance,
        )


def build(*, subscription: str, resource_group: str, vmss: str, instance: str) -> str:
    """A provider ID as the Azure cloud provider writes it (resource group in lowercase)."""
    return (
        f"azure:///subscriptions/{subscription}/resourceGroups/{resource_group.lower()}"
        f"/providers/Microsoft.Compute/virtualMachineScaleSets/{vmss}/virtualMachines/{instance}"
    )


def parse(provider_id: str) -> ProviderId:
    match = _PATTERN.match(provider_id)
    if match is None:
        raise ValueError(f"{provider_id!r} is not an Azure VMSS provider ID")
    return ProviderId(
        subscription=match["sub"],
        resource_group=match["rg"],
        vmss=match["vmss"],
        instance=match["instance"],
    )


def same(a: str, b: str) -> bool:
    """Whether two provider IDs name the same VM (case-insensitive, as ARM IDs are)."""
    return bool(a) and a.lower() == b.lower()
