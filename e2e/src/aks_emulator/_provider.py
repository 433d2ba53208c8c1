"""The resource provider behind the HTTP surface: pools, their long-running operations, quota,
SKU placement and node join, for one cluster. No HTTP here; rule violations are :class:`ArmError`.

Long-running operations are owned asyncio tasks: each waits its configured duration on the
injected clock, stays ``InProgress`` while a ``stuck_operations`` fault matches (re-checked
whenever faults change), then ends ``Failed`` (``failed_operations``) or does its work and ends
``Succeeded``. A create or update joins its Nodes *before* succeeding, as AKS does (the node has
registered by the time the VMSS reports success); a delete removes the Nodes, then the pool.

Usage is not stored: it is recomputed from the pools' requested counts (from the accepted PUT
until the delete completes, including Failed pools), so it cannot drift from them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import uuid
from collections import Counter
from typing import TYPE_CHECKING

from aks_emulator._errors import ArmError, ErrorDetail
from aks_emulator._nodes import describe, node_manifest
from aks_emulator._pools import (
    Operation,
    OperationKind,
    Pool,
    PoolSpec,
    check_update,
    parse_pool_request,
    state_for,
)
from aks_emulator._skus import REGIONAL_USAGE, family_usage

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from aks_emulator._clock import Clock
    from aks_emulator._config import EmulatorConfig
    from aks_emulator._faults import Faults
    from aks_emulator._nodes import NodeJoiner
    from aks_emulator._pools import Instance
    from aks_emulator._skus import SkuTable

__all__ = ["ResourceProvider"]

log = logging.getLogger("aks_emulator")
SYSTEM_POOL_VM_SIZE = "Standard_D4s_v3"


class ResourceProvider:
    """State and rules of the emulated ``Microsoft.ContainerService`` cluster."""

    def __init__(
        self,
        config: EmulatorConfig,
        *,
        skus: SkuTable,
        faults: Faults,
        clock: Clock,
        nodes: NodeJoiner | None,
    ) -> None:
        self.config = config
        self.skus = skus
        self.nodes = nodes
        """Where Nodes go (None: pools exist only in ARM)."""
        self._faults = faults
        self._clock = clock
        self._ids = random.Random(config.seed ^ 0x5EED)
        self._pools: dict[str, Pool] = {}
        self._operations: dict[str, Operation] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._fault_hits: Counter[str] = Counter()
        self._faults_changed = asyncio.Event()
        self.nodes_joined = 0
        self.nodes_deleted = 0
        if config.system_pool:
            spec = PoolSpec(
                name=config.system_pool, vm_size=SYSTEM_POOL_VM_SIZE, mode="System", count=1
            )
            self._pools[spec.name] = Pool(spec=spec, provisioning_state="Succeeded", system=True)

    async def close(self) -> None:
        """Cancel running operations (they stay ``InProgress``)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- faults ----------------------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        return self._faults

    def set_faults(self, faults: Faults) -> None:
        """Replace the faults: ``times`` budgets restart and stuck operations re-check."""
        self._faults = faults
        self._fault_hits.clear()
        changed, self._faults_changed = self._faults_changed, asyncio.Event()
        changed.set()

    def within_budget(self, key: str, times: int | None) -> bool:
        """Whether the fault ``key`` may fire again (``times`` None: always)."""
        return times is None or self._fault_hits[key] < times

    def spend(self, key: str) -> None:
        self._fault_hits[key] += 1

    # -- reading ---------------------------------------------------------------------------------

    def pools(self) -> list[Pool]:
        return sorted(self._pools.values(), key=lambda p: p.spec.name)

    def pool(self, name: str) -> Pool:
        pool = self._pools.get(name)
        if pool is None:
            raise ArmError(
                404,
                "NotFound",
                f"Agent Pool not found: '{name}' does not exist in managed cluster "
                f"'{self.config.identity.cluster}'.",
            )
        return pool

    def pool_of_vmss(self, vmss: str) -> Pool | None:
        identity = self.config.identity
        for pool in self._pools.values():
            if not pool.system and identity.vmss_name(pool.spec.name) == vmss.lower():
                return pool
        return None

    def operation(self, operation_id: str) -> Operation | None:
        return self._operations.get(operation_id)

    def operations(self) -> list[Operation]:
        return list(self._operations.values())

    def usage(self) -> tuple[Mapping[str, int], int]:
        """vCPUs in use per family (lowercased) and in the region."""
        return family_usage(
            ((p.spec.vm_size, p.spec.count) for p in self._pools.values() if not p.system),
            self.skus,
        )

    def limit(self, usage_name: str) -> int:
        limit = self._faults.quota_for(usage_name)
        if limit is not None:
            return limit
        if usage_name == REGIONAL_USAGE:
            return self.config.default_regional_vcpu_quota
        return self.config.default_family_vcpu_quota

    # -- writing ---------------------------------------------------------------------------------

    def put_pool(self, name: str, body: Any) -> tuple[Pool, Operation]:
        """Validate and accept a create or update; the operation runs in the background."""
        spec = parse_pool_request(name, body, table=self.skus, zones=self.config.zones)
        existing = self._pools.get(name)
        if existing is not None:
            if existing.system:
                raise ArmError(
                    400,
                    "OperationNotAllowed",
                    f"The system pool '{name}' is managed by the cluster and cannot be changed "
                    "through the emulator.",
                )
            if existing.busy:
                raise self._busy_conflict(existing)
            check_update(existing.spec, spec)
        placement = self._placement(spec)
        self._check_quota(spec, existing)
        kind: OperationKind = "create" if existing is None else "update"
        op = self._start(kind, name)
        pool = dataclasses.replace(
            existing or Pool(spec=spec, provisioning_state="Creating"),
            spec=spec,
            placement=placement,
            provisioning_state=state_for(kind),
            operation_id=op.id,
        )
        self._pools[name] = pool
        return pool, op

    def delete_pool(self, name: str) -> Operation:
        """Start deleting ``name``; deleting a pool already being deleted returns that operation."""
        pool = self.pool(name)
        if pool.system:
            raise ArmError(
                400,
                "OperationNotAllowed",
                f"The system pool '{name}' cannot be deleted: a cluster needs at least one "
                "system pool.",
            )
        if pool.busy:
            current = self._operations.get(pool.operation_id or "")
            if current is not None and current.kind == "delete":
                return current
            raise self._busy_conflict(pool)
        op = self._start("delete", name)
        self._pools[name] = dataclasses.replace(
            pool, provisioning_state="Deleting", operation_id=op.id
        )
        return op

    def _busy_conflict(self, pool: Pool) -> ArmError:
        op = self._operations.get(pool.operation_id or "")
        kind = op.kind if op else "update"
        return ArmError(
            409,
            "Conflict",
            f"Operation is not allowed because there's an in progress {kind} node pool operation "
            f"(pool '{pool.spec.name}' is {pool.provisioning_state}); wait for it to complete.",
        )

    def _placement(self, spec: PoolSpec) -> tuple[str | None, ...]:
        """Zones new instances go to, round-robin (None: non-zonal), or SkuNotAvailable."""
        restricted = self._faults.restricted_zones(spec.vm_size)
        location = self.config.identity.location
        if restricted == ():
            raise ArmError(
                400,
                "SkuNotAvailable",
                f"The requested VM size '{spec.vm_size}' is currently not available in location "
                f"'{location}' for this subscription. Try another size or location.",
                target="properties.vmSize",
            )
        if not spec.availability_zones:
            return (None,)
        blocked = sorted(set(spec.availability_zones) & set(restricted or ()))
        if blocked:
            raise ArmError(
                400,
                "SkuNotAvailable",
                f"The requested VM size '{spec.vm_size}' is currently not available in location "
                f"'{location}' zones '{','.join(blocked)}' for this subscription. Try another "
                "size, location or zone.",
                target="properties.availabilityZones",
            )
        return spec.availability_zones

    def _check_quota(self, spec: PoolSpec, existing: Pool | None) -> None:
        sku = self.skus.get(spec.vm_size)
        assert sku is not None  # parse_pool_request checked it
        needed = (spec.count - (existing.spec.count if existing else 0)) * sku.vcpus
        if needed <= 0:
            return
        per_family, total = self.usage()
        family = self.skus.family_of(sku.family)
        for quota_name, label, current in (
            (family, f"{family} Cores", per_family.get(family.lower(), 0)),
            (REGIONAL_USAGE, "Total Regional Cores", total),
        ):
            limit = self.limit(quota_name)
            if current + needed <= limit:
                continue
            detail = (
                f"Operation could not be completed as it results in exceeding approved {label} "
                f"quota. Additional details - Location: {self.config.identity.location}, "
                f"Current Limit: {limit}, Current Usage: {current}, Additional Required: "
                f"{needed}, (Minimum) New Limit Required: {current + needed}. Request a quota "
                f"increase for {quota_name} or use another VM size."
            )
            raise ArmError(
                400,
                "QuotaExceeded",
                f"Preflight validation for agent pool '{spec.name}' failed: {detail}",
                details=(ErrorDetail(code="OperationNotAllowed", message=detail),),
            )

    # -- operations ------------------------------------------------------------------------------

    def _start(self, kind: OperationKind, pool: str) -> Operation:
        op = Operation(
            id=str(uuid.UUID(int=self._ids.getrandbits(128), version=4)),
            kind=kind,
            pool=pool,
            start_time=self._clock.now(),
        )
        self._operations[op.id] = op
        task = asyncio.create_task(self._run(op), name=f"aks-emulator {kind} {pool}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return op

    async def _run(self, op: Operation) -> None:
        timing = self.config.timing
        duration = {
            "create": timing.create_seconds,
            "update": timing.update_seconds,
            "delete": timing.delete_seconds,
        }[op.kind]
        await self._clock.sleep(duration)
        while self._faults.is_stuck(op.pool, op.kind):
            await self._faults_changed.wait()
        failure = self._faults.failure_for(op.pool, op.kind)
        if failure is not None:
            index, fault = failure
            key = f"failed_operations[{index}]"
            if self.within_budget(key, fault.times):
                self.spend(key)
                self._finish(op, ErrorDetail(code=fault.code, message=fault.message))
                return
        try:
            if op.kind == "delete":
                await self._complete_delete(op)
            else:
                await self._complete_put(op)
        except Exception as exc:
            log.exception("AKS emulator: %s of pool %s failed", op.kind, op.pool)
            message = f"Joining or removing Nodes failed: {describe(exc)}"
            self._finish(op, ErrorDetail(code="InternalOperationError", message=message))
            return
        self._finish(op, None)

    def _finish(self, op: Operation, error: ErrorDetail | None) -> None:
        status = "Failed" if error else "Succeeded"
        self._operations[op.id] = dataclasses.replace(
            op, status=status, end_time=self._clock.now(), error=error
        )
        pool = self._pools.get(op.pool)
        if pool is not None and pool.operation_id == op.id:
            self._pools[op.pool] = dataclasses.replace(pool, provisioning_state=status)

    async def _complete_put(self, op: Operation) -> None:
        pool = self._pools[op.pool]
        resized = pool.resized()
        kept = {i.instance_id for i in resized.instances}
        existing = {i.instance_id for i in pool.instances}
        if self.nodes is not None and not self._faults.never_joins(op.pool):
            sku = self.skus.get(pool.spec.vm_size)
            assert sku is not None
            for instance in resized.instances:
                manifest = node_manifest(
                    config=self.config, spec=pool.spec, instance=instance, sku=sku
                )
                await self.nodes.ensure(manifest)
                if instance.instance_id not in existing:
                    self.nodes_joined += 1
        await self._delete_nodes(op.pool, [i for i in pool.instances if i.instance_id not in kept])
        self._pools[op.pool] = resized

    async def _complete_delete(self, op: Operation) -> None:
        await self._delete_nodes(op.pool, list(self._pools[op.pool].instances))
        del self._pools[op.pool]

    async def _delete_nodes(self, pool: str, instances: list[Instance]) -> None:
        if self.nodes is None:
            return
        for instance in instances:
            await self.nodes.delete(self.config.identity.node_name(pool, instance.instance_id))
            self.nodes_deleted += 1
