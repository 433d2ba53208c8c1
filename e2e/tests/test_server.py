"""The HTTP surface itself: bearer-token auth, api-versions, ARM error bodies, the admin endpoint,
how SDK clients connect (TLS with the default policy, or plain http), and the command line."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import sys
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from azure.mgmt.containerservice.aio import ContainerServiceClient

from aks_emulator import AksEmulator, ClusterIdentity, EmulatorConfig, StaticTokenCredential
from localcluster import poll_until

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

    from azure.mgmt.containerservice.types import AgentPool

IDENTITY = ClusterIdentity()
RG, CLUSTER = IDENTITY.resource_group, IDENTITY.cluster
POOLS = f"{IDENTITY.cluster_id}/agentPools"
API = "api-version=2026-08-01"


@pytest.fixture
async def http(emulator: AksEmulator) -> AsyncIterator[aiohttp.ClientSession]:
    assert emulator.tls_files is not None
    context = ssl.create_default_context(cafile=str(emulator.tls_files.ca_cert))
    async with aiohttp.ClientSession(
        base_url=emulator.base_url, connector=aiohttp.TCPConnector(ssl=context)
    ) as session:
        yield session


BEARER = {"Authorization": "Bearer anything"}


async def test_requests_without_a_bearer_token_are_401(
    http: aiohttp.ClientSession, emulator: AksEmulator
) -> None:
    async with http.get(f"{POOLS}?{API}") as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer ")
        body = await response.json()
    assert body["error"]["code"] == "AuthenticationFailed"
    async with http.get(f"{POOLS}?{API}", headers={"Authorization": "Basic eDp5"}) as response:
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "InvalidAuthenticationToken"
    assert emulator.counts()["operations"]["agentPools.list"] == {"401": 2}


async def test_a_configured_token_is_required() -> None:
    config = EmulatorConfig(bearer_token="the-right-one")
    async with AksEmulator(config) as emulator:
        base_url, _, kwargs = emulator.connection()
        async with ContainerServiceClient(
            StaticTokenCredential("a-wrong-one"), IDENTITY.subscription, base_url=base_url, **kwargs
        ) as aks:
            with pytest.raises(ClientAuthenticationError) as refused:
                await aks.managed_clusters.get(RG, CLUSTER)
        assert refused.value.error is not None
        assert refused.value.error.code == "InvalidAuthenticationToken"
        base_url, credential, kwargs = emulator.connection()
        async with ContainerServiceClient(
            credential, IDENTITY.subscription, base_url=base_url, **kwargs
        ) as aks:
            assert (await aks.managed_clusters.get(RG, CLUSTER)).name == CLUSTER


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("", "MissingApiVersionParameter"),
        ("?api-version=2019-01-01", "NoRegisteredProviderFound"),
    ],
)
async def test_api_version_is_checked(http: aiohttp.ClientSession, query: str, code: str) -> None:
    async with http.get(f"{POOLS}{query}", headers=BEARER) as response:
        assert response.status == 400
        assert (await response.json())["error"]["code"] == code


async def test_the_upstream_provisioners_api_version_is_served(
    http: aiohttp.ClientSession,
) -> None:
    async with http.get(f"{POOLS}?api-version=2024-01-01", headers=BEARER) as response:
        assert response.status == 200


async def test_unknown_paths_and_methods(
    http: aiohttp.ClientSession, emulator: AksEmulator
) -> None:
    async with http.get(f"/subscriptions/{IDENTITY.subscription}/x?{API}", headers=BEARER) as r:
        assert r.status == 404
        assert (await r.json())["error"]["code"] == "InvalidResourceType"
    async with http.post(f"{POOLS}/gpu?{API}", headers=BEARER) as r:
        assert r.status == 405
    async with http.put(f"{POOLS}/gpu?{API}", headers=BEARER, data=b"{not json") as r:
        assert r.status == 400
        assert (await r.json())["error"]["code"] == "InvalidRequestContent"
    assert emulator.counts()["operations"]["unknown"] == {"404": 1, "405": 1}


async def test_create_wire_shape(
    http: aiohttp.ClientSession, emulator: AksEmulator, pool_body: Callable[..., AgentPool]
) -> None:
    async with http.put(f"{POOLS}/wire?{API}", headers=BEARER, json=pool_body()) as response:
        assert response.status == 201
        body = await response.json()
        operation_url = response.headers["Azure-AsyncOperation"]
        location_url = response.headers["Location"]
    assert body["properties"]["provisioningState"] == "Creating"
    assert operation_url.startswith(f"{emulator.base_url}/subscriptions/")
    assert "/providers/Microsoft.ContainerService/locations/eastus/operations/" in operation_url

    async def finished() -> dict[str, Any] | None:
        async with http.get(operation_url, headers=BEARER) as polled:
            assert polled.status == 200
            document: dict[str, Any] = await polled.json()
        return None if document["status"] == "InProgress" else document

    document = await poll_until(finished, description="the create operation ends")
    assert document["status"] == "Succeeded"
    assert document["endTime"] >= document["startTime"]
    async with http.get(location_url, headers=BEARER) as result:
        assert result.status == 204


async def test_admin_endpoint(
    http: aiohttp.ClientSession, emulator: AksEmulator, pool_body: Callable[..., AgentPool]
) -> None:
    async with http.put(
        "/_admin/faults", json={"quota": {"standardNCSv3Family": 6}, "never_join": ["x*"]}
    ) as response:
        assert response.status == 200
    async with http.patch(
        "/_admin/faults", json={"never_join": None, "throttle": {"rate": 0.5}}
    ) as response:
        assert response.status == 200
        faults = await response.json()
    assert faults["quota"] == {"standardNCSv3Family": 6}
    assert "never_join" not in faults
    assert faults["throttle"]["rate"] == 0.5
    assert emulator.faults.throttle is not None

    async with http.put("/_admin/faults", json={"throttle": {"rate": 2}}) as response:
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "InvalidFaults"
    async with http.put("/_admin/faults", json={"no_such_fault": 1}) as response:
        assert response.status == 400
    assert emulator.faults.throttle is not None  # a rejected document changes nothing

    async with http.get("/_admin/faults") as response:
        assert (await response.json())["quota"] == {"standardNCSv3Family": 6}
    async with http.put("/_admin/faults", json={}) as response:
        assert response.status == 200

    async with http.put(f"{POOLS}/adm?{API}", headers=BEARER, json=pool_body()) as response:
        assert response.status == 201
    async with http.get("/_admin/counts") as response:
        counts = await response.json()
    assert counts["operations"]["agentPools.createOrUpdate"] == {"201": 1}
    assert counts["total"] == 1  # admin calls are not counted
    async with http.get("/_admin/state") as response:
        state = await response.json()
    assert [p["name"] for p in state["pools"]] == ["adm", "nodepool1"]
    async with http.delete("/_admin/counts") as response:
        assert response.status == 204
    assert emulator.counts()["total"] == 0


async def test_the_default_bearer_policy_refuses_plain_http() -> None:
    async with AksEmulator(EmulatorConfig(), tls=False) as emulator:
        assert emulator.base_url.startswith("http://")
        async with ContainerServiceClient(
            StaticTokenCredential(),
            IDENTITY.subscription,
            base_url=emulator.base_url,
            retry_total=0,
        ) as aks:
            with pytest.raises(ServiceRequestError, match="non-TLS"):
                await aks.managed_clusters.get(RG, CLUSTER)
        base_url, credential, kwargs = emulator.connection()  # swaps in PlainHttpBearerPolicy
        async with ContainerServiceClient(
            credential, IDENTITY.subscription, base_url=base_url, **kwargs
        ) as aks:
            assert (await aks.managed_clusters.get(RG, CLUSTER)).name == CLUSTER


SSL_CERT_FILE_CLIENT = """
import asyncio, sys
from azure.mgmt.containerservice.aio import ContainerServiceClient
from aks_emulator import StaticTokenCredential

