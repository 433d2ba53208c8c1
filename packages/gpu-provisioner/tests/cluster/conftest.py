"""Run the provisioner in-process against the real local control plane and the AKS emulator.

The emulator serves ARM over TLS to the real async Azure SDK and joins each pool's Node into the
cluster (kwok marks it Ready); the provisioner reaches it through its ordinary settings (base URL,
CA bundle) and a static token credential. Durations are shortened through settings only.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import pathlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, cast

import pytest
from azure.mgmt.containerservice.aio import ContainerServiceClient
from kubernetes_asyncio.client.exceptions import ApiException

import localcluster
from aks_emulator import (
    AksEmulator,
    EmulatorConfig,
    KubeNodeJoiner,
    OperationTiming,
    StaticTokenCredential,
)
from gpu_provisioner import app as app_module
from gpu_provisioner.settings import (
    AzureSettings,
    ControllerSettings,
    ProvisioningSettings,
    Settings,
)

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

REPO = pathlib.Path(__file__).resolve().parents[4]
Object = dict[str, Any]
IDENTITY = EmulatorConfig().identity


@pytest.fixture
async def crds(kube_api: ApiClient) -> None:
    await localcluster.apply_manifests(kube_api, sorted((REPO / "crds").glob("karpenter*.yaml")))


@pytest.fixture
async def emulator(
    kube_api_client_factory: Callable[[], ApiClient], crds: None
) -> AsyncIterator[AksEmulator]:
    del crds
    config = EmulatorConfig(
        timing=OperationTiming(create_seconds=0.2, update_seconds=0.1, delete_seconds=0.1)
    )
    async with AksEmulator(config, nodes=KubeNodeJoiner(kube_api_client_factory())) as running:
        yield running


@pytest.fixture
async def aks(emulator: AksEmulator) -> AsyncIterator[ContainerServiceClient]:
    base_url, credential, kwargs = emulator.connection()
    async with ContainerServiceClient(
        credential, IDENTITY.subscription, base_url=base_url, retry_backoff_factor=0.01, **kwargs
    ) as client:
        yield client


def fast_settings(emulator: AksEmulator, **provisioning: Any) -> Settings:
    assert emulator.tls_files is not None
    return Settings(
        azure=AzureSettings(
            subscription_id=IDENTITY.subscription,
            resource_group=IDENTITY.resource_group,
            cluster_name=IDENTITY.cluster,
            location=IDENTITY.location,
            arm_base_url=emulator.base_url,
            connection_verify=str(emulator.tls_files.ca_cert),
            polling_interval_seconds=0.05,
            retry_backoff_factor=0.01,
        ),
        provisioning=ProvisioningSettings(
            **{
                "poll_interval_seconds": 0.1,
                "error_requeue_seconds": 0.2,
                "gc_interval_seconds": 0.3,
                "gc_grace_seconds": 0.5,
                "node_wait_seconds": 10.0,
                **provisioning,
            }
        ),
        controller=ControllerSettings(leader_elect=False, max_concurrent_reconciles=8),
    )


@dataclasses.dataclass
class Running:
    app: app_module.App
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.app.close()


StartProvisioner = Callable[..., "contextlib.AbstractAsyncContextManager[Running]"]


@pytest.fixture
def start_provisioner(
    kube_api_client_factory: Callable[[], ApiClient], emulator: AksEmulator
) -> StartProvisioner:
    """``async with start_provisioner(**provisioning_settings) as running:``."""

    @contextlib.asynccontextmanager
    async def start(**provisioning: Any) -> AsyncIterator[Running]:
        client = kube_api_client_factory()
        app = await app_module.assemble(
            client, fast_settings(emulator, **provisioning), credential=StaticTokenCredential()
        )
        running = Running(app=app, task=asyncio.create_task(app.run()))
        try:
            yield running
        finally:
            await running.stop()

    return start


@pytest.fixture(autouse=True)
async def clean_claims(
    kube_api_client_factory: Callable[[], ApiClient], crds: None
) -> AsyncIterator[None]:
    """No claim or emulator Node on the shared cluster before or after each test. Before: ones
    left by earlier tests (of any package) would rightly be adopted by the provisioner, and the
    test would see their pools, Nodes and counters. After: none of ours is left for the next."""
    del crds
    await _cleanup(kube_api_client_factory())
    yield
    await _cleanup(kube_api_client_factory())


async def _cleanup(api: ApiClient) -> None:
    """Leave no claim or emulator Node behind for the next test (finalizers stripped)."""
    for api_version, kind in (
        ("karpenter.sh/v1", "NodeClaim"),
        ("karpenter.sh/v1alpha5", "Machine"),
    ):
        ref = await localcluster.resolve(api, api_version, kind)
        listing = await _list(api, ref.path())
        for item in listing.get("items") or []:
            await _strip_and_delete(api, ref.path(name=item["metadata"]["name"]))
    nodes = await _list(api, "/api/v1/nodes")
    for node in nodes.get("items") or []:
        if node["metadata"]["name"].startswith("aks-"):
            await _strip_and_delete(api, f"/api/v1/nodes/{node['metadata']['name']}")


async def _list(api: ApiClient, path: str) -> Object:
    """A list, retried while the API server answers 429 (a CRD just installed: "storage is
    (re)initializing")."""

    async def listed() -> Object | None:
        try:
            return cast("Object", await localcluster.request(api, "GET", path))
        except ApiException as exc:
            if exc.status == 429:
                return None
            raise

    return await localcluster.poll_until(listed, description=f"GET {path}", interval_seconds=0.5)


async def _strip_and_delete(api: ApiClient, path: str) -> None:
    with contextlib.suppress(Exception):
        await localcluster.request(
            api,
            "PATCH",
            path,
            body={"metadata": {"finalizers": None}},
            content_type="application/merge-patch+json",
        )
    with contextlib.suppress(Exception):
        await localcluster.request(api, "DELETE", path)


@pytest.fixture
def provisioner_settings(emulator: AksEmulator) -> Settings:
    """Fast settings pointed at this test's emulator."""
    return fast_settings(emulator)
