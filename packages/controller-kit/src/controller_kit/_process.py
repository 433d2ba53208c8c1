"""The process around a controller: logging, kube config, API client, probes, leader election and
leadership terms, until stopped (SIGTERM/SIGINT through :func:`run_until_signalled`).

Both controllers' ``main.run`` are this with their own term: each term assembles a fresh app
(caches, controller) on the shared API client and runs it under :meth:`StandbyReadiness.leading`;
their ``__main__`` is :func:`run_main`.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from typing import TYPE_CHECKING, Protocol, TypeVar

from kubernetes_asyncio import config
from kubernetes_asyncio.config import ConfigException

from controller_kit._leasing import LeaderElector, StandbyReadiness, process_identity
from controller_kit._logs import configure_logging
from controller_kit._running import api_client, run_until_signalled, run_until_stopped
from controller_kit._serving import ProbeServer
from controller_kit._settings import settings_from_command_line

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from kubernetes_asyncio.client import ApiClient


T = TypeVar("T")


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


def run_main(
    cls: type[T],
    run: Callable[[T, asyncio.Event], Awaitable[None]],
    *,
    prefix: str,
    prog: str,
    description: str,
    argv: Sequence[str] | None = None,
) -> None:
    """A controller's ``python -m`` entry point: settings from the environment (``--help`` lists
    them; a bad one is one line and exit 2), then ``run(settings, stop)`` until SIGTERM/SIGINT.
    No usable kube config is one line and exit 2 as well."""
    settings = settings_from_command_line(
        cls, prefix=prefix, prog=prog, description=description, argv=argv
    )
    try:
        asyncio.run(run_until_signalled(functools.partial(run, settings)))
    except ConfigException as exc:
        print(f"{prog}: no Kubernetes API configuration: {exc}", file=sys.stderr)
        sys.exit(2)
