"""Test doubles for the emulator's seams, for this package's tests and for the product's.

- :class:`RecordingClock`: never waits; records each sleep (latency, operation durations) and
  advances its own time, so timing behaviour is asserted exactly rather than measured.
- :class:`RecordingNodes`: a :class:`~aks_emulator.NodeJoiner` that keeps Nodes in a dict, for
  tests that need node join without a Kubernetes API server.
"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

__all__ = ["RecordingClock", "RecordingNodes"]


class RecordingClock:
    def __init__(self, start: datetime.datetime | None = None) -> None:
        self.sleeps: list[float] = []
        self._now = start or datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)

    def now(self) -> datetime.datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._now += datetime.timedelta(seconds=seconds)
        await asyncio.sleep(0)  # still a suspension point, as a real sleep is


class RecordingNodes:
    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        """Current Nodes by name."""
        self.deleted: list[str] = []
        """Names passed to :meth:`delete`, in order."""

    async def ensure(self, node: dict[str, Any]) -> None:
        self.nodes[node["metadata"]["name"]] = node

    async def delete(self, name: str) -> None:
        self.deleted.append(name)
        self.nodes.pop(name, None)

    async def close(self) -> None:
        return None
