"""Run work only while holding a Lease: leader election with client-go's semantics.

Two replicas of a controller may run; only the Lease holder reconciles. The rules are
client-go's ``leaderelection`` package's, which every Go controller follows:

- a candidate takes the Lease when it is free (no holder, or a holder that released it), or when
  it has seen the same record unchanged for ``lease_duration_seconds`` (the holder stopped
  renewing); every write is an optimistic-concurrency PUT, so two candidates never both win;
- the holder renews every ``retry_period_seconds``; if it has not renewed for
  ``renew_deadline_seconds`` (shorter than the Lease duration, so it stops before anyone else can
  take over) it stops leading: its work is cancelled at once;
- on a graceful stop the holder releases the Lease (no holder, a duration of one second, as
  client-go's ``ReleaseOnCancel`` writes it), so a standby takes it without waiting for it to
  expire. A standby watches the Lease between attempts and tries again as soon as it is released.

Unlike controller-runtime, losing the Lease does not end the process: it goes back to being a
candidate and, when it leads again, runs its work afresh (``work`` assembles new caches each
time). Every error of a Lease request (connection refused, a timeout, a 5xx while etcd is down)
is one failed attempt, never fatal: an API-server outage must not turn into a restart of every
replica. We implement this rather than use kubernetes-asyncio's ``leaderelection``, whose lock
lets connection errors escape, has no per-attempt deadline and never releases the Lease.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import json
import math
import os
import random
import socket
from typing import TYPE_CHECKING, Any

import structlog
from kubernetes_asyncio.client.exceptions import ApiException

from controller_kit import _metrics, _resources
from controller_kit._clock import Clock, SystemClock
from controller_kit._running import SHUTDOWN_GRACE_SECONDS, run_term, wait_or_stop

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine

    from kubernetes_asyncio.client import ApiClient

    from controller_kit._resources import Object

_log = structlog.get_logger("controller_kit.leader_election")

JITTER = 0.2
"""A candidate waits ``retry_period * (1 + JITTER * random())`` between attempts."""
SERVER_ERROR = 500


def process_identity() -> str:
    """This process's candidate identity: ``<hostname>_<pid>`` (the pod name in a cluster)."""
    return f"{socket.gethostname()}_{os.getpid()}"


