"""The retry decorator retries transient errors of reads and deletes, honouring Retry-After."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from controller_kit import FakeClock
from gpu_provisioner.cloudprovider import retrying
from gpu_provisioner.cloudprovider.types import (
    Claim,
    Instance,
    InstanceType,
    NodeClaimNotFoundError,
    TransientError,
)

if TYPE_CHECKING:
    import builtins

CLAIM = Claim(kind="NodeClaim", name="c", uid="u")


class Flaky:
    """Fails ``failures`` times with TransientError, then answers."""

    name = "flaky"

    def __init__(self, failures: int, retry_after: float | None = None) -> None:
        self.failures = failures
        self.retry_after = retry_after
        self.calls = 0

    def _maybe_fail(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise TransientError("busy", retry_after_seconds=self.retry_after)

    async def create(self, claim: Claim) -> Instance:
        self._maybe_fail()
        return Instance(name=claim.name)

    async def delete(self, claim: Claim) -> None:
        self._maybe_fail()

    async def get(self, provider_id: str) -> Instance:
        self._maybe_fail()
        if provider_id == "gone":
            raise NodeClaimNotFoundError(provider_id)
        return Instance(name=provider_id)

    async def list(self) -> builtins.list[Instance]:
        self._maybe_fail()
        return []

    async def instance_types(self) -> builtins.list[InstanceType]:
        self._maybe_fail()
        return []

    async def is_drifted(self, claim: Claim) -> str:
        self._maybe_fail()
        return ""


async def _drive(clock: FakeClock, call: asyncio.Task[object]) -> list[float]:
    """Advance the fake clock whenever the call sleeps; return the sleeps seen."""
    slept: list[float] = []
    while not call.done():
        await asyncio.sleep(0)
        pending = [t - clock.monotonic() for t, _ in clock._sleepers]
        if pending:
            slept.append(round(min(pending), 3))
            clock.advance(min(pending))
    return slept


async def test_transient_errors_of_reads_are_retried_with_backoff() -> None:
    clock = FakeClock()
    inner = Flaky(failures=2)
    provider = retrying.decorate(inner, clock=clock, attempts=3)
    call = asyncio.ensure_future(provider.get("a"))
    assert await _drive(clock, call) == [1.0, 2.0]
    assert (await call).name == "a"
    assert inner.calls == 3


async def test_retry_after_is_honoured_and_attempts_are_bounded() -> None:
    clock = FakeClock()
    inner = Flaky(failures=5, retry_after=7.0)
    provider = retrying.decorate(inner, clock=clock, attempts=3)
    call = asyncio.ensure_future(provider.delete(CLAIM))
    assert await _drive(clock, call) == [7.0, 7.0]
    with pytest.raises(TransientError):
        await call
    assert inner.calls == 3


async def test_create_and_non_transient_errors_are_not_retried() -> None:
    clock = FakeClock()
    inner = Flaky(failures=1)
    provider = retrying.decorate(inner, clock=clock)
    with pytest.raises(TransientError):
        await provider.create(CLAIM)
    assert inner.calls == 1
    with pytest.raises(NodeClaimNotFoundError):
        await provider.get("gone")
    assert inner.calls == 2
