"""Composition root: settings → logging → API client → probes → (leader election →) terms of a
freshly assembled app, until SIGTERM/SIGINT (controller_kit owns the process, the signals and the
stop)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import controller_kit
from gpu_provisioner.app import assemble

if TYPE_CHECKING:
    import asyncio

    from kubernetes_asyncio.client import ApiClient

    from gpu_provisioner.settings import Settings


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set (or until cancelled); each leadership term assembles afresh and
    closes its ARM clients when it ends."""

    async def term(api: ApiClient, readiness: controller_kit.StandbyReadiness) -> None:
        app = await assemble(api, settings)
        try:
            await readiness.leading(app.run, synced=app.synced)()
        finally:
            await app.close()

    await controller_kit.run_process(settings.controller, term, stop=stop)
