"""A per-key work queue: deduplicating, never handing one key to two workers, with backoff.

Semantics follow client-go's workqueue, which every Go controller relies on:

- a key added several times before a worker takes it is processed once (``dirty`` set);
- a key added while a worker processes it is queued again only when that worker calls
  :meth:`WorkQueue.done` (``processing`` set), so one key is never reconciled twice at once;
- :meth:`WorkQueue.add_after` delays an add; :meth:`WorkQueue.add_rate_limited` delays by the
  rate limiter (per-key exponential backoff combined with an overall token bucket), and
  :meth:`WorkQueue.forget` resets a key's backoff after a success;
- :meth:`WorkQueue.shut_down` stops handing out keys (queued ones are dropped, as a stopping
  controller must take no more work) and wakes every waiting worker.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from typing import TYPE_CHECKING, Generic, TypeVar

from controller_kit import _metrics
from controller_kit._clock import Clock, SystemClock

if TYPE_CHECKING:
    from collections.abc import Hashable

K = TypeVar("K", bound="Hashable")


class QueueShutDownError(Exception):
    """The queue was shut down: workers should stop."""


@dataclasses.dataclass(kw_only=True)
class RateLimiter(Generic[K]):
    """Delay before retrying a key: max(per-key exponential backoff, overall token bucket).

    Defaults are controller-runtime's: 5 ms doubling up to 1000 s per key, and 10 retries per
    second with a burst of 100 overall.
    """

    base_delay_seconds: float = 0.005
    max_delay_seconds: float = 1000.0
    bucket_qps: float = 10.0
    bucket_burst: int = 100
    clock: Clock = dataclasses.field(default_factory=SystemClock)
    _failures: dict[K, int] = dataclasses.field(default_factory=dict)
    _tokens: float | None = None
    _last: float = 0.0

    def when(self, key: K) -> float:
        """Seconds to wait before the next try of ``key`` (and count this failure)."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        backoff = min(self.base_delay_seconds * 2.0**failures, self.max_delay_seconds)
        return max(backoff, self._bucket_delay())

    def _bucket_delay(self) -> float:
        now = self.clock.monotonic()
        tokens = float(self.bucket_burst) if self._tokens is None else self._tokens
        tokens = min(self.bucket_burst, tokens + (now - self._last) * self.bucket_qps) - 1
        self._tokens, self._last = tokens, now
        return 0.0 if tokens >= 0 else -tokens / self.bucket_qps

    def retries(self, key: K) -> int:
        """How many times ``key`` has failed since it was last forgotten."""
        return self._failures.get(key, 0)

    def forget(self, key: K) -> None:
        """Reset ``key``'s backoff (after a success)."""
        self._failures.pop(key, None)


class WorkQueue(Generic[K]):
    """The queue between event handlers (producers) and reconcile workers (consumers)."""

    def __init__(
        self,
        *,
        name: str,
        rate_limiter: RateLimiter[K] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self._clock = clock or SystemClock()
        self.rate_limiter: RateLimiter[K] = rate_limiter or RateLimiter(clock=self._clock)
        self._queue: collections.deque[K] = collections.deque()
        self._dirty: set[K] = set()
        self._processing: dict[K, float] = {}
        self._added_at: dict[K, float] = {}
        self._waiting: dict[K, float] = {}
        self._timers: set[asyncio.Task[None]] = set()
        self._ready = asyncio.Event()
        self._shutting_down = False
        labels = {"controller": name, "name": name}
        self._depth = _metrics.WORKQUEUE_DEPTH.labels(**labels)
        self._adds = _metrics.WORKQUEUE_ADDS.labels(**labels)
        self._retries = _metrics.WORKQUEUE_RETRIES.labels(**labels)
        self._queue_duration = _metrics.WORKQUEUE_QUEUE_DURATION.labels(**labels)
        self._work_duration = _metrics.WORKQUEUE_WORK_DURATION.labels(**labels)
        _metrics.track_queue(self)

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, key: K) -> None:
        """Queue ``key`` unless it is already waiting; a key being processed waits for done()."""
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        self._added_at.setdefault(key, self._clock.monotonic())
        self._adds.inc()
        if key in self._processing:
            return
        self._push(key)

    def _push(self, key: K) -> None:
        self._queue.append(key)
        self._depth.set(len(self._queue))
        self._ready.set()

    def add_after(self, key: K, delay_seconds: float) -> None:
        """Queue ``key`` once ``delay_seconds`` have passed (the earliest of several wins)."""
        if self._shutting_down:
            return
        if delay_seconds <= 0:
            self.add(key)
            return
        deadline = self._clock.monotonic() + delay_seconds
        if key in self._waiting and self._waiting[key] <= deadline:
            return
        self._waiting[key] = deadline
        task = asyncio.get_running_loop().create_task(
            self._add_at(key, deadline, delay_seconds), name=f"workqueue-{self.name}-delay"
        )
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    async def _add_at(self, key: K, deadline: float, delay_seconds: float) -> None:
        await self._clock.sleep(delay_seconds)
        if self._waiting.get(key) == deadline:
            del self._waiting[key]
            self.add(key)

    def add_rate_limited(self, key: K) -> None:
        """Queue ``key`` after its backoff delay (a retry)."""
        self._retries.inc()
        self.add_after(key, self.rate_limiter.when(key))

    def forget(self, key: K) -> None:
        """Clear ``key``'s backoff."""
        self.rate_limiter.forget(key)

    async def get(self) -> K:
        """The next key to process; it is not handed out again until :meth:`done`."""
        while not self._queue:
            if self._shutting_down:
                raise QueueShutDownError(self.name)
            self._ready.clear()
            await self._ready.wait()
        key = self._queue.popleft()
        self._depth.set(len(self._queue))
        now = self._clock.monotonic()
        self._queue_duration.observe(max(0.0, now - self._added_at.pop(key, now)))
        self._processing[key] = now
        self._dirty.discard(key)
        return key

    def done(self, key: K) -> None:
        """Mark ``key`` processed; if it was added meanwhile, queue it again."""
        started = self._processing.pop(key, None)
        if started is not None:
            self._work_duration.observe(max(0.0, self._clock.monotonic() - started))
        if key in self._dirty and not self._shutting_down:
            self._push(key)

    def shut_down(self) -> None:
        """Stop accepting and handing out keys: drop the queued ones and pending delays, wake
        every waiting worker. Keys being processed finish; :meth:`get` then raises."""
        self._shutting_down = True
        for task in list(self._timers):
            task.cancel()
        self._queue.clear()
        self._dirty.clear()
        self._added_at.clear()
        self._waiting.clear()
        self._depth.set(0)
        self._ready.set()

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def in_flight_seconds(self) -> list[float]:
        """How long ago each key being processed was handed to its worker."""
        now = self._clock.monotonic()
        return [max(0.0, now - started) for started in self._processing.values()]

    @property
    def processing(self) -> frozenset[K]:
        """The keys handed to workers and not yet done."""
        return frozenset(self._processing)
