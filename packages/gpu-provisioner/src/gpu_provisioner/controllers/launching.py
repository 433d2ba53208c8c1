"""Creates run as owned background tasks, so a slow create never holds a reconcile worker.

An agent pool create takes minutes; upstream blocked the reconcile for the whole long-running
operation. Here the reconciler starts ``CloudProvider.create`` as a task keyed by the claim's
UID and returns; when the task ends, its claim is enqueued again and the next pass reads the
outcome. Failed attempts are spaced with per-claim exponential backoff (or the cloud's
Retry-After). Tasks are cancelled when their claim is deleted and when the process stops.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from controller_kit import Clock
    from gpu_provisioner.cloudprovider.types import Instance


@dataclasses.dataclass
class _Attempts:
    failures: int = 0
    not_before: float = 0.0
    last_error: BaseException | None = None


class Launches:
    """The in-flight creates of one controller."""

    def __init__(self, *, clock: Clock, on_done: Callable[[str], None]) -> None:
        self._clock = clock
        self._on_done = on_done
        self._tasks: dict[str, asyncio.Task[Instance]] = {}
        self._attempts: dict[str, _Attempts] = {}

    def running(self, uid: str) -> bool:
        task = self._tasks.get(uid)
        return task is not None and not task.done()

    def start(self, uid: str, name: str, create: Coroutine[None, None, Instance]) -> None:
        if uid in self._attempts:
            self._attempts[uid].last_error = None
        task = asyncio.get_running_loop().create_task(create, name=f"launch-{name}")
        self._tasks[uid] = task
        task.add_done_callback(lambda _: self._on_done(name))

    def take(self, uid: str) -> asyncio.Task[Instance] | None:
        """The finished task of ``uid``, or None if none has finished. A failed one is removed
        (the next attempt starts a new task); a successful one stays until :meth:`forget`, so a
        status write lost to a conflict does not cost another create."""
        task = self._tasks.get(uid)
        if task is None or not task.done():
            return None
        if task.cancelled() or task.exception() is not None:
            del self._tasks[uid]
        return task

    def wait_seconds(self, uid: str) -> float:
        """How long until another attempt may start (0: now)."""
        attempts = self._attempts.get(uid)
        if attempts is None:
            return 0.0
        return max(0.0, attempts.not_before - self._clock.monotonic())

    def last_error(self, uid: str) -> BaseException | None:
        """The error of the last failed attempt, while no new attempt has started."""
        attempts = self._attempts.get(uid)
        return attempts.last_error if attempts is not None else None

    def failed(
        self,
        uid: str,
        *,
        base_seconds: float,
        hint_seconds: float | None = None,
        error: BaseException | None = None,
    ) -> float:
        """Record a failure; returns the delay before the next attempt."""
        attempts = self._attempts.setdefault(uid, _Attempts())
        attempts.last_error = error
        delay = min(base_seconds * float(2**attempts.failures), base_seconds * 10)
        if hint_seconds is not None:
            delay = max(delay, hint_seconds)
        attempts.failures += 1
        attempts.not_before = self._clock.monotonic() + delay
        return delay

    def forget(self, uid: str) -> None:
        """Cancel any create of ``uid`` and drop its history."""
        task = self._tasks.pop(uid, None)
        if task is not None:
            if task.done():
                if not task.cancelled():
                    task.exception()  # retrieved: a forgotten failure is not an error
            else:
                task.cancel()
        self._attempts.pop(uid, None)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
