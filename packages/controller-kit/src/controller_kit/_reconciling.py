"""The reconcile contract: a request names one object, a result says when to look again.

Reconcilers are level-based: each pass reads the whole current state and moves it one step toward
the desired state, so a missed watch event or a restart costs nothing but a later pass. Raising an
exception means "retry with backoff"; raising :class:`TerminalError` means "log it, count it, and
do not retry until the object changes".
"""

from __future__ import annotations

import dataclasses
from typing import Protocol


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class Request:
    """The object to reconcile: its namespace ("" for cluster-scoped objects) and name."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    """After a successful pass: nothing more, or look again after ``requeue_after`` seconds."""

    requeue_after: float | None = None

    @staticmethod
    def merge(*results: Result) -> Result:
        """The soonest requeue of several sub-reconcilers (None when none asks for one)."""
        delays = [r.requeue_after for r in results if r.requeue_after is not None]
        return Result(requeue_after=min(delays) if delays else None)


DONE = Result()
"""The result of a pass that needs no follow-up."""


class TerminalError(Exception):
    """An error retrying cannot fix (bad spec, unsupported combination): not retried."""


class Reconciler(Protocol):
    """One controller's business logic."""

    async def reconcile(self, request: Request) -> Result:
        """Move the named object one step toward its desired state."""
        ...
