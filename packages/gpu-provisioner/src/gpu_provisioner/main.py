"""Composition root: settings → logging → API client → app → probes → leader election → run."""

from __future__ import annotations

import asyncio
import os
import socket

from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient

import controller_kit
from gpu_provisioner.app import assemble
from gpu_provisioner.settings import Settings


async def run(settings: Settings) -> None:
    """Run until cancelled (or until leadership is lost)."""
    ctl = settings.controller
    controller_kit.configure_logging(json=ctl.log_json, level=ctl.log_level)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):  # the client library's own conventions
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    else:
        await config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
    async with ApiClient() as api:
        app = await assemble(api, settings)
        readiness = controller_kit.StandbyReadiness(app.synced)
        probes = controller_kit.ProbeServer(
            host=ctl.probe_bind_host, port=ctl.probe_port, readiness={"caches": readiness}
        )
        await probes.start()
        try:
            if not ctl.leader_elect:
                await readiness.leading(app.run)()
                return
            await controller_kit.run_as_leader(
                api,
                readiness.leading(app.run),
                lease_name=ctl.lease_name,
                namespace=ctl.namespace,
                identity=f"{socket.gethostname()}_{os.getpid()}",
                lease_duration_seconds=ctl.lease_duration_seconds,
                renew_deadline_seconds=ctl.renew_deadline_seconds,
                retry_period_seconds=ctl.retry_period_seconds,
            )
        finally:
            await probes.stop()
            await app.close()


def main() -> None:
    asyncio.run(run(Settings.from_env()))
