"""Fixtures that run the workspace controller in-process against the real local control plane,
with localcluster's FakeKarpenterProvider standing in for a Karpenter provider."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import pathlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import pytest

import localcluster
import preset_catalog
from workspace_controller import app as app_module
from workspace_controller.settings import (
    ControllerSettings,
    NodeProvisioningApi,
    ProvisioningSettings,
    Settings,
)

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

REPO = pathlib.Path(__file__).resolve().parents[4]
Object = dict[str, Any]


@pytest.fixture
async def crds(kube_api: ApiClient) -> None:
    await localcluster.apply_manifests(kube_api, sorted((REPO / "crds").glob("*.yaml")))


@dataclasses.dataclass
class Running:
    app: app_module.App
    provider: localcluster.FakeKarpenterProvider


StartController = Callable[..., "contextlib.AbstractAsyncContextManager[Running]"]


@pytest.fixture
async def start_controller(
    kube_api_client_factory: Callable[[], ApiClient], crds: None
) -> AsyncIterator[StartController]:
    """``async with start_controller(api="nodeclaim") as running:`` runs controller + provider."""
    del crds
    tasks: list[asyncio.Task[None]] = []
    created_nodes: list[str] = []

    @contextlib.asynccontextmanager
    async def start(
        *, api: str = "nodeclaim", fail_launch: dict[str, tuple[str, str]] | None = None
    ) -> AsyncIterator[Running]:
        client = kube_api_client_factory()
        settings = Settings(
            controller=ControllerSettings(leader_elect=False, max_concurrent_reconciles=4),
            provisioning=ProvisioningSettings(
                node_provisioning_api=NodeProvisioningApi(api), node_ready_poll_seconds=0.5
            ),
        )
        app = await app_module.assemble(client, settings)
        provider = localcluster.FakeKarpenterProvider(
            client,
            "machine" if api == "machine" else "nodeclaim",  # idle when api == "none"
            gpu_count_of=lambda sku: preset_catalog.get_instance_type(sku).gpu.count,
            fail_launch=fail_launch,
        )
        running = [asyncio.create_task(app.run()), asyncio.create_task(provider.run())]
        tasks.extend(running)
        try:
            yield Running(app=app, provider=provider)
        finally:
            created_nodes.extend(provider.nodes)
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    cleanup = kube_api_client_factory()
    for node in created_nodes:
        await localcluster.delete_object(cleanup, "v1", "Node", node)
