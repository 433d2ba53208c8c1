"""Fault injection: what can go wrong with Azure, as one immutable, validated document.

Why a document: the same faults are set from a file at start (``--faults faults.yaml``), replaced
or merged at run time through ``/_admin/faults``, and read back for a test's failure message, so
they are plain data with one schema (YAML or JSON, keys as below). The emulator keeps the only
mutable parts itself: how many times a ``times``-limited fault has fired, and the seeded random
source that decides rates.

Operation names (for ``latency``, ``throttle.operations``, ``server_errors.operations``) are
``agentPools.createOrUpdate|get|delete|list``, ``managedClusters.get``, ``operations.get``,
``operationResults.get``, ``resourceSkus.list``, ``usages.list``,
``virtualMachineScaleSetVMs.list``; they and pool names match as shell globs (``agentPools.*``).
LRO kinds (``failed_operations``, ``stuck_operations``) are ``create``, ``update``, ``delete`` or
``*``.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Annotated, Any, Literal

import pydantic
import yaml
from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

__all__ = [
    "FailedOperation",
    "Faults",
    "FaultsError",
    "LatencySpec",
    "ServerErrors",
    "StuckOperation",
    "Throttle",
    "UnavailableSku",
    "load_faults",
]

_STRICT = ConfigDict(extra="forbid")

OperationKind = Literal["create", "update", "delete", "*"]
Rate = Annotated[float, Field(ge=0.0, le=1.0)]
Seconds = Annotated[float, Field(ge=0.0)]
Glob = Annotated[str, Field(min_length=1)]


class FaultsError(ValueError):
    """A faults document that does not validate (the message lists every problem)."""


def _ordered(value: tuple[float, float]) -> tuple[float, float]:
    if value[0] > value[1]:
        raise ValueError("latency range must be [min, max] with min <= max")
    return value


LatencySpec = Seconds | Annotated[tuple[Seconds, Seconds], pydantic.AfterValidator(_ordered)]
"""Fixed seconds, or ``[min, max]`` drawn uniformly from the seeded random source."""


@dataclass(frozen=True, kw_only=True, config=_STRICT)
class Throttle:
    """Answer 429 ``TooManyRequests`` with ``Retry-After`` at this rate."""

    rate: Rate
    retry_after_seconds: Annotated[float, Field(gt=0.0)] = 1.0
    """Real ARM sends whole seconds; fractions are allowed here to keep tests fast."""
    operations: tuple[Glob, ...] = ("*",)
    times: Annotated[int, Field(ge=1)] | None = None
    """Stop after injecting this many (None: no limit)."""


@dataclass(frozen=True, kw_only=True, config=_STRICT)
class ServerErrors:
    """Answer one of ``statuses`` (``InternalServerError``/``ServiceUnavailable``...) at this
    rate, without ``Retry-After``: the SDK retries them with its exponential back-off."""

    rate: Rate
    statuses: tuple[Literal[500, 502, 503, 504], ...] = (500, 503)
    operations: tuple[Glob, ...] = ("*",)
    times: Annotated[int, Field(ge=1)] | None = None


@dataclass(frozen=True, kw_only=True, config=_STRICT)
class FailedOperation:
    """Matching long-running operations end ``Failed`` with this error (the pool's
    provisioningState becomes ``Failed``; a failed create joins no Node)."""

    pool: Glob = "*"
    operation: OperationKind = "create"
    code: Annotated[str, Field(min_length=1)] = "AllocationFailed"
    message: str = (
        "Allocation failed: there is not enough capacity for the requested VM size in this "
        "region (injected by the AKS emulator)."
    )
    times: Annotated[int, Field(ge=1)] | None = None


@dataclass(frozen=True, kw_only=True, config=_STRICT)
class StuckOperation:
    """Matching operations stay ``InProgress`` for as long as this fault is set; removing it
    (``PATCH /_admin/faults``) lets them finish."""

    pool: Glob = "*"
    operation: OperationKind = "*"


@dataclass(frozen=True, kw_only=True, config=_STRICT)
class UnavailableSku:
    """A VM size restricted for the subscription: in the whole location (``zones`` omitted) or
    in some zones. It shows in resourceSkus ``restrictions`` and fails a PUT that needs it."""

    vm_size: Annotated[str, Field(min_length=1)]
    zones: tuple[str, ...] | None = None


@dataclass(frozen=True, kw_only=True, config=_STRICT)
class Faults:
    """Everything that can go wrong. The empty document (the default) is a healthy Azure."""

    latency: dict[Glob, LatencySpec] = Field(default_factory=dict)
    """Operation glob → delay before answering; the first matching key wins."""
    throttle: Throttle | None = None
    server_errors: ServerErrors | None = None
    failed_operations: tuple[FailedOperation, ...] = ()
    stuck_operations: tuple[StuckOperation, ...] = ()
    never_join: tuple[Glob, ...] = ()
    """Pool globs whose create succeeds in ARM but whose Nodes never appear in the cluster."""
    quota: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    """vCPU limit per VM family (usages API name, case-insensitive); ``cores`` is the regional
    total."""
    unavailable_skus: tuple[UnavailableSku, ...] = ()

    # -- reading ---------------------------------------------------------------------------------

    def latency_for(self, operation: str) -> LatencySpec | None:
        for pattern, spec in self.latency.items():
            if fnmatch.fnmatchcase(operation, pattern):
                return spec
        return None

    def failure_for(self, pool: str, kind: str) -> tuple[int, FailedOperation] | None:
        """The first matching ``failed_operations`` entry and its index (for ``times``)."""
        for index, fault in enumerate(self.failed_operations):
            if _kind_matches(fault.operation, kind) and fnmatch.fnmatchcase(pool, fault.pool):
                return index, fault
        return None

    def is_stuck(self, pool: str, kind: str) -> bool:
        return any(
            _kind_matches(f.operation, kind) and fnmatch.fnmatchcase(pool, f.pool)
            for f in self.stuck_operations
        )

    def never_joins(self, pool: str) -> bool:
        return any(fnmatch.fnmatchcase(pool, pattern) for pattern in self.never_join)

    def quota_for(self, usage_name: str) -> int | None:
        folded = usage_name.lower()
        for name, limit in self.quota.items():
            if name.lower() == folded:
                return limit
        return None

    def restricted_zones(self, vm_size: str) -> tuple[str, ...] | None:
        """None: available; ``()``: restricted in the whole location; else the zones."""
        zones: set[str] = set()
        for sku in self.unavailable_skus:
            if sku.vm_size.lower() != vm_size.lower():
                continue
            if sku.zones is None:
                return ()
            zones.update(sku.zones)
        return tuple(sorted(zones)) if zones else None

    # -- (de)serialising -----------------------------------------------------------------------

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> Faults:
        try:
            return _ADAPTER.validate_python(dict(data or {}))
        except pydantic.ValidationError as exc:
            raise FaultsError(str(exc)) from None

    def to_json(self) -> dict[str, Any]:
        dumped: dict[str, Any] = _ADAPTER.dump_python(self, mode="json", exclude_defaults=True)
        return dumped

    def merged(self, patch: Mapping[str, Any]) -> Faults:
        """Replace the top-level keys in ``patch``; a key set to null goes back to its default."""
        document = self.to_json()
        for key, value in patch.items():
            if value is None:
                document.pop(key, None)
            else:
                document[key] = value
        return Faults.from_mapping(document)


def _kind_matches(pattern: str, kind: str) -> bool:
    return pattern in {"*", kind}


_ADAPTER: pydantic.TypeAdapter[Faults] = pydantic.TypeAdapter(Faults)


def load_faults(path: Path) -> Faults:
    """Read a faults document (YAML or JSON)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if data is not None and not isinstance(data, dict):
        raise FaultsError(f"{path}: a faults document is a mapping, not {type(data).__name__}")
    return Faults.from_mapping(data)
