"""The compute side, derived from the preset catalog: which GPU VM sizes exist, their quota family,
and the resourceSkus / usages documents ARM returns for them.

Why from the catalog: the product sizes workloads with the same table, so an emulator with its own
list could quietly disagree with it. Only the catalog's public API is used; anything the catalog
does not know (zones, quota limits) comes from the emulator's config and faults.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import preset_catalog

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from aks_emulator._faults import Faults

__all__ = ["REGIONAL_USAGE", "Sku", "SkuTable"]

REGIONAL_USAGE = "cores"
"""The usages API name of the regional vCPU total."""

_GIB = 1024 * 1024  # KiB per GiB
MEMORY_RESERVED_KI = 750 * 1024
"""Allocatable memory = capacity - this (AKS's kubelet eviction threshold, approximated)."""
CPU_RESERVED_MILLI = 100


@dataclasses.dataclass(frozen=True, kw_only=True)
class Sku:
    """One VM size: what a Node of it reports and which quota it draws on."""

    name: str
    vcpus: int
    memory_gib: float
    gpus: int
    family: str

    @property
    def capacity(self) -> dict[str, str]:
        return {
            "cpu": str(self.vcpus),
            "memory": f"{int(self.memory_gib * _GIB)}Ki",
            "nvidia.com/gpu": str(self.gpus),
        }

    @property
    def allocatable(self) -> dict[str, str]:
        return {
            "cpu": f"{self.vcpus * 1000 - CPU_RESERVED_MILLI}m",
            "memory": f"{int(self.memory_gib * _GIB) - MEMORY_RESERVED_KI}Ki",
            "nvidia.com/gpu": str(self.gpus),
        }


class SkuTable:
    """The Azure GPU instance types of the catalog, looked up case-insensitively by name or
    alias (Azure treats VM size names case-insensitively)."""

    def __init__(self, skus: Iterable[tuple[Sku, tuple[str, ...]]]) -> None:
        self._skus: list[Sku] = []
        self._index: dict[str, Sku] = {}
        for sku, aliases in skus:
            self._skus.append(sku)
            for key in (sku.name, *aliases):
                self._index[key.lower()] = sku

    @classmethod
    def from_catalog(cls) -> SkuTable:
        catalog = preset_catalog.load_catalog()
        return cls(
            (
                Sku(
                    name=t.name,
                    vcpus=t.vcpus,
                    memory_gib=t.memory_gib,
                    gpus=t.gpu.count,
                    family=t.vm_family,
                ),
                t.aliases,
            )
            for t in catalog.instance_types
            if t.cloud == preset_catalog.Cloud.AZURE
        )

    def get(self, vm_size: str) -> Sku | None:
        return self._index.get(vm_size.lower())

    def __iter__(self) -> Iterator[Sku]:
        return iter(self._skus)

    def families(self) -> list[str]:
        """Distinct families, first spelling wins (Azure is inconsistent about their case)."""
        seen: dict[str, str] = {}
        for sku in self._skus:
            seen.setdefault(sku.family.lower(), sku.family)
        return list(seen.values())

    def family_of(self, usage_name: str) -> str:
        for family in self.families():
            if family.lower() == usage_name.lower():
                return family
        return usage_name


def resource_sku_document(
    sku: Sku, *, location: str, zones: tuple[str, ...], faults: Faults
) -> dict[str, Any]:
    """A ``Microsoft.Compute/skus`` item for ``sku`` in ``location``, with restrictions."""
    restrictions: list[dict[str, Any]] = []
    restricted = faults.restricted_zones(sku.name)
    if restricted == ():
        restrictions.append(
            {
                "type": "Location",
                "values": [location],
                "restrictionInfo": {"locations": [location]},
                "reasonCode": "NotAvailableForSubscription",
            }
        )
    elif restricted:
        restrictions.append(
            {
                "type": "Zone",
                "values": [location],
                "restrictionInfo": {"locations": [location], "zones": list(restricted)},
                "reasonCode": "NotAvailableForSubscription",
            }
        )
    capabilities = {
        "vCPUs": str(sku.vcpus),
        "vCPUsAvailable": str(sku.vcpus),
        "MemoryGB": f"{sku.memory_gib:g}",
        "GPUs": str(sku.gpus),
        "CpuArchitectureType": "x64",
        "HyperVGenerations": "V1,V2",
        "PremiumIO": "True",
        "AcceleratedNetworkingEnabled": "True",
    }
    return {
        "resourceType": "virtualMachines",
        "name": sku.name,
        "tier": "Standard",
        "size": sku.name.removeprefix("Standard_"),
        "family": sku.family,
        "locations": [location],
        "locationInfo": [{"location": location, "zones": list(zones), "zoneDetails": []}],
        "capabilities": [{"name": k, "value": v} for k, v in capabilities.items()],
        "restrictions": restrictions,
    }


def usage_document(name: str, *, current: int, limit: int) -> dict[str, Any]:
    """One item of the compute usages list (vCPUs, unit ``Count``)."""
    if name == REGIONAL_USAGE:
        localized = "Total Regional vCPUs"
    else:
        core = name.removeprefix("standard").removeprefix("Standard").removesuffix("Family")
        localized = f"Standard {core} Family vCPUs"
    return {
        "unit": "Count",
        "currentValue": current,
        "limit": limit,
        "name": {"value": name, "localizedValue": localized},
    }


def family_usage(
    pools: Iterable[tuple[str, int]], table: SkuTable
) -> tuple[Mapping[str, int], int]:
    """vCPUs in use per family (lowercased key) and in total, from ``(vm_size, count)`` pairs.

    Sizes outside the table (the system pool) count toward neither."""
    per_family: dict[str, int] = {}
    total = 0
    for vm_size, count in pools:
        sku = table.get(vm_size)
        if sku is None:
            continue
        per_family[sku.family.lower()] = per_family.get(sku.family.lower(), 0) + sku.vcpus * count
        total += sku.vcpus * count
    return per_family, total
