"""Karpenter's cloud-provider metrics, applied to any :class:`~.types.CloudProvider` by wrapping.

Why a decorator: every provider gets the same ``karpenter_cloudprovider_duration_seconds`` and
``karpenter_cloudprovider_errors_total`` series, labelled as Karpenter labels them (controller,
method, provider, error), without a line of metrics code inside the provider. The controller
label comes from the log context controller-kit binds for each reconcile (``controller=...``),
the way Karpenter reads the controller name from its context.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import structlog
from prometheus_client import Counter, Histogram

if TYPE_CHECKING:
    import builtins

    from gpu_provisioner.cloudprovider.types import Claim, CloudProvider, Instance, InstanceType

DURATION = Histogram(
    "karpenter_cloudprovider_duration_seconds",
    "Duration of cloud provider method calls.",
    ["controller", "method", "provider"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200),
)
ERRORS = Counter(
    "karpenter_cloudprovider_errors_total",
    "Total number of errors returned from cloud provider method calls.",
    ["controller", "method", "provider", "error"],
)


def _controller() -> str:
    return str(structlog.contextvars.get_contextvars().get("controller", ""))


class _Measured:
    def __init__(self, method: str, provider: str) -> None:
        self._method = method
        self._provider = provider

    def __enter__(self) -> None:
        self._started = time.perf_counter()
        self._controller = _controller()

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        DURATION.labels(self._controller, self._method, self._provider).observe(
            time.perf_counter() - self._started
        )
        if exc_type is not None and exc_type.__name__ != "CancelledError":
            ERRORS.labels(self._controller, self._method, self._provider, exc_type.__name__).inc()


class MeteredCloudProvider:
    """A CloudProvider that records Karpenter's metrics around another one."""

    def __init__(self, inner: CloudProvider) -> None:
        self._inner = inner

    @property
    def name(self) -> str:
        return self._inner.name

    def _measure(self, method: str) -> _Measured:
        return _Measured(method, self._inner.name)

    async def create(self, claim: Claim) -> Instance:
        with self._measure("Create"):
            return await self._inner.create(claim)

    async def delete(self, claim: Claim) -> None:
        with self._measure("Delete"):
            await self._inner.delete(claim)

    async def get(self, provider_id: str) -> Instance:
        with self._measure("Get"):
            return await self._inner.get(provider_id)

    async def list(self) -> list[Instance]:
        with self._measure("List"):
            return await self._inner.list()

    async def instance_types(self) -> builtins.list[InstanceType]:
        with self._measure("GetInstanceTypes"):
            return await self._inner.instance_types()

    async def is_drifted(self, claim: Claim) -> str:
        with self._measure("IsDrifted"):
            return await self._inner.is_drifted(claim)


def decorate(provider: CloudProvider) -> CloudProvider:
    """``provider`` with Karpenter's cloudprovider metrics."""
    return MeteredCloudProvider(provider)
