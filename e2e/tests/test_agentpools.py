"""The real async SDK drives agent pools through the emulator: create (LRO), get, list (paged),
update, delete (LRO), and the managed cluster document."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.mgmt.containerservice.aio import ContainerServiceClient

from aks_emulator import AksEmulator, ClusterIdentity, EmulatorConfig, Faults, StuckOperation
from localcluster import poll_until

if TYPE_CHECKING:
    from collections.abc import Callable

    from azure.mgmt.containerservice.types import AgentPool

IDENTITY = ClusterIdentity()
RG, CLUSTER = IDENTITY.resource_group, IDENTITY.cluster


async def test_create_get_list_delete(
    aks: ContainerServiceClient, emulator: AksEmulator, pool_body: Callable[..., AgentPool]
) -> None:
    poller = await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "ws1a2b3c4d5", pool_body())
    created = await poller.result()
    assert created.name == "ws1a2b3c4d5"
    assert created.properties is not None
    assert created.properties.provisioning_state == "Succeeded"
    assert created.properties.vm_size == "Standard_NC6s_v3"
    assert created.properties.node_labels == {
        "karpenter.sh/nodepool": "kaito",
        "kaito.sh/workspace": "ws",
    }
    assert created.properties.node_taints == ["sku=gpu:NoSchedule"]
    assert created.id == f"{IDENTITY.cluster_id}/agentPools/ws1a2b3c4d5"

    fetched = await aks.agent_pools.get(RG, CLUSTER, "ws1a2b3c4d5")
    assert fetched.properties is not None
    assert fetched.properties.count == 1
    assert fetched.properties.os_disk_size_gb == 128

    names = [p.name async for p in aks.agent_pools.list(RG, CLUSTER)]
    assert names == ["nodepool1", "ws1a2b3c4d5"]

    delete = await aks.agent_pools.begin_delete(RG, CLUSTER, "ws1a2b3c4d5")
    await delete.result()
    assert delete.done()
    with pytest.raises(ResourceNotFoundError) as missing:
        await aks.agent_pools.get(RG, CLUSTER, "ws1a2b3c4d5")
    assert missing.value.error is not None
    assert missing.value.error.code == "NotFound"
    assert "Agent Pool not found" in str(missing.value)
    assert emulator.requests("agentPools.createOrUpdate", 201) == 1
    assert emulator.requests("agentPools.delete", 202) == 1


async def test_create_is_creating_until_the_operation_succeeds(
    aks: ContainerServiceClient, emulator: AksEmulator, pool_body: Callable[..., AgentPool]
) -> None:
    emulator.set_faults(Faults(stuck_operations=(StuckOperation(pool="slow1"),)))
    poller = await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "slow1", pool_body())
    pool = await aks.agent_pools.get(RG, CLUSTER, "slow1")
    assert pool.properties is not None
    assert pool.properties.provisioning_state == "Creating"

    async def polled_while_stuck() -> bool:
        return emulator.requests("operations.get", 200) >= 3

    waiting = asyncio.create_task(poller.result())  # an async poller polls only when awaited
    await poll_until(polled_while_stuck, description="the SDK polls the stuck operation")
    assert not waiting.done()
    assert poller.status().lower() == "inprogress"

    emulator.set_faults(Faults())
    result = await waiting
    assert result.properties is not None
    assert result.properties.provisioning_state == "Succeeded"


async def test_list_follows_next_link(
    pool_body: Callable[..., AgentPool],
) -> None:
    config = EmulatorConfig(page_size=2)
    async with AksEmulator(config) as emulator:
        base_url, credential, kwargs = emulator.connection()
        async with ContainerServiceClient(
            credential, IDENTITY.subscription, base_url=base_url, **kwargs
        ) as aks:
            for name in ("gpua", "gpub", "gpuc", "gpud"):
                _ = await aks.agent_pools.begin_create_or_update(RG, CLUSTER, name, pool_body())
            names = [p.name async for p in aks.agent_pools.list(RG, CLUSTER)]
        assert names == ["gpua", "gpub", "gpuc", "gpud", "nodepool1"]
        assert emulator.requests("agentPools.list", 200) == 3


async def test_update_resizes_and_rejects_a_new_vm_size(
    aks: ContainerServiceClient, emulator: AksEmulator, pool_body: Callable[..., AgentPool]
) -> None:
    await (await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "grow", pool_body())).result()
    poller = await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "grow", pool_body(count=3))
    updated = await poller.result()
    assert updated.properties is not None
    assert updated.properties.count == 3
    assert updated.properties.provisioning_state == "Succeeded"
    assert emulator.requests("agentPools.createOrUpdate", 200) == 1  # an update answers 200

    with pytest.raises(HttpResponseError) as changed:
        _ = await aks.agent_pools.begin_create_or_update(
            RG, CLUSTER, "grow", pool_body("Standard_NC12s_v3")
        )
    assert changed.value.status_code == 400
    assert changed.value.error is not None
    assert changed.value.error.code == "PropertyChangeNotAllowed"


async def test_busy_pool_conflicts(
    aks: ContainerServiceClient, emulator: AksEmulator, pool_body: Callable[..., AgentPool]
) -> None:
    emulator.set_faults(Faults(stuck_operations=(StuckOperation(pool="busy"),)))
    _ = await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "busy", pool_body())
    with pytest.raises(ResourceExistsError) as again:
        _ = await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "busy", pool_body())
    assert again.value.error is not None
    assert again.value.error.code == "Conflict"
    assert "in progress create node pool operation" in str(again.value)
    with pytest.raises(ResourceExistsError):
        _ = await aks.agent_pools.begin_delete(RG, CLUSTER, "busy")


async def test_deleting_twice_returns_the_running_operation(
    aks: ContainerServiceClient, emulator: AksEmulator, pool_body: Callable[..., AgentPool]
) -> None:
    await (await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "twice", pool_body())).result()
    emulator.set_faults(
        Faults(stuck_operations=(StuckOperation(pool="twice", operation="delete"),))
    )
    first = await aks.agent_pools.begin_delete(RG, CLUSTER, "twice")
    pool = await aks.agent_pools.get(RG, CLUSTER, "twice")
    assert pool.properties is not None
    assert pool.properties.provisioning_state == "Deleting"
    second = await aks.agent_pools.begin_delete(RG, CLUSTER, "twice")
    emulator.set_faults(Faults())
    await first.result()
    await second.result()
    assert emulator.requests("agentPools.delete", 202) == 2


async def test_missing_pool_and_wrong_scopes_are_not_found(aks: ContainerServiceClient) -> None:
    with pytest.raises(ResourceNotFoundError) as pool:
        _ = await aks.agent_pools.begin_delete(RG, CLUSTER, "nosuchpool")
    assert pool.value.error is not None
    assert pool.value.error.code == "NotFound"
    with pytest.raises(ResourceNotFoundError) as cluster:
        await aks.agent_pools.get(RG, "other-cluster", "nodepool1")
    assert cluster.value.error is not None
    assert cluster.value.error.code == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError) as group:
        await aks.managed_clusters.get("other-rg", CLUSTER)
    assert group.value.error is not None
    assert group.value.error.code == "ResourceGroupNotFound"


async def test_system_pool_cannot_be_deleted(aks: ContainerServiceClient) -> None:
    with pytest.raises(HttpResponseError) as refused:
        _ = await aks.agent_pools.begin_delete(RG, CLUSTER, "nodepool1")
    assert refused.value.error is not None
    assert refused.value.error.code == "OperationNotAllowed"


async def test_managed_cluster(
    aks: ContainerServiceClient, pool_body: Callable[..., AgentPool]
) -> None:
    await (await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", pool_body())).result()
    cluster = await aks.managed_clusters.get(RG, CLUSTER)
    assert cluster.id == IDENTITY.cluster_id
    assert cluster.location == IDENTITY.location
    assert cluster.properties is not None
    assert cluster.properties.node_resource_group == "MC_kaito-rg_kaito-aks_eastus"
    assert cluster.properties.provisioning_state == "Succeeded"
    profiles = cluster.properties.agent_pool_profiles or []
    assert [(p.name, p.mode) for p in profiles] == [("gpu", "User"), ("nodepool1", "System")]
