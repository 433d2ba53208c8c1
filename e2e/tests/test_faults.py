"""Each fault surfaces through the real SDK as the SDK's own exception or behaviour, and every
request is counted by operation and status."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.containerservice.aio import ContainerServiceClient

from aks_emulator import (
    AksEmulator,
    ClusterIdentity,
    EmulatorConfig,
    FailedOperation,
    Faults,
    OperationTiming,
    ServerErrors,
    StuckOperation,
    Throttle,
    UnavailableSku,
)
from aks_emulator.testing import RecordingClock, RecordingNodes
from localcluster import poll_until

if TYPE_CHECKING:
    from collections.abc import Callable

    from azure.mgmt.containerservice.types import AgentPool

IDENTITY = ClusterIdentity()
RG, CLUSTER = IDENTITY.resource_group, IDENTITY.cluster


async def create(aks: ContainerServiceClient, name: str, body: AgentPool) -> Any:
    return await (await aks.agent_pools.begin_create_or_update(RG, CLUSTER, name, body)).result()


# -- quota ---------------------------------------------------------------------------------------


async def test_quota_is_enforced_and_released(
    aks: ContainerServiceClient, emulator: AksEmulator, pool_body: Callable[..., AgentPool]
) -> None:
    emulator.set_faults(Faults(quota={"standardNCSv3Family": 12}))
    await create(aks, "first", pool_body(count=1))  # 6 of 12 vCPUs
    with pytest.raises(HttpResponseError) as exceeded:
        _ = await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "second", pool_body(count=2))
    error = exceeded.value.error
    assert exceeded.value.status_code == 400
    assert error is not None
    assert error.code == "QuotaExceeded"
    for fact in (
        "exceeding approved standardNCSv3Family Cores quota",
        "Current Limit: 12",
        "Current Usage: 6",
        "Additional Required: 12",
        "New Limit Required: 18",
    ):
        assert fact in (error.message or "")
    assert [d.code for d in error.details or []] == ["OperationNotAllowed"]

    await create(aks, "second", pool_body(count=1))  # exactly at the limit
    await (await aks.agent_pools.begin_delete(RG, CLUSTER, "first")).result()
    await create(aks, "third", pool_body(count=1))  # the deleted pool's vCPUs are free again


async def test_regional_quota(
    aks: ContainerServiceClient, emulator: AksEmulator, pool_body: Callable[..., AgentPool]
) -> None:
    emulator.set_faults(Faults(quota={"cores": 30}))
    await create(aks, "a100", pool_body("Standard_NC24ads_A100_v4"))
    with pytest.raises(HttpResponseError) as exceeded:
        _ = await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "more", pool_body(count=2))
    assert exceeded.value.error is not None
    assert "Total Regional Cores" in (exceeded.value.error.message or "")


async def test_scaling_up_counts_only_the_added_vcpus(
    aks: ContainerServiceClient, emulator: AksEmulator, pool_body: Callable[..., AgentPool]
) -> None:
    emulator.set_faults(Faults(quota={"standardNCSv3Family": 12}))
    await create(aks, "grow", pool_body(count=1))
    await create(aks, "grow", pool_body(count=2))
    with pytest.raises(HttpResponseError) as exceeded:
        _ = await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "grow", pool_body(count=3))
    assert exceeded.value.error is not None
    assert "Additional Required: 6" in (exceeded.value.error.message or "")


# -- throttling and server errors ----------------------------------------------------------------


async def test_retry_after_is_honoured(emulator: AksEmulator) -> None:
    emulator.set_faults(Faults(throttle=Throttle(rate=1.0, retry_after_seconds=0.05, times=2)))
    base_url, credential, kwargs = emulator.connection()
    # A back-off this large would take > 20 s for the second retry: finishing fast proves the
    # SDK slept for Retry-After instead.
    async with ContainerServiceClient(
        credential, IDENTITY.subscription, base_url=base_url, retry_backoff_factor=10, **kwargs
    ) as aks:
        started = time.monotonic()
        pool = await aks.agent_pools.get(RG, CLUSTER, "nodepool1")
        elapsed = time.monotonic() - started
    assert pool.name == "nodepool1"
    assert emulator.counts()["operations"]["agentPools.get"] == {"200": 1, "429": 2}
    assert 0.1 <= elapsed < 10


async def test_throttling_without_retries_is_an_http_response_error(
    emulator: AksEmulator,
) -> None:
    emulator.set_faults(Faults(throttle=Throttle(rate=1.0, operations=("agentPools.list",))))
    base_url, credential, kwargs = emulator.connection()
    async with ContainerServiceClient(
        credential, IDENTITY.subscription, base_url=base_url, retry_total=0, **kwargs
    ) as aks:
        with pytest.raises(HttpResponseError) as throttled:
            [p async for p in aks.agent_pools.list(RG, CLUSTER)]
        assert (await aks.agent_pools.get(RG, CLUSTER, "nodepool1")).name == "nodepool1"
    assert throttled.value.status_code == 429
    assert throttled.value.error is not None
    assert throttled.value.error.code == "TooManyRequests"


async def test_server_errors_are_retried_by_the_sdk(
    aks: ContainerServiceClient, emulator: AksEmulator, pool_body: Callable[..., AgentPool]
) -> None:
    emulator.set_faults(
        Faults(
            server_errors=ServerErrors(
                rate=1.0, statuses=(503,), operations=("agentPools.createOrUpdate",), times=2
            )
        )
    )
    await create(aks, "flaky", pool_body())
    assert emulator.counts()["operations"]["agentPools.createOrUpdate"] == {"201": 1, "503": 2}


async def test_server_errors_without_retries(emulator: AksEmulator) -> None:
    emulator.set_faults(Faults(server_errors=ServerErrors(rate=1.0, statuses=(500,))))
    base_url, credential, kwargs = emulator.connection()
    async with ContainerServiceClient(
        credential, IDENTITY.subscription, base_url=base_url, retry_total=0, **kwargs
    ) as aks:
        with pytest.raises(HttpResponseError) as failed:
            await aks.managed_clusters.get(RG, CLUSTER)
    assert failed.value.status_code == 500
    assert failed.value.error is not None
    assert failed.value.error.code == "InternalServerError"


async def test_rates_are_deterministic_for_a_seed(
    pool_body: Callable[..., AgentPool],
) -> None:
    async def statuses(seed: int) -> list[int]:
        faults = Faults(server_errors=ServerErrors(rate=0.5, statuses=(500, 503)))
        config = EmulatorConfig(seed=seed)
        async with AksEmulator(config, faults=faults) as emulator:
            base_url, credential, kwargs = emulator.connection()
            async with ContainerServiceClient(
                credential, IDENTITY.subscription, base_url=base_url, retry_total=0, **kwargs
            ) as aks:
                seen = []
                for _ in range(20):
                    try:
                        await aks.agent_pools.get(RG, CLUSTER, "nodepool1")
                        seen.append(200)
                    except HttpResponseError as exc:
                        seen.append(exc.status_code or 0)
                return seen

    first, again, other = await statuses(7), await statuses(7), await statuses(8)
    assert first == again
    assert first != other
    assert {200, 500, 503} <= set(first)


# -- long-running operations ---------------------------------------------------------------------


async def test_failed_operation_fails_the_poller(
    aks: ContainerServiceClient, emulator: AksEmulator, pool_body: Callable[..., AgentPool]
) -> None:
    emulator.set_faults(
        Faults(
            failed_operations=(
                FailedOperation(pool="doomed*", code="ZonalAllocationFailed", message="no H100s"),
            )
        )
    )
    poller = await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "doomed1", pool_body())
    with pytest.raises(HttpResponseError) as failed:
        await poller.result()
    assert failed.value.error is not None
    assert failed.value.error.code == "ZonalAllocationFailed"
    assert failed.value.error.message == "no H100s"
    pool = await aks.agent_pools.get(RG, CLUSTER, "doomed1")
    assert pool.properties is not None
    assert pool.properties.provisioning_state == "Failed"
    # a failed pool can be deleted (and the delete is not matched by a create fault)
    await (await aks.agent_pools.begin_delete(RG, CLUSTER, "doomed1")).result()


async def test_failed_operation_times_then_success(
    aks: ContainerServiceClient, emulator: AksEmulator, pool_body: Callable[..., AgentPool]
) -> None:
    emulator.set_faults(Faults(failed_operations=(FailedOperation(times=1),)))
    with pytest.raises(HttpResponseError):
        await create(aks, "retry", pool_body())
    retried = await create(aks, "retry", pool_body())  # a PUT on a Failed pool is an update
    assert retried.properties.provisioning_state == "Succeeded"


async def test_failed_delete_keeps_the_pool(
    aks: ContainerServiceClient, emulator: AksEmulator, pool_body: Callable[..., AgentPool]
) -> None:
    await create(aks, "sticky", pool_body())
    emulator.set_faults(Faults(failed_operations=(FailedOperation(operation="delete"),)))
    with pytest.raises(HttpResponseError) as failed:
        await (await aks.agent_pools.begin_delete(RG, CLUSTER, "sticky")).result()
    assert failed.value.error is not None
    assert failed.value.error.code == "AllocationFailed"
    pool = await aks.agent_pools.get(RG, CLUSTER, "sticky")
    assert pool.properties is not None
    assert pool.properties.provisioning_state == "Failed"


async def test_stuck_operation_never_finishes_until_released(
    aks: ContainerServiceClient, emulator: AksEmulator, pool_body: Callable[..., AgentPool]
) -> None:
    emulator.set_faults(Faults(stuck_operations=(StuckOperation(),)))
    poller = await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "stuck", pool_body())
    waiting = asyncio.create_task(poller.result())

    async def polled_many_times() -> bool:
        return emulator.requests("operations.get") >= 10

    await poll_until(polled_many_times, description="ten polls of the stuck operation")
    assert not waiting.done()
    emulator.set_faults(emulator.faults.merged({"stuck_operations": None}))
    pool = await waiting
    assert pool.properties is not None
    assert pool.properties.provisioning_state == "Succeeded"


# -- SKU availability ----------------------------------------------------------------------------


async def test_sku_unavailable_in_the_location(
    aks: ContainerServiceClient, emulator: AksEmulator, pool_body: Callable[..., AgentPool]
) -> None:
    emulator.set_faults(Faults(unavailable_skus=(UnavailableSku(vm_size="Standard_NC6s_v3"),)))
    with pytest.raises(HttpResponseError) as refused:
        _ = await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "nope", pool_body())
    assert refused.value.error is not None
    assert refused.value.error.code == "SkuNotAvailable"
    await create(aks, "other", pool_body("Standard_NC12s_v3"))


async def test_sku_unavailable_in_a_zone(
    aks: ContainerServiceClient, emulator: AksEmulator, pool_body: Callable[..., AgentPool]
) -> None:
    emulator.set_faults(
        Faults(unavailable_skus=(UnavailableSku(vm_size="Standard_NC6s_v3", zones=("1",)),))
    )
    with pytest.raises(HttpResponseError) as refused:
        _ = await aks.agent_pools.begin_create_or_update(
            RG, CLUSTER, "zone1", pool_body(availabilityZones=["1", "2"])
        )
    assert refused.value.error is not None
    assert refused.value.error.code == "SkuNotAvailable"
    assert refused.value.error.target == "properties.availabilityZones"
    await create(aks, "zone2", pool_body(availabilityZones=["2"]))
    await create(aks, "nonzonal", pool_body())  # a non-zonal pool is not bound to zone 1


# -- latency (recorded on an injected clock) -----------------------------------------------------


async def test_latency_fixed_and_random(pool_body: Callable[..., AgentPool]) -> None:
    async def sleeps(seed: int) -> list[float]:
        clock = RecordingClock()
        faults = Faults(latency={"agentPools.get": 0.25, "agentPools.*": (0.1, 0.2)})
        async with AksEmulator(EmulatorConfig(seed=seed), faults=faults, clock=clock) as emulator:
            base_url, credential, kwargs = emulator.connection()
            async with ContainerServiceClient(
                credential, IDENTITY.subscription, base_url=base_url, **kwargs
            ) as aks:
                await aks.agent_pools.get(RG, CLUSTER, "nodepool1")
                [p async for p in aks.agent_pools.list(RG, CLUSTER)]
        return clock.sleeps

    first = await sleeps(3)
    assert first[0] == 0.25
    assert 0.1 <= first[1] <= 0.2
    assert first == await sleeps(3)
    assert first[1] != (await sleeps(4))[1]


async def test_operation_durations_use_the_clock(pool_body: Callable[..., AgentPool]) -> None:
    clock = RecordingClock()
    async with AksEmulator(EmulatorConfig(), clock=clock) as emulator:
        base_url, credential, kwargs = emulator.connection()
        async with ContainerServiceClient(
            credential, IDENTITY.subscription, base_url=base_url, **kwargs
        ) as aks:
            await create(aks, "timed", pool_body())
            await (await aks.agent_pools.begin_delete(RG, CLUSTER, "timed")).result()
    timing = EmulatorConfig().timing
    assert clock.sleeps == [timing.create_seconds, timing.delete_seconds]


# -- node join faults (recorded; the cluster tier checks real Nodes) ------------------------------


async def test_node_that_never_joins(pool_body: Callable[..., AgentPool]) -> None:
    nodes = RecordingNodes()
    faults = Faults(never_join=("ghost*",))
    config = EmulatorConfig(timing=OperationTiming(create_seconds=0))
    async with AksEmulator(config, faults=faults, nodes=nodes) as emulator:
        base_url, credential, kwargs = emulator.connection()
        async with ContainerServiceClient(
            credential, IDENTITY.subscription, base_url=base_url, **kwargs
        ) as aks:
            ghost = await create(aks, "ghost1", pool_body())
            await create(aks, "real1", pool_body())
        assert ghost.properties.provisioning_state == "Succeeded"
        assert sorted(nodes.nodes) == [IDENTITY.node_name("real1", 0)]
        assert emulator.counts()["nodes_joined"] == 1