def _micro_time(when: datetime.datetime) -> str:
    """A Lease timestamp (metav1.MicroTime): RFC 3339 with microseconds, in UTC."""
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """One candidate for the Lease ``namespace/lease_name``, identified by ``identity``."""

    def __init__(
        self,
        api: ApiClient,
        *,
        lease_name: str,
        namespace: str,
        identity: str,
        lease_duration_seconds: float = 15.0,
        renew_deadline_seconds: float = 10.0,
        retry_period_seconds: float = 2.0,
        clock: Clock | None = None,
    ) -> None:
        if not lease_duration_seconds > renew_deadline_seconds > retry_period_seconds > 0:
            raise ValueError(
                "leader election needs lease_duration_seconds > renew_deadline_seconds > "
                f"retry_period_seconds > 0, got {lease_duration_seconds}, "
                f"{renew_deadline_seconds}, {retry_period_seconds}"
            )
        self._api = api
        self.lease_name = lease_name
        self.namespace = namespace
        self.identity = identity
        self._duration = lease_duration_seconds
        self._renew_deadline = renew_deadline_seconds
        self._retry = retry_period_seconds
        self._clock = clock or SystemClock()
        self._path = _resources.LEASES.path(namespace=namespace, name=lease_name)
        self._lease: Object | None = None  # the last Lease object read or written
        self._observed_spec: dict[str, Any] | None = None
        self._observed_at = 0.0
        self._renewed_at: float | None = None
        self._leader_gauge = _metrics.LEADER.labels(name=lease_name)
        self._set_leading(False)
        self._reachable = True
        self._log = _log.bind(lease=f"{namespace}/{lease_name}", identity=identity)

    def _set_leading(self, leading: bool) -> None:
        """Record leadership, and export it as ``leader_election_master_status{name}``."""
        self._leading = leading
        self._leader_gauge.set(1 if leading else 0)

    @property
    def leading(self) -> bool:
        """Whether this process holds the Lease and runs its work."""
        return self._leading

    def healthy(self) -> bool:
        """Whether the last Lease request got an answer from the API server (not a 5xx)."""
        return self._reachable

    # -- the loop ----------------------------------------------------------------------------

    async def run(
        self,
        work: Callable[[], Awaitable[None]],
        *,
        stop: asyncio.Event | None = None,
        grace_seconds: float = SHUTDOWN_GRACE_SECONDS,
    ) -> None:
        """Contend for the Lease and run ``work()`` while holding it, until ``stop`` is set.

        Losing the Lease cancels the work and makes this a candidate again. If the work fails,
        the error is logged, the Lease released and, after a retry period, contended for again.
        On ``stop`` the work is drained (see :func:`~controller_kit._running.run_term`), the
        Lease released, and this returns; so it does if the work returns by itself.
        """
        stop = stop or asyncio.Event()
        while not stop.is_set():
            if not await self._acquire(stop):
                return
            outcome = await self._lead(work, stop, grace_seconds)
            if outcome == "returned":
                return
            if outcome == "failed":
                await wait_or_stop(stop, self._clock, self._retry)

    async def _acquire(self, stop: asyncio.Event) -> bool:
        """Try until this process holds the Lease (True) or ``stop`` is set (False)."""
        self._log.info("waiting for the lease")
        while not stop.is_set():
            if await self._try_acquire_or_renew(within_seconds=self._renew_deadline):
                self._set_leading(True)
                self._log.info("acquired lease")
                return True
            await self._wait_for_release(stop, self._retry * (1 + JITTER * random.random()))
        return False

    async def _lead(
        self, work: Callable[[], Awaitable[None]], stop: asyncio.Event, grace_seconds: float
    ) -> str:
        """Run one term while renewing; "lost", "failed", "returned" or "stopped"."""
        loop = asyncio.get_running_loop()
        term_stop = asyncio.Event()
        term = loop.create_task(
            run_term(work, stop=term_stop, grace_seconds=grace_seconds), name="leading"
        )
        renewal = loop.create_task(self._renew_until_lost(), name="lease-renewal")
        stopped = loop.create_task(stop.wait(), name="leading-stop")
        try:
            await asyncio.wait({term, renewal, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if stopped.done() and not term.done() and not renewal.done():
                term_stop.set()  # drain while still renewing: the Lease must not lapse meanwhile
                await asyncio.wait({term, renewal}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (term, renewal, stopped):
                task.cancel()
            await asyncio.gather(term, renewal, stopped, return_exceptions=True)
            self._set_leading(False)
        if renewal.done() and not renewal.cancelled():
            if (error := renewal.exception()) is not None:
                self._log.error("lease renewal failed", exc_info=error)
            self._log.warning("lost lease, stopped working; a candidate again")
            return "lost"
        outcome = "stopped"
        if term.done() and not term.cancelled() and not stop.is_set():
            if (error := term.exception()) is not None:
                self._log.error("work failed while leading, stepping down", exc_info=error)
                outcome = "failed"
            else:
                outcome = "returned"
        await self._release()
        return outcome

    async def _renew_until_lost(self) -> None:
        """Renew every retry period; return once ``renew_deadline`` passed without a renewal."""
        while True:
            await self._clock.sleep(self._retry)
            while True:
                renewed_at = self._renewed_at or 0.0
                remaining = renewed_at + self._renew_deadline - self._clock.monotonic()
                if remaining <= 0:
                    self._log.warning(
                        "could not renew the lease within the renew deadline",
                        renew_deadline_seconds=self._renew_deadline,
                    )
                    return
                if await self._try_acquire_or_renew(within_seconds=remaining):
                    break
                await self._clock.sleep(min(self._retry, remaining))

    # -- one attempt -------------------------------------------------------------------------

    async def _try_acquire_or_renew(self, *, within_seconds: float) -> bool:
        """One attempt, bounded by ``within_seconds``; any failure is just False."""
        started = self._clock.monotonic()
        try:
            async with asyncio.timeout(within_seconds):
                acquired = await self._attempt(started)
        except ApiException as exc:
            self._answered(ok=exc.status < SERVER_ERROR, error=exc)
            return False
        except Exception as exc:  # connection refused/reset, a timeout, a TLS error ...
            self._answered(ok=False, error=exc)
            return False
        self._answered(ok=True)
        return acquired

    def _answered(self, *, ok: bool, error: BaseException | None = None) -> None:
        if ok and not self._reachable:
            self._log.info("lease requests answered again")
        elif not ok and self._reachable:
            self._log.warning("lease request failed", error=str(error) or type(error).__name__)
        elif error is not None:
            self._log.debug("lease request failed", error=str(error) or type(error).__name__)
        self._reachable = ok

    async def _attempt(self, started: float) -> bool:
        try:
            lease: Object | None = await _resources.call(self._api, "GET", self._path)
        except ApiException as exc:
            if exc.status != 404:
                raise
            lease = None
        now = _micro_time(self._clock.now())
        if lease is None:
            body: Object = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.lease_name, "namespace": self.namespace},
                "spec": self._spec(acquire_time=now, renew_time=now, transitions=0),
            }
            try:
                written = await _resources.create(self._api, _resources.LEASES, body)
            except ApiException as exc:
                if exc.status == 409:  # another candidate created it first
                    return False
                raise
            self._renewed(written, started)
            return True
        self._lease = lease
        spec: dict[str, Any] = dict(lease.get("spec") or {})
        if spec != self._observed_spec:
            self._observed_spec, self._observed_at = spec, started
        holder = spec.get("holderIdentity") or ""
        duration = float(spec.get("leaseDurationSeconds") or 0)
        if holder and holder != self.identity and self._observed_at + duration > started:
            return False  # held by another, and not expired as far as we have seen
        if holder == self.identity:
            acquire_time = spec.get("acquireTime") or now
            transitions = int(spec.get("leaseTransitions") or 0)
        else:
            acquire_time = now
            transitions = int(spec.get("leaseTransitions") or 0) + 1
        updated = copy.deepcopy(lease)
        updated["spec"] = {
            **spec,
            **self._spec(acquire_time=acquire_time, renew_time=now, transitions=transitions),
        }
        try:
            written = await _resources.call(self._api, "PUT", self._path, body=updated)
        except ApiException as exc:
            if exc.status == 409:  # someone wrote it since our read
                return False
            raise
        self._renewed(written, started)
        return True

    def _spec(self, *, acquire_time: str, renew_time: str, transitions: int) -> dict[str, Any]:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, math.ceil(self._duration)),
            "acquireTime": acquire_time,
            "renewTime": renew_time,
            "leaseTransitions": transitions,
        }

    def _renewed(self, lease: Object, started: float) -> None:
        self._lease = lease
        self._observed_spec = dict(lease.get("spec") or {})
        self._observed_at = started
        self._renewed_at = started

    # -- between attempts, and at the end ----------------------------------------------------

    async def _wait_for_release(self, stop: asyncio.Event, seconds: float) -> None:
        """Sleep ``seconds``; wake early when ``stop`` is set or the Lease is released."""
        loop = asyncio.get_running_loop()
        waits: set[asyncio.Task[Any]] = {
            loop.create_task(wait_or_stop(stop, self._clock, seconds), name="lease-retry"),
        }
        holder = (self._observed_spec or {}).get("holderIdentity")
        if self._lease is not None and holder and holder != self.identity:
            version = self._lease["metadata"].get("resourceVersion", "")
            waits.add(loop.create_task(self._released(version, seconds), name="lease-watch"))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    async def _released(self, resource_version: str, seconds: float) -> None:
        """Return when a watch of the Lease shows it released; otherwise never (cancelled)."""
        query = [
            ("watch", "true"),
            ("fieldSelector", f"metadata.name={self.lease_name}"),
            ("resourceVersion", resource_version),
            ("timeoutSeconds", str(max(1, math.ceil(seconds)))),
        ]
        try:
            response = await _resources.call(
                self._api,
                "GET",
                _resources.LEASES.path(namespace=self.namespace),
                query=query,
                preload=False,
                timeout_seconds=seconds + 5,
            )
            try:
                async for line in response.content:
                    event = json.loads(line)
                    kind = event.get("type")
                    spec = (event.get("object") or {}).get("spec") or {}
                    if kind == "DELETED" or (
                        kind in ("ADDED", "MODIFIED") and not spec.get("holderIdentity")
                    ):
                        return
            finally:
                response.release()
        except Exception as exc:  # the retry timer decides instead
            self._log.debug("lease watch failed", error=str(exc) or type(exc).__name__)
        await asyncio.Event().wait()

    async def _release(self) -> None:
        """Give the Lease up (client-go's ReleaseOnCancel) if this process still holds it."""
        if self._lease is None or self._renewed_at is None:
            return
        if (self._observed_spec or {}).get("holderIdentity") != self.identity:
            return
        if self._clock.monotonic() - self._renewed_at > self._duration:
            return  # expired anyway: someone else may hold it by now
        now = _micro_time(self._clock.now())
        released = copy.deepcopy(self._lease)
        released["spec"] = {
            **(released.get("spec") or {}),
            "holderIdentity": "",
            "leaseDurationSeconds": 1,
            "acquireTime": now,
            "renewTime": now,
        }
        try:
            async with asyncio.timeout(self._renew_deadline):
                written = await _resources.call(self._api, "PUT", self._path, body=released)
        except Exception as exc:
            self._log.warning("could not release the lease", error=str(exc) or type(exc).__name__)
            return
        self._lease = written
        self._observed_spec = dict(written.get("spec") or {})
        self._renewed_at = None
        self._log.info("released lease")


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
    stop: asyncio.Event | None = None,
    grace_seconds: float = SHUTDOWN_GRACE_SECONDS,
    clock: Clock | None = None,
) -> None:
    """Run ``work`` whenever this process holds the Lease, until ``stop`` is set.

    See :meth:`LeaderElector.run`.
    """
    elector = LeaderElector(
        api,
        lease_name=lease_name,
        namespace=namespace,
        identity=identity,
        lease_duration_seconds=lease_duration_seconds,
        renew_deadline_seconds=renew_deadline_seconds,
        retry_period_seconds=retry_period_seconds,
        clock=clock,
    )
    await elector.run(work, stop=stop, grace_seconds=grace_seconds)


