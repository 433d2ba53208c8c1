"""AzureCloudProvider: one claim ↔ one AKS agent pool of count 1.

Create is idempotent and resumable: it reads the pool first, so a restarted provisioner adopts a
pool it had started (waiting for its operation instead of sending a second PUT, upstream's #186
workaround), re-sends the PUT for a pool whose last operation failed, and checks the VM family's
vCPU quota before a first PUT so the error names the family, the vCPUs needed and those left.
Once the pool's operation succeeds, the Node's providerID comes from the cluster (``NodeLookup``,
backed by the Node cache), as AKS assigns it; a pool whose Node has not shown one within
``node_wait_seconds`` is launched without it, and registration finds the Node by its labels.

Delete only starts the deletion and reports NotFound once ARM does; pools without this
provisioner's ownership tag are reported as not found and never touched.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Protocol

import preset_catalog
from gpu_provisioner.azure import agentpools, naming, providerids
from gpu_provisioner.cloudprovider.types import (
    Claim,
    CreateError,
    Instance,
    InstanceType,
    NodeClaimNotFoundError,
    QuotaError,
    TransientError,
)

if TYPE_CHECKING:
    import builtins
    from collections.abc import Sequence

    from controller_kit import Clock
    from gpu_provisioner.azure.arm import AgentPoolsAPI, Pool

BUSY_STATES = frozenset({"creating", "updating", "scaling", "upgrading", "starting"})


class NodeLookup(Protocol):
    def __call__(self, pool: str) -> Sequence[str]:
        """providerIDs of the Nodes carrying both agentpool labels for ``pool``."""
        ...


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProviderOptions:
    pool: agentpools.PoolOptions = dataclasses.field(default_factory=agentpools.PoolOptions)
    check_quota: bool = True
    poll_interval_seconds: float = 5.0
    """How often to re-read a pool another process is creating, and to look for its Node."""
    node_wait_seconds: float = 60.0
    """How long a create waits for the pool's Node to appear after the operation succeeded."""


class AzureCloudProvider:
    """The CloudProvider for AKS agent pools."""

    def __init__(
        self,
        api: AgentPoolsAPI,
        *,
        nodes: NodeLookup,
        clock: Clock,
        options: ProviderOptions | None = None,
    ) -> None:
        self._api = api
        self._nodes = nodes
        self._clock = clock
        self._options = options or ProviderOptions()

    @property
    def name(self) -> str:
        return "azure"

    # -- create ------------------------------------------------------------------------------------

    async def create(self, claim: Claim) -> Instance:
        name = naming.pool_name(claim.kind, claim.name)
        body = agentpools.agent_pool_body(claim, options=self._options.pool, now=self._clock.now())
        pool = await self._find(name)
        if pool is not None and not agentpools.owned(pool, self._options.pool.owner):
            raise CreateError(
                "AgentPoolNameConflict",
                f"agent pool {name} exists and was not created by this provisioner.",
            )
        state = _state(pool)
        if pool is None:
            await self._check_quota(body)
            pool = await self._api.create_pool(name, body)
        elif state in BUSY_STATES:
            pool = await self._wait_idle(name)
        elif state == "deleting":
            raise TransientError(f"agent pool {name} is being deleted")
        if _state(pool) == "failed":
            pool = await self._api.create_pool(name, body)
        if _state(pool) != "succeeded":
            raise TransientError(f"agent pool {name} is {_state(pool) or 'in an unknown state'}")
        provider_id = await self._wait_node(name)
        return agentpools.instance_from_pool(pool, provider_id=provider_id)

    async def _find(self, name: str) -> Pool | None:
        try:
            return await self._api.get_pool(name)
        except NodeClaimNotFoundError:
            return None

    async def _check_quota(self, body: Pool) -> None:
        if not self._options.check_quota:
            return
        size = body["properties"]["vmSize"]
        family, vcpus = agentpools.vcpus_needed(size)
        usage = await self._api.vcpu_usage(family)
        if usage is None:
            return
        current, limit = usage
        if current + vcpus > limit:
            raise QuotaError(
                f"not enough vCPU quota for {size}: VM family {family} needs {vcpus} vCPUs, "
                f"{max(limit - current, 0)} of {limit} are available; request a quota increase "
                f"for {family}."
            )

    async def _wait_idle(self, name: str) -> Pool:
        while True:
            await self._clock.sleep(self._options.poll_interval_seconds)
            pool = await self._api.get_pool(name)
            if _state(pool) not in BUSY_STATES:
                return pool

    async def _wait_node(self, name: str) -> str:
        """The providerID of the pool's one Node; "" if none has one within ``node_wait_seconds``
        (the instance exists: registration then matches the Node by its agentpool labels, under
        the registration timeout)."""
        waited = 0.0
        while True:
            found = list(self._nodes(name))
            if len(found) == 1:
                return found[0]
            if waited >= self._options.node_wait_seconds:
                if not found:
                    return ""
                raise TransientError(
                    f"agent pool {name} succeeded but {len(found)} Nodes carry its labels "
                    "(waiting for exactly one)"
                )
            interval = min(self._options.poll_interval_seconds, 1.0)
            await self._clock.sleep(interval)
            waited += interval

    # -- delete, get, list ----------------------------------------------------------------------

    async def delete(self, claim: Claim) -> None:
        name = naming.pool_name(claim.kind, claim.name)
        pool = await self._api.get_pool(name)  # NotFound propagates: deletion is complete
        if not agentpools.owned(pool, self._options.pool.owner):
            raise NodeClaimNotFoundError(f"agent pool {name} is not owned by this provisioner")
        if _state(pool) == "deleting":
            return
        await self._api.begin_delete_pool(name)

    async def get(self, provider_id: str) -> Instance:
        try:
            pool_name = providerids.parse(provider_id).pool
        except ValueError as exc:
            raise NodeClaimNotFoundError(str(exc)) from None
        pool = await self._api.get_pool(pool_name)
        if not agentpools.owned(pool, self._options.pool.owner):
            raise NodeClaimNotFoundError(f"agent pool {pool_name} is not owned by this provisioner")
        return agentpools.instance_from_pool(pool, provider_id=provider_id)

    async def list(self) -> list[Instance]:
        owner = self._options.pool.owner
        return [
            agentpools.instance_from_pool(p)
            for p in await self._api.list_pools()
            if agentpools.owned(p, owner)
        ]

    async def instance_types(self) -> builtins.list[InstanceType]:
        """Claims name their VM size; this lists the catalog's sizes with estimated resources."""
        types = []
        for it in preset_catalog.load_catalog().instance_types:
            try:
                capacity, allocatable = agentpools.resources(it.name, None)
            except preset_catalog.UnknownNameError:
                continue
            types.append(InstanceType(name=it.name, capacity=capacity, allocatable=allocatable))
        return types

    async def is_drifted(self, claim: Claim) -> str:
        del claim
        return ""


def _state(pool: Pool | None) -> str:
    if pool is None:
        return ""
    return str((pool.get("properties") or {}).get("provisioningState") or "").lower()
