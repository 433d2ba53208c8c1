"""A PUT is validated as AKS validates it, and rejected with ARM's error shape and codes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from azure.core.exceptions import HttpResponseError

from aks_emulator import ClusterIdentity

if TYPE_CHECKING:
    from collections.abc import Callable

    from azure.mgmt.containerservice.aio import ContainerServiceClient
    from azure.mgmt.containerservice.types import AgentPool

    from aks_emulator import AksEmulator

IDENTITY = ClusterIdentity()
RG, CLUSTER = IDENTITY.resource_group, IDENTITY.cluster


@pytest.mark.parametrize(
    "name",
    [
        "Gpu1",  # uppercase
        "1gpu",  # starts with a digit
        "gpu-1",  # not alphanumeric
        "abcdefghijklm",  # 13 characters
    ],
)
async def test_pool_name_rules(
    aks: ContainerServiceClient, pool_body: Callable[..., AgentPool], name: str
) -> None:
    with pytest.raises(HttpResponseError) as rejected:
        _ = await aks.agent_pools.begin_create_or_update(RG, CLUSTER, name, pool_body())
    assert rejected.value.status_code == 400
    assert rejected.value.error is not None
    assert rejected.value.error.code == "InvalidParameter"
    assert rejected.value.error.target == "agentPoolName"


async def test_twelve_characters_is_the_linux_limit(
    aks: ContainerServiceClient, pool_body: Callable[..., AgentPool]
) -> None:
    poller = await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "abcdefghijkl", pool_body())
    assert (await poller.result()).name == "abcdefghijkl"


async def test_windows_names_are_at_most_six_characters(
    aks: ContainerServiceClient, pool_body: Callable[..., AgentPool]
) -> None:
    body = pool_body(osType="Windows", osSKU="Windows2022")
    with pytest.raises(HttpResponseError) as rejected:
        _ = await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "winpool", body)
    assert rejected.value.error is not None
    assert rejected.value.error.target == "agentPoolName"


@pytest.mark.parametrize(
    ("properties", "target"),
    [
        ({"vmSize": "Standard_NC7_v9"}, "properties.vmSize"),
        ({"vmSize": None}, "properties.vmSize"),
        ({"osDiskSizeGB": 0}, "properties.osDiskSizeGB"),
        ({"osDiskSizeGB": -30}, "properties.osDiskSizeGB"),
        ({"count": -1}, "properties.count"),
        ({"count": "1"}, "properties.count"),
        ({"osSKU": "Windows2022"}, "properties.osSKU"),
        ({"nodeTaints": ["sku=gpu:Sometimes"]}, "properties.nodeTaints"),
        ({"nodeTaints": ["=gpu:NoSchedule"]}, "properties.nodeTaints"),
        ({"nodeLabels": {"kubernetes.azure.com/mode": "user"}}, "properties.nodeLabels"),
        ({"nodeLabels": {"kaito.sh/workspace": "not valid"}}, "properties.nodeLabels"),
        ({"availabilityZones": ["7"]}, "properties.availabilityZones"),
        ({"type": "AvailabilitySet"}, "properties.type"),
    ],
)
async def test_invalid_properties(
    aks: ContainerServiceClient,
    emulator: AksEmulator,
    pool_body: Callable[..., AgentPool],
    properties: dict[str, Any],
    target: str,
) -> None:
    with pytest.raises(HttpResponseError) as rejected:
        _ = await aks.agent_pools.begin_create_or_update(
            RG, CLUSTER, "bad", pool_body(**properties)
        )
    assert rejected.value.status_code == 400
    assert rejected.value.error is not None
    assert (rejected.value.error.code, rejected.value.error.target) == ("InvalidParameter", target)
    assert [pool["name"] for pool in emulator.state()["pools"]] == ["nodepool1"]


async def test_vm_sizes_match_case_insensitively_and_by_alias(
    aks: ContainerServiceClient, pool_body: Callable[..., AgentPool]
) -> None:
    for name, size in (("lower", "standard_nc6s_v3"), ("alias", "Standard_ND96asr_v4")):
        poller = await aks.agent_pools.begin_create_or_update(RG, CLUSTER, name, pool_body(size))
        pool = await poller.result()
        assert pool.properties is not None
        assert pool.properties.vm_size == size
