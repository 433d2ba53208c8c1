"""One owner for a process's work and its signals: graceful stop, drained reconciles, restarts.

A controller process does its work in *terms*: one call of its ``work`` function (assemble fresh
caches and controllers, then run them). Without leader election there is one term at a time for
the life of the process; with it, one per period of leadership (see :mod:`controller_kit._leasing`).

Stopping a term gracefully (SIGTERM on a rollout, SIGINT at a terminal) works in two steps, as
controller-runtime's manager does: every :class:`~controller_kit.Controller` started inside the
term stops taking keys while its in-flight reconciles finish, for at most ``grace_seconds``; then
whatever still runs (informers, background tasks, reconciles past the grace period) is
cancelled. Reconcilers are level-based, so an abandoned pass costs only a later one. The term
tells its controllers through a context variable, which every task created inside it inherits, so
an application's wiring (``App.run``) needs no shutdown plumbing of its own.

If a term fails (its work raises, e.g. it cannot assemble its caches while the API server is
unreachable), the error is logged and the work is started again after a delay: a process whose
dependencies blink must not exit, or every replica restarts together.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import signal
from typing import TYPE_CHECKING

import structlog
from kubernetes_asyncio.client import ApiClient

from controller_kit._clock import Clock, SystemClock

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence

    from controller_kit._leasing import LeaderElector

SHUTDOWN_GRACE_SECONDS = 10.0
"""How long in-flight reconciles may run on after a stop is requested before they are abandoned.

Well inside the 30 s a pod gets between SIGTERM and SIGKILL by default (the charts do not change
``terminationGracePeriodSeconds``), leaving time to release the Lease."""
RESTART_DELAY_SECONDS = 2.0
"""Pause before a failed term's work is started again (without leader election)."""
ABANDON_SECONDS = 5.0
"""How long cancelled work may take to end before it is left behind (and logged): a reconcile
stuck in a call that does not honour cancellation must not keep the process from stepping down."""
TLS_CLOSE_SECONDS = 0.25
"""How long :func:`api_client` lets TLS connections finish closing after its session closed."""

_log = structlog.get_logger("controller_kit.running")


class Term:
    """One run of a process's work; controllers started inside it stop when it is stopping."""

    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        """Set when the term should wind down: controllers stop taking keys."""
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Marks a controller as running (its reconciles in flight) until the block ends."""
        self._busy += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._busy -= 1
            if self._busy == 0:
                self._idle.set()

    async def drained(self) -> None:
        """Returns once no controller of this term is running."""
        await self._idle.wait()


_LEFT_BEHIND: set[asyncio.Task[None]] = set()

_CURRENT: contextvars.ContextVar[Term | None] = contextvars.ContextVar(
    "controller_kit_term", default=None
)


def current_term() -> Term | None:
    """The term the calling task runs in (None outside :func:`run_term`)."""
    return _CURRENT.get()


async def run_term(
    work: Callable[[], Awaitable[None]],
    *,
    stop: asyncio.Event,
    grace_seconds: float = SHUTDOWN_GRACE_SECONDS,
) -> None:
    """Run ``work()`` as one term until it returns, raises, or ``stop`` is set.

    On ``stop`` its controllers get up to ``grace_seconds`` to finish their in-flight reconciles;
    then the work is cancelled and this returns. Cancelling this call abandons the work at once
    (what a leader that lost its Lease must do). ``work``'s own error is raised.
    """
    term = Term()

    async def start() -> None:
        await work()

    context = contextvars.copy_context()
    context.run(_CURRENT.set, term)
    task = asyncio.get_running_loop().create_task(start(), name="term", context=context)
    stopped = asyncio.get_running_loop().create_task(stop.wait(), name="term-stop")
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            term.stopping.set()
            _log.info("stopping: draining in-flight reconciles", grace_seconds=grace_seconds)
            drained = asyncio.get_running_loop().create_task(term.drained(), name="term-drain")
            try:
                done, _ = await asyncio.wait(
                    {task, drained}, timeout=grace_seconds, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                drained.cancel()
            if not done:
                _log.warning("grace period over, abandoning in-flight reconciles")
    finally:
        stopped.cancel()
        await asyncio.gather(stopped, return_exceptions=True)
        await _cancel(task)
    if task.done() and not task.cancelled():
        task.result()  # the work's own error


async def _cancel(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait up to ``ABANDON_SECONDS`` for it; then leave it behind."""
    if task.done():
        return
    task.cancel()
    await asyncio.wait({task}, timeout=ABANDON_SECONDS)
    if not task.done():
        _log.error("work did not end when cancelled; leaving it behind", task=task.get_name())
        _LEFT_BEHIND.add(task)
        task.add_done_callback(_LEFT_BEHIND.discard)


