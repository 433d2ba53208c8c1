"""Time, injected: the emulator reads the wall clock for timestamps and sleeps for latency and
operation durations only through a :class:`Clock`, so tests can record or skip the waiting."""

from __future__ import annotations

import asyncio
import datetime
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> datetime.datetime:
        """Current time, timezone-aware UTC."""

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (may return at once in tests)."""


class SystemClock:
    """Real time: ``datetime.now(UTC)`` and ``asyncio.sleep``."""

    def now(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
