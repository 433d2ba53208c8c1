"""The narrow adapter over the async Azure SDK: agent pools and compute usages, nothing else.

Why narrow: the provider depends on :class:`AgentPoolsAPI` (five calls, ARM JSON in and out,
typed errors), so its logic does not depend on SDK model classes, and SDK errors are classified in
exactly one place. The SDK's own pipeline does the HTTP work: its retry policy honours
``Retry-After`` on 429/5xx, and its LRO poller follows ``Azure-AsyncOperation`` at the server's
pace (``Retry-After``) or ``polling_interval``.

Clients are built once per process (:meth:`ArmClients.create`) and closed on shutdown.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import TYPE_CHECKING, Any, Protocol, cast

from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.containerservice.aio import ContainerServiceClient

from gpu_provisioner.azure.errors import classify
from gpu_provisioner.cloudprovider.types import TransientError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    from azure.core.credentials_async import AsyncTokenCredential

Pool = dict[str, Any]
"""An agent pool as ARM JSON (``name``, ``properties.vmSize``, ``properties.tags``, ...)."""


class AgentPoolsAPI(Protocol):
    """What the provider needs from ARM."""

    async def create_pool(self, name: str, body: Mapping[str, Any]) -> Pool:
        """PUT the pool and wait for the long-running operation to finish."""
        ...

    async def get_pool(self, name: str) -> Pool: ...

    async def begin_delete_pool(self, name: str) -> None:
        """Send the DELETE; do not wait for the operation (callers poll :meth:`get_pool`)."""
        ...

    async def list_pools(self) -> list[Pool]: ...

    async def vcpu_usage(self, family: str) -> tuple[int, int] | None:
        """(current vCPUs, limit) of a VM family quota (case-insensitive), None if unknown."""
        ...


@dataclasses.dataclass(frozen=True, kw_only=True)
class ArmTarget:
    """Which cluster, and how to reach ARM."""

    subscription_id: str
    resource_group: str
    cluster_name: str
    location: str
    base_url: str = ""
    """ARM endpoint; empty means the SDK's default (public Azure)."""
    connection_verify: str = ""
    """CA bundle path to trust (empty: the system's, or SSL_CERT_FILE)."""
    polling_interval_seconds: float = 30.0
    """LRO poll interval when ARM sends no Retry-After."""
    retry_total: int = 10
    retry_backoff_factor: float = 0.8


def _translate(exc: Exception) -> Exception:
    if isinstance(exc, HttpResponseError):
        error = exc.error
        response = exc.response
        retry_after = None
        if response is not None:
            with contextlib.suppress(TypeError, ValueError):
                retry_after = float(getattr(response, "headers", {}).get("Retry-After", ""))
        details = tuple(d.code or "" for d in (error.details or ())) if error else ()
        return classify(
            status=exc.status_code,
            code=(error.code if error else "") or "",
            message=(error.message if error else "") or exc.message or str(exc),
            detail_codes=details,
            retry_after_seconds=retry_after,
        )
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return TransientError(f"ARM unreachable: {exc}")
    return exc


class ArmClients:
    """The SDK clients of one cluster (an :class:`AgentPoolsAPI`)."""

    def __init__(
        self,
        target: ArmTarget,
        credential: AsyncTokenCredential,
        *,
        owns_credential: bool = False,
    ) -> None:
        self._target = target
        self._credential = credential
        self._owns_credential = owns_credential
        kwargs: dict[str, Any] = {
            "polling_interval": target.polling_interval_seconds,
            "retry_total": target.retry_total,
            "retry_backoff_factor": target.retry_backoff_factor,
        }
        if target.base_url:
            kwargs["base_url"] = target.base_url
        if target.connection_verify:
            kwargs["connection_verify"] = target.connection_verify
        self._aks = ContainerServiceClient(credential, target.subscription_id, **kwargs)
        self._compute = ComputeManagementClient(credential, target.subscription_id, **kwargs)

    async def close(self) -> None:
        await self._aks.close()
        await self._compute.close()
        if self._owns_credential:
            close = getattr(self._credential, "close", None)
            if close is not None:
                await close()

    @contextlib.asynccontextmanager
    async def _errors(self) -> AsyncIterator[None]:
        try:
            yield
        except Exception as exc:
            translated = _translate(exc)
            if translated is exc:
                raise
            raise translated from exc

    async def create_pool(self, name: str, body: Mapping[str, Any]) -> Pool:
        t = self._target
        async with self._errors():
            poller = await self._aks.agent_pools.begin_create_or_update(
                t.resource_group, t.cluster_name, name, cast("Any", dict(body))
            )
            result = await poller.result()
        return result.as_dict()

    async def get_pool(self, name: str) -> Pool:
        t = self._target
        async with self._errors():
            pool = await self._aks.agent_pools.get(t.resource_group, t.cluster_name, name)
        return pool.as_dict()

    async def begin_delete_pool(self, name: str) -> None:
        t = self._target
        async with self._errors():
            # The poller is dropped unawaited: callers poll get_pool instead of holding a task.
            _ = await self._aks.agent_pools.begin_delete(t.resource_group, t.cluster_name, name)

    async def list_pools(self) -> list[Pool]:
        t = self._target
        async with self._errors():
            return [
                p.as_dict()
                async for p in self._aks.agent_pools.list(t.resource_group, t.cluster_name)
            ]

    async def vcpu_usage(self, family: str) -> tuple[int, int] | None:
        async with self._errors():
            async for usage in self._compute.usage.list(self._target.location):
                if (usage.name.value or "").lower() == family.lower():
                    return int(usage.current_value), int(usage.limit)
        return None


def default_credential() -> AsyncTokenCredential:
    """azure-identity's async chain: workload identity in a cluster (AZURE_FEDERATED_TOKEN_FILE),
    environment credentials, managed identity, or a developer's Azure CLI login."""
    from azure.identity.aio import DefaultAzureCredential  # noqa: PLC0415 - only in production

    return DefaultAzureCredential()
