"""Fixtures: a started emulator (https, fast operations) and real async Azure SDK clients of it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import pytest
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.containerservice.aio import ContainerServiceClient

from aks_emulator import AksEmulator, EmulatorConfig, OperationTiming

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from azure.mgmt.containerservice.types import AgentPool

FAST = OperationTiming(create_seconds=0.01, update_seconds=0.01, delete_seconds=0.01)
SUB = EmulatorConfig().identity.subscription
RG = EmulatorConfig().identity.resource_group
CLUSTER = EmulatorConfig().identity.cluster
LOCATION = EmulatorConfig().identity.location
# Fast retries in tests: a 5xx without Retry-After otherwise backs off 0.8 s, 1.6 s, ...
RETRY_BACKOFF = 0.01


def _pool_body(vm_size: str = "Standard_NC6s_v3", **properties: Any) -> AgentPool:
    body = {
        "properties": {
            "type": "VirtualMachineScaleSets",
            "vmSize": vm_size,
            "count": 1,
            "osType": "Linux",
            "osSKU": "Ubuntu",
            "osDiskSizeGB": 128,
            "nodeLabels": {"karpenter.sh/nodepool": "kaito", "kaito.sh/workspace": "ws"},
            "nodeTaints": ["sku=gpu:NoSchedule"],
            **properties,
        }
    }
    return cast("AgentPool", body)  # tests also send what the SDK's types forbid


@pytest.fixture
def pool_body() -> Callable[..., AgentPool]:
    """``pool_body(vm_size="Standard_NC6s_v3", **properties)``: a PUT body shaped like the
    gpu-provisioner's (count 1, Linux, Ubuntu, Kaito labels, the sku=gpu taint)."""
    return _pool_body


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(timing=FAST)


@pytest.fixture
async def emulator(emulator_config: EmulatorConfig) -> AsyncIterator[AksEmulator]:
    async with AksEmulator(emulator_config) as running:
        yield running


@pytest.fixture
async def aks(emulator: AksEmulator) -> AsyncIterator[ContainerServiceClient]:
    base_url, credential, kwargs = emulator.connection()
    async with ContainerServiceClient(
        credential, SUB, base_url=base_url, retry_backoff_factor=RETRY_BACKOFF, **kwargs
    ) as client:
        yield client


@pytest.fixture
async def compute(emulator: AksEmulator) -> AsyncIterator[ComputeManagementClient]:
    base_url, credential, kwargs = emulator.connection()
    async with ComputeManagementClient(
        credential, SUB, base_url=base_url, retry_backoff_factor=RETRY_BACKOFF, **kwargs
    ) as client:
        yield client