class StandbyReadiness:
    """``/readyz`` for a leader-elected process, as controller-runtime answers it.

    A standby replica (waiting for the Lease, so its caches are not running) is ready: it is
    healthy and able to take over, and a Deployment of two replicas must be able to roll out and
    count both as available. Once the process leads, it is ready when the term's ``synced()``
    says its caches are in sync (an informer whose list/watch fails is not). With an ``elector``,
    a process whose Lease requests go unanswered (the API server or etcd is down) is not ready
    either. Wrap each term's work with :meth:`leading`.
    """

    def __init__(
        self,
        synced: Callable[[], bool] | None = None,
        *,
        elector: LeaderElector | None = None,
    ) -> None:
        self._synced = synced or (lambda: True)
        self._elector = elector
        self._leading = False

    def leading(
        self,
        work: Callable[[], Awaitable[None]],
        *,
        synced: Callable[[], bool] | None = None,
    ) -> Callable[[], Coroutine[Any, Any, None]]:
        """``work`` marked as leading while it runs; ``synced`` replaces the caches' check."""

        async def run() -> None:
            if synced is not None:
                self._synced = synced
            self._leading = True
            try:
                await work()
            finally:
                self._leading = False

        return run

    def __call__(self) -> bool:
        if self._elector is None:
            return not self._leading or self._synced()
        if not self._elector.healthy():
            return False
        # A leader is ready once its term has started and its caches have synced.
        return not self._elector.leading or (self._leading and self._synced())
