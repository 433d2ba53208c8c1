"""Fixtures that run the workspace controller in-process against the real local control plane,
with a small test double standing in for a Karpenter provider."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import pathlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import pytest

import localcluster
import preset_catalog
from controller_kit import Informer, conditions, resources
from workspace_controller import kinds, main
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
class FakeProvider:
    """Plays a Karpenter provider: for each claim, a kwok GPU Node, then every lifecycle condition.

    ``fail_launch`` maps an instance type to (reason, message): such claims get Launched=False
    instead, as a provider reports a quota or capacity error.
    """

    api: ApiClient
    claim_api: kinds.ClaimApi
    fail_launch: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    nodes: list[str] = dataclasses.field(default_factory=list)

    async def run(self) -> None:
        resource = kinds.CLAIMS[self.claim_api]
        informer = Informer(self.api, resource)
        pending: asyncio.Queue[str] = asyncio.Queue()
        informer.add_handler(
            lambda _e, _o, new: pending.put_nowait(new["metadata"]["name"]) if new else None
        )
        async with asyncio.TaskGroup() as group:
            group.create_task(informer.run())
            while True:
                name = await pending.get()
                claim = informer.get(name)
                if claim is not None:
                    await self._serve(resource, claim)

    async def _serve(self, resource: kinds.Resource, claim: Object) -> None:
        meta = claim["metadata"]
        if meta.get("deletionTimestamp"):
            with contextlib.suppress(Exception):
                await localcluster.delete_object(self.api, "v1", "Node", meta["name"])
            return
        types = kinds.CLAIM_READY[self.claim_api], kinds.CLAIM_LAUNCHED[self.claim_api]
        if conditions.is_true(claim.get("status", {}).get("conditions"), types[0]):
            return
        requirements = claim["spec"].get("requirements") or []
        instance_type = next(
            r["values"][0] for r in requirements if r["key"] == "node.kubernetes.io/instance-type"
        )
        now = conditions.rfc3339(datetime.datetime.now(datetime.UTC))
        if instance_type in self.fail_launch:
            reason, message = self.fail_launch[instance_type]
            status = {
                "conditions": [
                    {
                        "type": types[1],
                        "status": "False",
                        "reason": reason,
                        "message": message,
                        "lastTransitionTime": now,
                    }
                ]
            }
            await resources.patch(
                self.api, resource, meta["name"], {"status": status}, subresource="status"
            )
            return
        gpus = preset_catalog.get_instance_type(instance_type).gpu.count
        labels = {**(meta.get("labels") or {}), "node.kubernetes.io/instance-type": instance_type}
        with contextlib.suppress(Exception):  # already created on an earlier event
            await localcluster.create_gpu_node(
                self.api,
                meta["name"],
                gpu_count=gpus,
                labels=labels,
                taints=claim["spec"].get("taints") or [],
            )
            self.nodes.append(meta["name"])
        names = (
            ("MachineLaunched", "MachineRegistered", "MachineInitialized", "Ready")
            if self.claim_api == "machine"
            else ("Launched", "Registered", "Initialized", "Ready")
        )
        ready_status: dict[str, Any] = {
            "nodeName": meta["name"],
            "providerID": f"kwok://{meta['name']}",
            "conditions": [
                {"type": t, "status": "True", "reason": t, "message": "", "lastTransitionTime": now}
                for t in names
            ],
        }
        await resources.patch(
            self.api, resource, meta["name"], {"status": ready_status}, subresource="status"
        )


@dataclasses.dataclass
class Running:
    app: main.App
    provider: FakeProvider


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
        app = await main.assemble(client, settings)
        provider = FakeProvider(client, api, fail_launch or {})  # type: ignore[arg-type]
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