async def main() -> None:
    # production construction: base URL and credential only, default auth policy and transport
    url, subscription, group, cluster = sys.argv[1:5]
    async with ContainerServiceClient(StaticTokenCredential(), subscription, base_url=url) as c:
        print((await c.managed_clusters.get(group, cluster)).name)

asyncio.run(main())
"""


async def test_a_process_can_trust_the_ca_through_ssl_cert_file(emulator: AksEmulator) -> None:
    assert emulator.tls_files is not None
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SSL_CERT_FILE_CLIENT,
        emulator.base_url,
        IDENTITY.subscription,
        RG,
        CLUSTER,
        env={**os.environ, "SSL_CERT_FILE": str(emulator.tls_files.ca_cert)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    assert out.decode().strip() == CLUSTER


async def test_command_line(tmp_path: Path, pool_body: Callable[..., AgentPool]) -> None:
    faults = tmp_path / "faults.yaml"
    faults.write_text("quota:\n  standardNCSv3Family: 6\n", encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aks_emulator",
        "--port",
        "0",
        "--tls-dir",
        str(tmp_path / "tls"),
        "--faults",
        str(faults),
        "--cluster",
        "cli-aks",
        "--create-seconds",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        base_url = line.decode().strip()
        assert base_url.startswith("https://127.0.0.1:")
        from aks_emulator import sdk_connection  # noqa: PLC0415 - the helper for a separate process

        url, credential, kwargs = sdk_connection(base_url, ca_cert=tmp_path / "tls" / "ca.pem")
        async with ContainerServiceClient(
            credential, IDENTITY.subscription, base_url=url, **kwargs
        ) as aks:
            poller = await aks.agent_pools.begin_create_or_update(RG, "cli-aks", "gpu", pool_body())
            assert (await poller.result()).name == "gpu"
            with pytest.raises(Exception, match="QuotaExceeded"):
                _ = await aks.agent_pools.begin_create_or_update(RG, "cli-aks", "gpu2", pool_body())
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), timeout=30)
    assert code == 0
