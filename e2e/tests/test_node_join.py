"""Node join: a successful create produces Nodes shaped like AKS's; scaling and deleting remove
them. First against a recording joiner (every field, no cluster needed), then on the real API
server, where kwok makes them Ready."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import TYPE_CHECKING, Any

import pytest
from azure.mgmt.containerservice.aio import ContainerServiceClient

from aks_emulator import (
    AksEmulator,
    ClusterIdentity,
    EmulatorConfig,
    Faults,
    KubeNodeJoiner,
    OperationTiming,
    sdk_connection,
)
from aks_emulator.testing import RecordingNodes
from localcluster import condition_status, delete_object, get_object, poll_until, request

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

    from azure.mgmt.containerservice.types import AgentPool
    from kubernetes_asyncio.client import ApiClient

    from localcluster import ClusterInfo

IDENTITY = ClusterIdentity()
RG, CLUSTER = IDENTITY.resource_group, IDENTITY.cluster
NOT_READY = "node.kubernetes.io/not-ready"
FAST = OperationTiming(create_seconds=0.01, update_seconds=0.01, delete_seconds=0.01)


async def create(aks: ContainerServiceClient, name: str, body: AgentPool) -> Any:
    return await (await aks.agent_pools.begin_create_or_update(RG, CLUSTER, name, body)).result()


async def delete(aks: ContainerServiceClient, name: str) -> None:
    await (await aks.agent_pools.begin_delete(RG, CLUSTER, name)).result()


async def test_node_shape(pool_body: Callable[..., AgentPool]) -> None:
    nodes = RecordingNodes()
    async with AksEmulator(EmulatorConfig(timing=FAST), nodes=nodes) as emulator:
        base_url, credential, kwargs = emulator.connection()
        async with ContainerServiceClient(
            credential, IDENTITY.subscription, base_url=base_url, **kwargs
        ) as aks:
            body = pool_body("Standard_NC24ads_A100_v4", osDiskSizeGB=300)
            await create(aks, "ws0123456ab", body)
    digits = IDENTITY.vmss_suffix
    name = f"aks-ws0123456ab-{digits}-vmss000000"
    assert list(nodes.nodes) == [name]
    node = nodes.nodes[name]
    labels = node["metadata"]["labels"]
    assert labels["agentpool"] == labels["kubernetes.azure.com/agentpool"] == "ws0123456ab"
    assert labels["node.kubernetes.io/instance-type"] == "Standard_NC24ads_A100_v4"
    assert labels["kubernetes.io/os"] == "linux"
    assert labels["kubernetes.io/arch"] == "amd64"
    assert labels["topology.kubernetes.io/region"] == "eastus"
    assert labels["topology.kubernetes.io/zone"] == "0"  # a non-zonal pool
    assert labels["karpenter.sh/nodepool"] == "kaito"  # the pool's nodeLabels
    assert labels["kaito.sh/workspace"] == "ws"
    assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    assert node["spec"]["taints"] == [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}]
    assert node["spec"]["providerID"] == (
        f"azure:///subscriptions/{IDENTITY.subscription}/resourceGroups/mc_kaito-rg_kaito-aks_eastus"
        f"/providers/Microsoft.Compute/virtualMachineScaleSets/aks-ws0123456ab-{digits}-vmss"
        "/virtualMachines/0"
    )
    capacity, allocatable = node["status"]["capacity"], node["status"]["allocatable"]
    assert capacity["cpu"] == "24"
    assert capacity["memory"] == f"{220 * 1024 * 1024}Ki"
    assert capacity["nvidia.com/gpu"] == allocatable["nvidia.com/gpu"] == "1"
    assert capacity["pods"] == allocatable["pods"] == "110"
    assert capacity["ephemeral-storage"] == "300Gi"
    assert allocatable["cpu"] == "23900m"


async def test_names_zones_scaling_and_delete(pool_body: Callable[..., AgentPool]) -> None:
    nodes = RecordingNodes()
    async with AksEmulator(EmulatorConfig(timing=FAST), nodes=nodes) as emulator:
        base_url, credential, kwargs = emulator.connection()
        async with ContainerServiceClient(
            credential, IDENTITY.subscription, base_url=base_url, **kwargs
        ) as aks:
            body = pool_body(count=12, availabilityZones=["1", "2", "3"])
            await create(aks, "many", body)
            names = sorted(nodes.nodes)
            assert names[:2] == [IDENTITY.node_name("many", 0), IDENTITY.node_name("many", 1)]
            assert IDENTITY.node_name("many", 11).endswith("-vmss00000b")  # base 36
            zones = [
                nodes.nodes[IDENTITY.node_name("many", i)]["metadata"]["labels"][
                    "topology.kubernetes.io/zone"
                ]
                for i in range(4)
            ]
            assert zones == ["eastus-1", "eastus-2", "eastus-3", "eastus-1"]

            await create(aks, "many", {**body, "properties": {**body["properties"], "count": 2}})
            assert sorted(nodes.nodes) == [IDENTITY.node_name("many", i) for i in (0, 1)]
            await create(aks, "many", {**body, "properties": {**body["properties"], "count": 3}})
            assert IDENTITY.node_name("many", 12) in nodes.nodes  # instance ids are not reused

            await delete(aks, "many")
            assert nodes.nodes == {}
        counts = emulator.counts()
        assert counts["nodes_joined"] == 13
        assert counts["nodes_deleted"] == 13


# -- cluster tier ---------------------------------------------------------------------------------


async def pool_nodes(api: ApiClient, pool: str) -> list[dict[str, Any]]:
    listing = await request(
        api,
        "GET",
        "/api/v1/nodes",
        query=[("labelSelector", f"kubernetes.azure.com/agentpool={pool}")],
    )
    items: list[dict[str, Any]] = listing["items"]
    return items


@pytest.fixture
async def joined(kube_api: ApiClient) -> AsyncIterator[AksEmulator]:
    """An emulator writing Nodes to the local cluster; leftovers are deleted at teardown."""
    async with AksEmulator(EmulatorConfig(timing=FAST), nodes=KubeNodeJoiner(kube_api)) as emulator:
        yield emulator
        for pool in emulator.state()["pools"]:
            for name in pool["nodes"]:
                await delete_object(kube_api, "v1", "Node", name)


async def test_nodes_join_ready_and_leave(
    joined: AksEmulator, kube_api: ApiClient, pool_body: Callable[..., AgentPool]
) -> None:
    base_url, credential, kwargs = joined.connection()
    async with ContainerServiceClient(
        credential, IDENTITY.subscription, base_url=base_url, **kwargs
    ) as aks:
        await create(aks, "kwokgpu", pool_body(count=2))
        # the operation succeeds only once the Nodes exist, as on AKS
        nodes = await pool_nodes(kube_api, "kwokgpu")
        assert sorted(n["metadata"]["name"] for n in nodes) == [
            IDENTITY.node_name("kwokgpu", 0),
            IDENTITY.node_name("kwokgpu", 1),
        ]

        async def all_ready() -> bool:
            current = [
                await get_object(kube_api, "v1", "Node", n["metadata"]["name"]) for n in nodes
            ]
            return all(
                condition_status(n, "Ready") == "True"
                and NOT_READY not in [t["key"] for t in (n or {})["spec"].get("taints", [])]
                for n in current
            )

        # Ready, and the node lifecycle controller has lifted its not-ready taint
        await poll_until(all_ready, description="kwok marks the pool's Nodes Ready")
        node = await get_object(kube_api, "v1", "Node", IDENTITY.node_name("kwokgpu", 0))
        assert node is not None
        assert node["metadata"]["labels"]["agentpool"] == "kwokgpu"
        assert node["spec"]["providerID"] == IDENTITY.provider_id("kwokgpu", 0)
        assert node["spec"]["taints"] == [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}]
        assert node["status"]["capacity"]["nvidia.com/gpu"] == "1"
        assert node["status"]["allocatable"]["cpu"] == "5900m"

        await create(aks, "kwokgpu", pool_body(count=1, nodeLabels={"team": "a"}))
        node = await get_object(kube_api, "v1", "Node", IDENTITY.node_name("kwokgpu", 0))
        assert node is not None
        assert node["metadata"]["labels"]["team"] == "a"
        assert {"key": "sku", "value": "gpu", "effect": "NoSchedule"} in node["spec"]["taints"]

        async def scaled_down() -> bool:
            return len(await pool_nodes(kube_api, "kwokgpu")) == 1

        await poll_until(scaled_down, description="scaling to 1 deletes a Node")

        await delete(aks, "kwokgpu")

        async def gone() -> bool:
            return await pool_nodes(kube_api, "kwokgpu") == []

        await poll_until(gone, description="deleting the pool deletes its Nodes")


async def test_a_node_that_never_joins(
    joined: AksEmulator, kube_api: ApiClient, pool_body: Callable[..., AgentPool]
) -> None:
    joined.set_faults(Faults(never_join=("lost",)))
    base_url, credential, kwargs = joined.connection()
    async with ContainerServiceClient(
        credential, IDENTITY.subscription, base_url=base_url, **kwargs
    ) as aks:
        pool = await create(aks, "lost", pool_body())
        assert pool.properties.provisioning_state == "Succeeded"
        assert await pool_nodes(kube_api, "lost") == []
        await delete(aks, "lost")


async def test_command_line_joins_nodes_through_a_kubeconfig(
    kube_cluster: ClusterInfo,
    kube_api: ApiClient,
    tmp_path: Path,
    pool_body: Callable[..., AgentPool],
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aks_emulator",
        "--kubeconfig",
        str(kube_cluster.kubeconfig),
        "--tls-dir",
        str(tmp_path),
        "--create-seconds",
        "0",
        "--delete-seconds",
        "0",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        base_url = (await asyncio.wait_for(process.stdout.readline(), timeout=30)).decode().strip()
        url, credential, kwargs = sdk_connection(base_url, ca_cert=tmp_path / "ca.pem")
        async with ContainerServiceClient(
            credential, IDENTITY.subscription, base_url=url, **kwargs
        ) as aks:
            await create(aks, "clipool", pool_body())
            assert len(await pool_nodes(kube_api, "clipool")) == 1
            await delete(aks, "clipool")

            async def gone() -> bool:
                return await pool_nodes(kube_api, "clipool") == []

            await poll_until(gone, description="the CLI's emulator deletes the Node")
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0
