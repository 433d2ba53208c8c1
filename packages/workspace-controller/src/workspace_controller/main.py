"""Composition root: settings → logging → API client → caches → reconciler → controller → run."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket

from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient

import controller_kit
from controller_kit import Clock, Controller, EventRecorder, ProbeServer, SystemClock
from workspace_controller import caches, discovery, metrics
from workspace_controller.reconciler import WorkspaceReconciler
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
    return App(caches=cache, controller=controller)


async def run(settings: Settings) -> None:
    """Run until cancelled (or until leadership is lost)."""
    controller_kit.configure_logging(
        json=settings.controller.log_json, level=settings.controller.log_level
    )
    await load_kube_config()
    async with ApiClient() as api:
        app = await assemble(api, settings)
        probes = ProbeServer(
            host=settings.controller.probe_bind_host,
            port=settings.controller.probe_port,
            readiness={"caches": app.caches.synced},
        )
        await probes.start()
        try:
            if not settings.controller.leader_elect:
                await app.run()
                return
            await controller_kit.run_as_leader(
                api,
                app.run,
                lease_name=settings.controller.lease_name,
                namespace=settings.controller.namespace,
                identity=f"{socket.gethostname()}_{os.getpid()}",
                lease_duration_seconds=settings.controller.lease_duration_seconds,
                renew_deadline_seconds=settings.controller.renew_deadline_seconds,
                retry_period_seconds=settings.controller.retry_period_seconds,
            )
        finally:
            await probes.stop()


async def load_kube_config() -> None:
    """In a pod: the service account; elsewhere: $KUBECONFIG (read now, not at import time)."""
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    else:
        await config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))


def main() -> None:
    asyncio.run(run(Settings.from_env()))
