"""The work queue keeps client-go's promises: dedup, one worker per key, delays, backoff."""

from __future__ import annotations

import asyncio

import pytest

from controller_kit import FakeClock, QueueShutDownError, RateLimiter, WorkQueue


def _queue(clock: FakeClock | None = None) -> WorkQueue[str]:
    return WorkQueue(name="test", clock=clock or FakeClock())


async def test_a_key_added_twice_before_it_is_taken_is_processed_once() -> None:
    queue = _queue()
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert [await queue.get(), await queue.get()] == ["a", "b"]
    assert len(queue) == 0


async def test_a_key_added_while_processing_waits_for_done() -> None:
    queue = _queue()
    queue.add("a")
    key = await queue.get()
    queue.add("a")
    assert len(queue) == 0, "must not be handed to a second worker while the first has it"
    queue.done(key)
    assert len(queue) == 1
    assert await queue.get() == "a"


async def test_done_without_a_new_add_does_not_requeue() -> None:
    queue = _queue()
    queue.add("a")
    queue.done(await queue.get())
    assert len(queue) == 0


async def test_add_after_waits_for_the_clock_and_the_earliest_delay_wins() -> None:
    clock = FakeClock()
    queue = _queue(clock)
    queue.add_after("a", 10)
    queue.add_after("a", 3)
    await asyncio.sleep(0)
    clock.advance(2.9)
    await asyncio.sleep(0)
    assert len(queue) == 0
    clock.advance(0.2)
    await asyncio.sleep(0)
    assert len(queue) == 1
    assert await queue.get() == "a"
    clock.advance(20)
    await asyncio.sleep(0)
    assert len(queue) == 0, "the superseded later delay must not add the key again"


def test_backoff_doubles_per_key_up_to_the_cap_and_forget_resets_it() -> None:
    limiter: RateLimiter[str] = RateLimiter(
        base_delay_seconds=1, max_delay_seconds=5, bucket_burst=1000, clock=FakeClock()
    )
    assert [limiter.when("a") for _ in range(5)] == [1, 2, 4, 5, 5]
    assert limiter.when("b") == 1, "keys back off independently"
    limiter.forget("a")
    assert limiter.when("a") == 1


def test_token_bucket_limits_overall_retry_rate() -> None:
    clock = FakeClock()
    limiter: RateLimiter[int] = RateLimiter(
        base_delay_seconds=0.001, bucket_qps=10, bucket_burst=2, clock=clock
    )
    delays = [limiter.when(i) for i in range(4)]
    assert delays[:2] == [0.001, 0.001]
    assert delays[2] == pytest.approx(0.1)
    assert delays[3] == pytest.approx(0.2)


async def test_shut_down_wakes_waiting_workers() -> None:
    queue = _queue()
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.shut_down()
    with pytest.raises(QueueShutDownError):
        await waiter
    queue.add("a")
    assert len(queue) == 0, "a shut-down queue accepts nothing"
