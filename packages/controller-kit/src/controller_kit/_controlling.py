"""Run a Reconciler: workers take keys from the work queue and reconcile them, with metrics.

At most ``max_concurrent_reconciles`` keys are reconciled at once, and never the same key twice
(the queue guarantees it). Each pass runs with the request and a fresh reconcile id bound to the
log context. Outcomes map to controller-runtime's: success forgets the key's backoff; a
``requeue_after`` result re-adds it later; an exception retries with backoff (an unreachable API
server too: it is logged without a traceback); a :class:`TerminalError` is logged and counted
but not retried. A 409 Conflict or 404 Not Found from the API server (a write that lost a race
with another writer or with deletion) is a quiet requeue with backoff, counted as
``result="requeue"`` and not as an error (logged at debug, a 404 at info).

Started inside a term of :mod:`controller_kit._running`, a controller stops taking keys when the
term is stopping and returns once its in-flight reconciles have ended (a graceful shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
import structlog
from kubernetes_asyncio.client.exceptions import ApiException

from controller_kit import _metrics, _running
from controller_kit._clock import Clock, SystemClock
from controller_kit._queueing import QueueShutDownError, RateLimiter, WorkQueue
from controller_kit._reconciling import Reconciler, Request, TerminalError

if TYPE_CHECKING:
    from controller_kit._informing import EventType, Informer
    from controller_kit._resources import Object

Mapper = Callable[[Any], list[Request]]
"""Maps a watched object to the requests it should trigger."""


def request_for(obj: Mapping[str, Any]) -> list[Request]:
    """The object's own key."""
    meta = obj["metadata"]
    return [Request(meta.get("namespace") or "", meta["name"])]


