"""Composition root: settings → logging → API client → probes → (leader election →) terms of
fresh caches and controller, until SIGTERM/SIGINT (controller_kit owns the process, the signals
and the stop)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import controller_kit
from workspace_controller import app as app_module

if TYPE_CHECKING:
    import asyncio

    from kubernetes_asyncio.client import ApiClient

    from workspace_controller.settings import Settings


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set (or until cancelled); each leadership term assembles afresh."""

    async def term(api: ApiClient, readiness: controller_kit.StandbyReadiness) -> None:
        app = await app_module.assemble(api, settings)
        await readiness.leading(app.run, synced=app.caches.synced)()

    await controller_kit.run_process(settings.controller, term, stop=stop)
