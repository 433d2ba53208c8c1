"""The controller turns reconcile outcomes into retries, requeues and controller-runtime metrics."""

from __future__ import annotations

import asyncio
import contextlib

import prometheus_client

from controller_kit import Controller, FakeClock, RateLimiter, Request, Result, TerminalError


class Script:
    """A reconciler that replays scripted outcomes and records concurrency."""

    def __init__(self, outcomes: list[Result | Exception]) -> None:
        self.outcomes = outcomes
        self.calls: list[Request] = []
        self.running = 0
        self.max_running = 0

    async def reconcile(self, request: Request) -> Result:
        self.calls.append(request)
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        await asyncio.sleep(0.01)
        self.running -= 1
        outcome = self.outcomes.pop(0) if self.outcomes else Result()
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def _sample(name: str, **labels: str) -> float:
    value = prometheus_client.REGISTRY.get_sample_value(name, labels)
    return value or 0.0


async def _run_until(controller: Controller, condition: object, timeout: float = 5.0) -> None:
    task = asyncio.create_task(controller.run())
    try:
        async with asyncio.timeout(timeout):
            while not condition():  # type: ignore[operator]
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_errors_are_retried_with_backoff_and_success_is_counted() -> None:
    script = Script([RuntimeError("boom"), RuntimeError("boom"), Result()])
    controller = Controller(
        name="test.retry",
        reconciler=script,
        rate_limiter=RateLimiter(base_delay_seconds=0.01),
    )
    controller.queue.add(Request("ns", "a"))
    await _run_until(
        controller,
        lambda: (
            _sample("controller_runtime_reconcile_total", controller="test.retry", result="success")
            == 1
        ),
    )
    assert len(script.calls) == 3
    assert _sample("controller_runtime_reconcile_errors_total", controller="test.retry") == 2
    assert (
        _sample("controller_runtime_reconcile_total", controller="test.retry", result="success")
        == 1
    )
    assert controller.queue.rate_limiter.retries(Request("ns", "a")) == 0, "success forgets"


async def test_terminal_errors_are_not_retried() -> None:
    script = Script([TerminalError("bad spec")])
    controller = Controller(name="test.terminal", reconciler=script)
    controller.queue.add(Request("ns", "a"))
    await _run_until(
        controller,
        lambda: (
            _sample(
                "controller_runtime_terminal_reconcile_errors_total", controller="test.terminal"
            )
            == 1
        ),
    )
    await asyncio.sleep(0.05)
    assert len(script.calls) == 1


async def test_requeue_after_reconciles_again_later() -> None:
    clock = FakeClock()
    script = Script([Result(requeue_after=30), Result()])
    controller = Controller(name="test.requeue", reconciler=script, clock=clock)
    controller.queue.add(Request("", "a"))
    task = asyncio.create_task(controller.run())
    try:
        async with asyncio.timeout(5):
            while len(script.calls) < 1:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            assert len(script.calls) == 1, "not before the clock moves"
            clock.advance(30)
            while len(script.calls) < 2:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert (
        _sample(
            "controller_runtime_reconcile_total", controller="test.requeue", result="requeue_after"
        )
        == 1
    )


async def test_one_key_is_never_reconciled_concurrently_but_keys_run_in_parallel() -> None:
    script = Script([])
    controller = Controller(name="test.parallel", reconciler=script, max_concurrent_reconciles=4)
    for name in ("a", "b", "c", "d"):
        controller.queue.add(Request("ns", name))
    task = asyncio.create_task(controller.run())
    try:
        async with asyncio.timeout(5):
            while len(script.calls) < 1:
                await asyncio.sleep(0)
            for _ in range(10):
                controller.queue.add(Request("ns", "a"))
                await asyncio.sleep(0.002)
            while controller.queue._processing or len(controller.queue):
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert script.max_running > 1, "different keys run in parallel"
    per_key_overlap = [r for r in script.calls if r.name == "a"]
    assert len(per_key_overlap) >= 2
    assert _sample("controller_runtime_max_concurrent_reconciles", controller="test.parallel") == 4