async def run_until_stopped(
    work: Callable[[], Awaitable[None]],
    *,
    stop: asyncio.Event | None = None,
    elector: LeaderElector | None = None,
    grace_seconds: float = SHUTDOWN_GRACE_SECONDS,
    restart_delay_seconds: float = RESTART_DELAY_SECONDS,
    clock: Clock | None = None,
) -> None:
    """Run terms of ``work`` one after another until ``stop`` is set.

    With an ``elector``, only while it holds its Lease (:meth:`LeaderElector.run`). Without one,
    a term that fails is logged and started again after ``restart_delay_seconds``; one that
    returns ends the run.
    """
    stop = stop or asyncio.Event()
    if elector is not None:
        await elector.run(work, stop=stop, grace_seconds=grace_seconds)
        return
    clock = clock or SystemClock()
    while not stop.is_set():
        try:
            await run_term(work, stop=stop, grace_seconds=grace_seconds)
        except Exception:
            _log.exception("work failed, starting it again", retry_in_seconds=restart_delay_seconds)
            await wait_or_stop(stop, clock, restart_delay_seconds)
            continue
        return


async def wait_or_stop(stop: asyncio.Event, clock: Clock, seconds: float) -> bool:
    """Sleep ``seconds`` on ``clock``, waking early if ``stop`` is set; True if it was."""
    sleeper = asyncio.get_running_loop().create_task(clock.sleep(seconds), name="sleep")
    stopped = asyncio.get_running_loop().create_task(stop.wait(), name="sleep-stop")
    try:
        await asyncio.wait({sleeper, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        stopped.cancel()
        await asyncio.gather(sleeper, stopped, return_exceptions=True)
    return stop.is_set()


async def run_until_signalled(
    main: Callable[[asyncio.Event], Awaitable[None]],
    *,
    signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGINT),
) -> None:
    """Run ``main(stop)``; the first of ``signals`` sets ``stop``, a second one cancels ``main``.

    ``main`` is expected to wind down on ``stop`` (drain, release its Lease) and return, so the
    process exits 0. A second signal abandons that and returns at once.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    async def run() -> None:
        await main(stop)

    task = loop.create_task(run(), name="main")
    forced = False

    def on_signal(signum: signal.Signals) -> None:
        nonlocal forced
        if stop.is_set():
            _log.warning("second signal, exiting now", signal=signum.name)
            forced = True
            task.cancel()
            return
        _log.info("signal received, shutting down", signal=signum.name)
        stop.set()

    for signum in signals:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await task
    except asyncio.CancelledError:
        if not forced:
            raise
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


@contextlib.asynccontextmanager
async def api_client() -> AsyncIterator[ApiClient]:
    """An ``ApiClient`` of the loaded kube config, closed on exit, then a pause of
    ``TLS_CLOSE_SECONDS``: aiohttp ends TLS connections (the watches a stopped term dropped) a
    moment after the session closes, and a loop closed before then warns of unclosed transports
    (aiohttp's "graceful shutdown" advice)."""
    try:
        async with ApiClient() as api:
            yield api
    finally:
        await asyncio.sleep(TLS_CLOSE_SECONDS)
