"""Composition root: settings → logging → API client → probes → (leader election →) terms of a
freshly assembled app, until SIGTERM/SIGINT (controller_kit owns the signals and the stop)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from kubernetes_asyncio import config

import controller_kit
from gpu_provisioner.app import assemble

if TYPE_CHECKING:
    import asyncio

    from gpu_provisioner.settings import Settings


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set (or until cancelled); each leadership term assembles afresh."""
    ctl = settings.controller
    controller_kit.configure_logging(json=ctl.log_json, level=ctl.log_level)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):  # the client library's own conventions
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    else:
        await config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
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
            app = await assemble(api, settings)
            try:
                await readiness.leading(app.run, synced=app.synced)()
            finally:
                await app.close()

        probes = controller_kit.ProbeServer(
            host=ctl.probe_bind_host, port=ctl.probe_port, readiness={"caches": readiness}
        )
        await probes.start()
        try:
            await controller_kit.run_until_stopped(lead, stop=stop, elector=elector)
        finally:
            await probes.stop()
