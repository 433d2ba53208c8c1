"""Composition root: settings → logging → API client → app (caches, controller) → run."""

from __future__ import annotations

import asyncio
import os
import socket

from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient

import controller_kit
from controller_kit import ProbeServer
from workspace_controller import app as app_module
from workspace_controller.settings import Settings


async def run(settings: Settings) -> None:
    """Run until cancelled (or until leadership is lost)."""
    controller_kit.configure_logging(
        json=settings.controller.log_json, level=settings.controller.log_level
    )
    await load_kube_config()
    async with ApiClient() as api:
        app = await app_module.assemble(api, settings)
        readiness = controller_kit.StandbyReadiness(app.caches.synced)
        probes = ProbeServer(
            host=settings.controller.probe_bind_host,
            port=settings.controller.probe_port,
            readiness={"caches": readiness},
        )
        await probes.start()
        try:
            if not settings.controller.leader_elect:
                await readiness.leading(app.run)()
                return
            await controller_kit.run_as_leader(
                api,
                readiness.leading(app.run),
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
