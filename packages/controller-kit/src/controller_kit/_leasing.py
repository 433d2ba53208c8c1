"""Run work only while holding a Lease, using kubernetes-asyncio's leader election.

Two replicas of a controller may run; only the Lease holder reconciles. If this process loses
the Lease, :func:`run_as_leader` raises :class:`LeadershipLostError` so the process exits and
restarts as a follower, as controller-runtime does; if the work itself fails, its error is raised.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import structlog
from kubernetes_asyncio.leaderelection import electionconfig, leaderelection
from kubernetes_asyncio.leaderelection.resourcelock import leaselock

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine

    from kubernetes_asyncio.client import ApiClient

_log = structlog.get_logger("controller_kit.leader_election")


class LeadershipLostError(Exception):
    """This process no longer holds the Lease."""


async def run_as_leader(
    api: ApiClient,
    work: Callable[[], Awaitable[None]],
    *,
    lease_name: str,
    namespace: str,
    identity: str,
    lease_duration_seconds: float = 15.0,
    renew_deadline_seconds: float = 10.0,
    retry_period_seconds: float = 2.0,
) -> None:
    """Wait for the Lease, then run ``work`` while renewing it; never returns normally."""
    loop = asyncio.get_running_loop()
    work_outcome: asyncio.Future[None] = loop.create_future()

    async def on_started() -> None:
        _log.info("acquired lease", lease=lease_name, identity=identity)
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            if not work_outcome.done():
                work_outcome.set_exception(exc)
            raise
        if not work_outcome.done():
            work_outcome.set_result(None)

    async def on_stopped() -> None:
        _log.warning("lost lease", lease=lease_name, identity=identity)

    config = electionconfig.Config(
        leaselock.LeaseLock(lease_name, namespace, identity, api),
        # The lease lock stores the duration with int(str(value)): "15.0" would crash it.
        max(1, round(lease_duration_seconds)),
        renew_deadline_seconds,
        retry_period_seconds,
        on_started,
        on_stopped,
    )
    election = loop.create_task(leaderelection.LeaderElection(config).run(), name="leader-election")
    try:
        await asyncio.wait({election, work_outcome}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not election.done():
            election.cancel()
            await asyncio.gather(election, return_exceptions=True)
    if work_outcome.done():
        work_outcome.result()  # re-raises the work's error
        raise LeadershipLostError("the work ended while leading")
    election.result()
    raise LeadershipLostError(f"lost lease {namespace}/{lease_name}")


class StandbyReadiness:
    """``/readyz`` for a leader-elected process, as controller-runtime answers it.

    A standby replica (waiting for the Lease, so its caches are not running) is ready: it is
    healthy and able to take over, and a Deployment of two replicas must be able to roll out and
    count both as available. Once the process leads, it is ready when ``synced()`` says its
    caches have synced. Wrap the work given to :func:`run_as_leader` with :meth:`leading`.
    """

    def __init__(self, synced: Callable[[], bool]) -> None:
        self._synced = synced
        self._leading = False

    def leading(
        self, work: Callable[[], Awaitable[None]]
    ) -> Callable[[], Coroutine[Any, Any, None]]:
        async def run() -> None:
            self._leading = True
            await work()

        return run

    def __call__(self) -> bool:
        return not self._leading or self._synced()
