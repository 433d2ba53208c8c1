"""Composition root: settings → logging → API client → probes → (leader election →) terms of
fresh caches and controller, until SIGTERM/SIGINT (controller_kit owns the signals and the stop)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from kubernetes_asyncio import config

import controller_kit
from controller_kit import ProbeServer
from workspace_controller import app as app_module

if TYPE_CHECKING:
    import asyncio

    from workspace_controller.settings import Settings


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set (or until cancelled); each leadership term assembles afresh."""
    ctl = settings.controller
    controller_kit.configure_logging(json=ctl.log_json, level=ctl.log_level)
    await load_kube_config()
    async with controller_kit.api_client() as api:
        elector = None
        if ctl.leader_elect:
            elector = controller_kit.LeaderElector(
                api,
                lease_name=ctl.lease_name,
                namespace=ctl.namespace,
                identity=controller_kit.process_identity(),
                lease_duration_seconds=ctl.lease_duration_seconds,
                renew_deadline_seconds=ctl.renew_deadline_seconds,
                retry_period_seconds=ctl.retry_period_seconds,
            )
        readiness = controller_kit.StandbyReadiness(elector=elector)

        async def lead() -> None:
            app = await app_module.assemble(api, settings)
            await readiness.leading(app.run, synced=app.caches.synced)()

        probes = ProbeServer(
            host=ctl.probe_bind_host, port=ctl.probe_port, readiness={"caches": readiness}
        )
        await probes.start()
        try:
            await controller_kit.run_until_stopped(lead, stop=stop, elector=elector)
        finally:
            await probes.stop()


async def load_kube_config() -> None:
    """In a pod: the service account; elsewhere: $KUBECONFIG (read now, not at import time)."""
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    else:
        await config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
