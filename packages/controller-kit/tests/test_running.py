"""Graceful stop: a stopping term drains its controllers, signals stop the process, failed work
starts again (no process exit)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

import aiohttp
import pytest

from controller_kit import Controller, RateLimiter, Request, Result, _running, run_until_signalled
from controller_kit._running import run_term, run_until_stopped


class Slow:
    """A reconciler whose passes take ``seconds``; records starts and completions."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started: list[str] = []
        self.finished: list[str] = []
        self.cancelled: list[str] = []

    async def reconcile(self, request: Request) -> Result:
        self.started.append(request.name)
        try:
            await asyncio.sleep(self.seconds)
        except asyncio.CancelledError:
            self.cancelled.append(request.name)
            raise
        self.finished.append(request.name)
        return Result()


async def _until(condition: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.005)


async def test_a_stopping_term_finishes_in_flight_reconciles_and_takes_no_new_keys() -> None:
    slow = Slow(0.3)
    controller = Controller(name="test.drain", reconciler=slow, max_concurrent_reconciles=2)
    for name in ("a", "b", "c", "d"):
        controller.queue.add(Request("ns", name))
    stop = asyncio.Event()
    informer_cancelled = asyncio.Event()

    async def work() -> None:
        async def informer() -> None:  # stands in for the caches: runs until cancelled
            try:
                await asyncio.Event().wait()
            finally:
                informer_cancelled.set()

        async with asyncio.TaskGroup() as group:
            group.create_task(informer())
            group.create_task(controller.run())

    term = asyncio.create_task(run_term(work, stop=stop, grace_seconds=5.0))
    await _until(lambda: len(slow.started) == 2)
    stop.set()
    await asyncio.wait_for(term, 5)
    assert sorted(slow.finished) == ["a", "b"], "in-flight reconciles finish"
    assert slow.started == ["a", "b"], "queued keys are not started once stopping"
    assert slow.cancelled == []
    assert informer_cancelled.is_set(), "the rest of the work is cancelled after the drain"


async def test_reconciles_still_running_after_the_grace_period_are_abandoned() -> None:
    slow = Slow(60.0)
    controller = Controller(name="test.abandon", reconciler=slow)
    controller.queue.add(Request("ns", "stuck"))
    stop = asyncio.Event()
    term = asyncio.create_task(run_term(controller.run, stop=stop, grace_seconds=0.2))
    await _until(lambda: slow.started)
    stop.set()
    await asyncio.wait_for(term, 5)
    assert slow.cancelled == ["stuck"]
    assert slow.finished == []


async def test_a_controller_stopped_before_its_caches_synced_returns() -> None:
    class NeverSynced:
        synced = asyncio.Event()

        def add_handler(self, handler: object) -> None:
            del handler

    controller = Controller(name="test.unsynced", reconciler=Slow(0))
    controller.watch(NeverSynced())  # type: ignore[arg-type]
    stop = asyncio.Event()
    term = asyncio.create_task(run_term(controller.run, stop=stop, grace_seconds=5.0))
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(term, 1)
    assert controller.queue.shutting_down


async def test_a_reconcile_that_cannot_reach_the_api_server_is_retried() -> None:
    outcomes: list[Exception | None] = [
        aiohttp.ClientConnectionError("Cannot connect to host 127.0.0.1:6443"),
        TimeoutError(),
        None,
    ]
    calls: list[Request] = []

    class Flaky:
        async def reconcile(self, request: Request) -> Result:
            calls.append(request)
            outcome = outcomes.pop(0)
            if outcome is not None:
                raise outcome
            return Result()

    controller = Controller(
        name="test.unreachable",
        reconciler=Flaky(),
        rate_limiter=RateLimiter(base_delay_seconds=0.01),
    )
    controller.queue.add(Request("ns", "a"))
    task = asyncio.create_task(controller.run())
    try:
        await _until(lambda: not outcomes and not controller.queue.processing)
        assert not task.done(), "connection errors never end the controller"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert len(calls) == 3


async def test_failed_work_is_started_again_instead_of_ending_the_process() -> None:
    attempts: list[int] = []
    stop = asyncio.Event()

    async def work() -> None:
        attempts.append(len(attempts))
        if len(attempts) < 3:
            raise aiohttp.ClientConnectionError("Cannot connect to host")
        await asyncio.Event().wait()

    runner = asyncio.create_task(
        run_until_stopped(work, stop=stop, grace_seconds=1.0, restart_delay_seconds=0.01)
    )
    await _until(lambda: len(attempts) == 3)
    assert not runner.done()
    stop.set()
    await asyncio.wait_for(runner, 5)
    assert len(attempts) == 3


async def test_sigterm_sets_stop_and_the_process_returns_normally() -> None:
    stopped_by_signal = asyncio.Event()
    before = signal.getsignal(signal.SIGTERM)

    async def main(stop: asyncio.Event) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(stop.wait(), 5)
        stopped_by_signal.set()

    await run_until_signalled(main)
    assert stopped_by_signal.is_set()
    assert signal.getsignal(signal.SIGTERM) == before, "the handler is removed after"


async def test_a_second_signal_abandons_the_graceful_stop() -> None:
    cancelled = asyncio.Event()

    async def main(stop: asyncio.Event) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        await stop.wait()
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(60)  # a drain that would take too long
        except asyncio.CancelledError:
            cancelled.set()
            raise

    await asyncio.wait_for(run_until_signalled(main), 5)
    assert cancelled.is_set()


async def test_work_that_ignores_its_cancellation_is_left_behind_in_bounded_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_running, "ABANDON_SECONDS", 0.2)
    release = asyncio.Event()

    async def stubborn() -> None:  # a call that swallows CancelledError, as some clients do
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    term = asyncio.create_task(run_term(stubborn, stop=asyncio.Event()))
    await asyncio.sleep(0.05)
    term.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(term, 2)
    release.set()
    await asyncio.sleep(0.01)
