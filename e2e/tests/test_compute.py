"""The compute calls around agent pools: resourceSkus (from the preset catalog, with
restrictions), usages (vCPU quota per family, growing and shrinking with pools) and VMSS VMs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.compute.aio import ComputeManagementClient

import preset_catalog
from aks_emulator import AksEmulator, ClusterIdentity, EmulatorConfig, Faults, UnavailableSku

if TYPE_CHECKING:
    from collections.abc import Callable

    from azure.mgmt.containerservice.aio import ContainerServiceClient
    from azure.mgmt.containerservice.types import AgentPool

IDENTITY = ClusterIdentity()
RG, CLUSTER, LOCATION = IDENTITY.resource_group, IDENTITY.cluster, IDENTITY.location


async def test_resource_skus_are_the_catalogs_gpu_sizes(compute: ComputeManagementClient) -> None:
    skus = [s async for s in compute.resource_skus.list(filter=f"location eq '{LOCATION}'")]
    expected = {t.name for t in preset_catalog.load_catalog().instance_types if t.cloud == "azure"}
    assert {s.name for s in skus} == expected
    nc6 = next(s for s in skus if s.name == "Standard_NC6s_v3")
    assert nc6.resource_type == "virtualMachines"
    assert nc6.family == "standardNCSv3Family"
    assert nc6.locations == [LOCATION]
    assert nc6.location_info is not None
    assert nc6.location_info[0].zones == ["1", "2", "3"]
    capabilities = {c.name: c.value for c in nc6.capabilities or []}
    assert capabilities["vCPUs"] == "6"
    assert capabilities["GPUs"] == "1"
    assert capabilities["MemoryGB"] == "112"
    assert nc6.restrictions == []

    elsewhere = [s async for s in compute.resource_skus.list(filter="location eq 'westus'")]
    assert elsewhere == []


async def test_resource_skus_page_with_next_link() -> None:
    async with AksEmulator(EmulatorConfig(page_size=5)) as emulator:
        base_url, credential, kwargs = emulator.connection()
        async with ComputeManagementClient(
            credential, IDENTITY.subscription, base_url=base_url, **kwargs
        ) as compute:
            skus = [s async for s in compute.resource_skus.list(filter=f"location eq '{LOCATION}'")]
        assert len(skus) == len({s.name for s in skus}) > 5
        assert emulator.requests("resourceSkus.list", 200) == -(-len(skus) // 5)


async def test_restrictions_show_unavailable_skus(
    compute: ComputeManagementClient, emulator: AksEmulator
) -> None:
    emulator.set_faults(
        Faults(
            unavailable_skus=(
                UnavailableSku(vm_size="Standard_NC24ads_A100_v4"),
                UnavailableSku(vm_size="Standard_NC6s_v3", zones=("1", "3")),
            )
        )
    )
    skus = {s.name: s async for s in compute.resource_skus.list()}
    location_wide = skus["Standard_NC24ads_A100_v4"].restrictions or []
    assert [(r.type, r.reason_code) for r in location_wide] == [
        ("Location", "NotAvailableForSubscription")
    ]
    zonal = skus["Standard_NC6s_v3"].restrictions or []
    assert [r.type for r in zonal] == ["Zone"]
    assert zonal[0].restriction_info is not None
    assert zonal[0].restriction_info.zones == ["1", "3"]
    assert skus["Standard_NC12s_v3"].restrictions == []


async def create(aks: ContainerServiceClient, name: str, body: AgentPool) -> None:
    await (await aks.agent_pools.begin_create_or_update(RG, CLUSTER, name, body)).result()


async def usages(compute: ComputeManagementClient) -> dict[str, tuple[int, int]]:
    return {
        u.name.value or "": (u.current_value, u.limit) async for u in compute.usage.list(LOCATION)
    }


async def test_usage_grows_on_create_and_shrinks_on_delete(
    aks: ContainerServiceClient,
    compute: ComputeManagementClient,
    pool_body: Callable[..., AgentPool],
) -> None:
    before = await usages(compute)
    assert before["cores"] == (0, 5000)
    assert before["standardNCSv3Family"] == (0, 1000)
    assert before["StandardNCADSA100v4Family"] == (0, 1000)

    await create(aks, "two", pool_body(count=2))
    await create(aks, "a100", pool_body("Standard_NC24ads_A100_v4"))
    during = await usages(compute)
    assert during["standardNCSv3Family"] == (12, 1000)
    assert during["StandardNCADSA100v4Family"] == (24, 1000)
    assert during["cores"] == (36, 5000)

    await (await aks.agent_pools.begin_delete(RG, CLUSTER, "two")).result()
    after = await usages(compute)
    assert after["standardNCSv3Family"] == (0, 1000)
    assert after["cores"] == (24, 5000)


async def test_usage_limits_follow_quota_faults(
    compute: ComputeManagementClient, emulator: AksEmulator
) -> None:
    emulator.set_faults(Faults(quota={"STANDARDNCSV3FAMILY": 24, "cores": 100}))
    now = await usages(compute)
    assert now["standardNCSv3Family"] == (0, 24)
    assert now["cores"] == (0, 100)
    localized = [u.name.localized_value async for u in compute.usage.list(LOCATION)]
    assert "Standard NCSv3 Family vCPUs" in localized
    assert "Total Regional vCPUs" in localized


async def test_vmss_vms_of_a_pool(
    aks: ContainerServiceClient,
    compute: ComputeManagementClient,
    pool_body: Callable[..., AgentPool],
) -> None:
    body = pool_body(count=3, availabilityZones=["1", "2"])
    await (await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "zonal", body)).result()
    vmss = IDENTITY.vmss_name("zonal")
    assert vmss == f"aks-zonal-{IDENTITY.vmss_suffix}-vmss"
    # ARM spells the node resource group MC_<rg>_<cluster>_<location>; any casing is accepted.
    lowered = [
        v.instance_id
        async for v in compute.virtual_machine_scale_set_vms.list(
            IDENTITY.node_resource_group.lower(), vmss
        )
    ]
    assert lowered == ["0", "1", "2"]
    vms = [
        v
        async for v in compute.virtual_machine_scale_set_vms.list(
            IDENTITY.node_resource_group, vmss
        )
    ]
    assert [v.instance_id for v in vms] == ["0", "1", "2"]
    assert [v.zones for v in vms] == [["1"], ["2"], ["1"]]
    assert vms[0].sku is not None
    assert vms[0].sku.name == "Standard_NC6s_v3"
    assert vms[0].properties is not None
    assert vms[0].properties.os_profile is not None
    assert vms[0].properties.os_profile.computer_name == f"{vmss}000000"

    with pytest.raises(ResourceNotFoundError):
        [v async for v in compute.virtual_machine_scale_set_vms.list(RG, vmss)]
    with pytest.raises(ResourceNotFoundError):
        [
            v
            async for v in compute.virtual_machine_scale_set_vms.list(
                IDENTITY.node_resource_group, "aks-other-00000000-vmss"
            )
        ]
