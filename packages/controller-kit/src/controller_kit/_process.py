"""The process around a controller: logging, kube config, API client, probes, leader election and
leadership terms, until stopped (SIGTERM/SIGINT through :func:`run_until_signalled`).

Both controllers' ``main.run`` are this with their own term: each term assembles a fresh app
(caches, controller) on the shared API client and runs it under :meth:`StandbyReadiness.leading`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Protocol

from kubernetes_asyncio import config

from controller_kit._leasing import LeaderElector, StandbyReadiness, process_identity
from controller_kit._logs import configure_logging
from controller_kit._running import api_client, run_until_stopped
from controller_kit._serving import ProbeServer

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable, Callable

    from kubernetes_asyncio.client import ApiClient


class ProcessSettings(Protocol):
    """The settings group both controllers share (their ``controller`` settings)."""

    @property
    def log_json(self) -> bool: ...
    @property
    def log_level(self) -> str: ...
    @property
    def leader_elect(self) -> bool: ...
    @property
    def lease_name(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def lease_duration_seconds(self) -> float: ...
    @property
    def renew_deadline_seconds(self) -> float: ...
    @property
    def retry_period_seconds(self) -> float: ...
    @property
    def probe_bind_host(self) -> str: ...
    @property
    def probe_port(self) -> int: ...


async def load_kube_config() -> None:
    """In a pod: the service account; elsewhere: $KUBECONFIG (read now, not at import time)."""
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    else:
        await config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))


async def run_process(
    settings: ProcessSettings,
    term: Callable[[ApiClient, StandbyReadiness], Awaitable[None]],
    *,
    stop: asyncio.Event | None = None,
) -> None:
    """Run ``term(api, readiness)`` whenever this process leads, until ``stop`` is set.

    ``term`` assembles its app and runs it through ``readiness.leading(...)``; without leader
    election there is one term.
    """
    configure_logging(json=settings.log_json, level=settings.log_level)
    await load_kube_config()
    async with api_client() as api:
        elector = None
        if settings.leader_elect:
            elector = LeaderElector(
                api,
                lease_name=settings.lease_name,
                namespace=settings.namespace,
                identity=process_identity(),
                lease_duration_seconds=settings.lease_duration_seconds,
                renew_deadline_seconds=settings.renew_deadline_seconds,
                retry_period_seconds=settings.retry_period_seconds,
            )
        readiness = StandbyReadiness(elector=elector)

        async def lead() -> None:
            await term(api, readiness)

        probes = ProbeServer(
            host=settings.probe_bind_host,
            port=settings.probe_port,
            readiness={"caches": readiness},
        )
        await probes.start()
        try:
            await run_until_stopped(lead, stop=stop, elector=elector)
        finally:
            await probes.stop()
