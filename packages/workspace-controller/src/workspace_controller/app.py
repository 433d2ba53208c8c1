"""Wiring: caches, reconciler and controller for one process (used by ``main`` and the tests)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING

from controller_kit import Clock, Controller, EventRecorder, SystemClock
from workspace_controller import caches, discovery, metrics
from workspace_controller.reconciler import WorkspaceReconciler

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

    from workspace_controller.settings import Settings

NAME = "workspace"


@dataclasses.dataclass(frozen=True)
class App:
    """The wired controller: its caches and the controller draining them."""

    caches: caches.Caches
    controller: Controller

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for informer in self.caches.all():
                group.create_task(informer.run(), name=f"informer-{informer.resource.plural}")
            group.create_task(self.controller.run(), name="controller")
            group.create_task(metrics.publish(self.caches.workspaces), name="workspace-metrics")


async def assemble(api: ApiClient, settings: Settings, *, clock: Clock | None = None) -> App:
    """Wire caches, reconciler and controller (used by ``run`` and by the tests)."""
    clock = clock or SystemClock()
    claim_api = await discovery.claim_api(api, settings.provisioning.node_provisioning_api)
    cache = caches.Caches.create(api, claim_api=claim_api)
    reconciler = WorkspaceReconciler(
        api=api,
        caches=cache,
        settings=settings,
        claim_api=claim_api,
        events=EventRecorder(api, component="workspace-controller", clock=clock),
        clock=clock,
    )
    controller = Controller(
        name=NAME,
        reconciler=reconciler,
        max_concurrent_reconciles=settings.controller.max_concurrent_reconciles,
        clock=clock,
    )
    controller.watch(cache.workspaces)
    for owned in (cache.jobs, cache.deployments, cache.statefulsets, cache.pods, cache.claims):
        if owned is not None:
            controller.watch(owned, caches.workspace_of)
    controller.watch(cache.nodes, caches.workspaces_using_node(cache))
    controller.watch(cache.configmaps, caches.workspaces_using_configmap(cache))
    return App(caches=cache, controller=controller)