class Controller:
    """One named controller: a queue, its workers, and the watches that feed it."""

    def __init__(
        self,
        *,
        name: str,
        reconciler: Reconciler,
        max_concurrent_reconciles: int = 5,
        rate_limiter: RateLimiter[Request] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self._reconciler = reconciler
        self._clock = clock or SystemClock()
        self._workers = max_concurrent_reconciles
        self.queue: WorkQueue[Request] = WorkQueue(
            name=name, rate_limiter=rate_limiter, clock=self._clock
        )
        self._log = structlog.get_logger(name)
        _metrics.init_controller(name, max_concurrent_reconciles)
        self._active = _metrics.ACTIVE_WORKERS.labels(controller=name)
        self._informers: list[Informer] = []

    def watch(
        self,
        informer: Informer,
        mapper: Mapper = request_for,
        *,
        predicate: Callable[[EventType, Object | None, Object | None], bool] | None = None,
    ) -> None:
        """Enqueue ``mapper(obj)`` for every change ``informer`` sees that ``predicate`` passes."""

        def handle(event: EventType, old: Object | None, new: Object | None) -> None:
            if predicate is not None and not predicate(event, old, new):
                return
            for obj in (old, new):
                if obj is not None:
                    for request in mapper(obj):
                        self.queue.add(request)

        informer.add_handler(handle)
        self._informers.append(informer)

    async def run(self) -> None:
        """Wait for the watched caches to sync, then reconcile until cancelled.

        In a term that is stopping, take no more keys and return once in-flight reconciles end.
        """
        term = _running.current_term()
        with term.busy() if term is not None else contextlib.nullcontext():
            try:
                if not await self._synced(term):
                    return
                self._log.info("starting workers", workers=self._workers)
                async with asyncio.TaskGroup() as group:
                    workers = [
                        group.create_task(self._worker(), name=f"{self.name}-worker-{index}")
                        for index in range(self._workers)
                    ]
                    if term is not None:
                        group.create_task(self._stop_on(term.stopping), name=f"{self.name}-stop")
                    try:
                        await asyncio.wait(workers)
                    except asyncio.CancelledError:
                        # Take no more keys even if a reconcile outlives its cancellation.
                        self.queue.shut_down()
                        raise
            finally:
                self.queue.shut_down()

    async def _synced(self, term: _running.Term | None) -> bool:
        """Wait until every watched cache has synced (True) or the term is stopping (False)."""
        synced = asyncio.ensure_future(asyncio.gather(*(i.synced.wait() for i in self._informers)))
        waits: set[asyncio.Future[Any]] = {synced}
        if term is not None:
            waits.add(asyncio.ensure_future(term.stopping.wait()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        return synced.done() and not synced.cancelled() and not (term and term.stopping.is_set())

    async def _stop_on(self, stopping: asyncio.Event) -> None:
        await stopping.wait()
        self._log.info("stopping workers", in_flight=len(self.queue.processing))
        self.queue.shut_down()

    async def _worker(self) -> None:
        while True:
            try:
                request = await self.queue.get()
            except QueueShutDownError:
                return
            self._active.inc()
            try:
                await self._process(request)
            finally:
                self._active.dec()
                self.queue.done(request)

    async def _process(self, request: Request) -> None:
        reconcile_id = secrets.token_hex(8)
        started = self._clock.monotonic()
        with structlog.contextvars.bound_contextvars(
            controller=self.name,
            namespace=request.namespace,
            name=request.name,
            reconcile_id=reconcile_id,
        ):
            try:
                result = await self._reconciler.reconcile(request)
            except asyncio.CancelledError:
                raise
            except TerminalError as exc:
                _metrics.TERMINAL_RECONCILE_ERRORS.labels(controller=self.name).inc()
                _metrics.RECONCILE_ERRORS.labels(controller=self.name).inc()
                _metrics.RECONCILE_TOTAL.labels(controller=self.name, result="error").inc()
                self._log.error("reconcile failed terminally", error=str(exc))
                self.queue.forget(request)
                return
            except ApiException as exc:
                if exc.status not in _STALE:
                    self._failed(request, exc)
                    return
                # Our write lost a race (409: the object changed since our read; 404: it is
                # gone). Not an error: the next pass reads the newer state, as controller-runtime
                # users return Requeue on a conflict.
                _metrics.RECONCILE_TOTAL.labels(controller=self.name, result="requeue").inc()
                # A 404 stays visible at info: it is also what a missing CRD looks like.
                log = self._log.debug if exc.status == 409 else self._log.info
                log("object changed or gone, requeued", error=describe(exc))
                self.queue.add_rate_limited(request)
                return
            except Exception as exc:
                self._failed(request, exc)
                return
            finally:
                _metrics.RECONCILE_TIME.labels(controller=self.name).observe(
                    self._clock.monotonic() - started
                )
            self.queue.forget(request)
            if result.requeue_after is not None:
                _metrics.RECONCILE_TOTAL.labels(controller=self.name, result="requeue_after").inc()
                self.queue.add_after(request, result.requeue_after)
            else:
                _metrics.RECONCILE_TOTAL.labels(controller=self.name, result="success").inc()

    def _failed(self, request: Request, exc: Exception) -> None:
        """Count an error and retry with backoff; a traceback only for unexpected exceptions."""
        _metrics.RECONCILE_ERRORS.labels(controller=self.name).inc()
        _metrics.RECONCILE_TOTAL.labels(controller=self.name, result="error").inc()
        if _is_panic(exc):
            _metrics.RECONCILE_PANICS.labels(controller=self.name).inc()
        log = self._log.info if _is_expected(exc) else self._log.warning
        log(
            "reconcile failed, retrying",
            error=describe(exc),
            retries=self.queue.rate_limiter.retries(request),
            exc_info=_is_panic(exc),
        )
        self.queue.add_rate_limited(request)


_STALE = (404, 409)
"""A write that lost a race with another writer (Conflict) or with deletion (Not Found)."""


def _is_expected(exc: Exception) -> bool:
    """Throttling is routine: logged without a warning, still counted as an error."""
    return isinstance(exc, ApiException) and exc.status == 429


def _is_panic(exc: Exception) -> bool:
    """The analogue of a Go reconciler's recovered panic: a bug, not an API or network error
    (see ``controller_runtime_reconcile_panics_total``); logged with a traceback."""
    return not isinstance(exc, ApiException) and not unreachable(exc)


def unreachable(exc: BaseException) -> bool:
    """The API server (or another endpoint) did not answer: refused, reset, timed out."""
    return isinstance(exc, aiohttp.ClientError | ConnectionError | TimeoutError)


def describe(exc: BaseException) -> str:
    """One line for a log: the API server's own message for API errors."""
    if isinstance(exc, ApiException):
        message = ""
        with contextlib.suppress(ValueError, TypeError):
            message = json.loads(exc.body or "{}").get("message", "")
        return f"HTTP {exc.status} {exc.reason}" + (f": {message}" if message else "")
    return str(exc) or type(exc).__name__
