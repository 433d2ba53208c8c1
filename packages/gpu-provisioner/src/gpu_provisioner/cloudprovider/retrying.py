"""Retries around any :class:`~.types.CloudProvider`, as a decorator like the metrics one.

Why here and not in each provider: a :class:`~.types.TransientError` (throttling that outlived
the SDK's own HTTP retries, a conflict with an operation still in progress) means "the same
call will likely work soon", whatever the cloud. Reads and deletes are retried a few times with
exponential backoff, never sooner than the cloud's Retry-After hint; then the error reaches the
controller, which backs off per claim. ``create`` is not retried here: the launch controller
already spaces create attempts per claim and records each failure on the claim, and a hidden
retry loop would hold the hint back from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from gpu_provisioner.cloudprovider.types import TransientError

if TYPE_CHECKING:
    import builtins
    from collections.abc import Awaitable, Callable

    from controller_kit import Clock
    from gpu_provisioner.cloudprovider.types import Claim, CloudProvider, Instance, InstanceType

T = TypeVar("T")


class RetryingCloudProvider:
    """A CloudProvider that retries transient errors of another one."""

    def __init__(
        self,
        inner: CloudProvider,
        *,
        clock: Clock,
        attempts: int = 3,
        base_delay_seconds: float = 1.0,
        max_delay_seconds: float = 30.0,
    ) -> None:
        self._inner = inner
        self._clock = clock
        self._attempts = max(1, attempts)
        self._base = base_delay_seconds
        self._max = max_delay_seconds

    @property
    def name(self) -> str:
        return self._inner.name

    async def _retry(self, call: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(self._attempts):
            try:
                return await call()
            except TransientError as exc:
                if attempt + 1 >= self._attempts:
                    raise
                delay = min(self._base * 2.0**attempt, self._max)
                if exc.retry_after_seconds is not None:
                    delay = max(delay, min(exc.retry_after_seconds, self._max))
                await self._clock.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def create(self, claim: Claim) -> Instance:
        return await self._inner.create(claim)

    async def delete(self, claim: Claim) -> None:
        await self._retry(lambda: self._inner.delete(claim))

    async def get(self, provider_id: str) -> Instance:
        return await self._retry(lambda: self._inner.get(provider_id))

    async def list(self) -> builtins.list[Instance]:
        return await self._retry(self._inner.list)

    async def instance_types(self) -> builtins.list[InstanceType]:
        return await self._retry(self._inner.instance_types)

    async def is_drifted(self, claim: Claim) -> str:
        return await self._retry(lambda: self._inner.is_drifted(claim))


def decorate(provider: CloudProvider, *, clock: Clock, attempts: int = 3) -> CloudProvider:
    """``provider`` with transient errors of reads and deletes retried."""
    return RetryingCloudProvider(provider, clock=clock, attempts=attempts)
