"""Karpenter's CloudProvider contract in Python: value types, the Protocol, and typed errors.

Why a Protocol and typed errors: the lifecycle controllers decide what a failure means for the
claim (retry, Launched=False with an Event, delete the claim) from the error's *type*, never from
cloud-specific codes or message text. Each cloud classifies its own errors into these types, so
another provider can replace Azure without touching a controller.

A :class:`Claim` is the provider's read-only view of a NodeClaim (karpenter.sh/v1) or a Machine
(karpenter.sh/v1alpha5): both ask for the same thing, one node with requirements, taints and
resource requests.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import builtins
    import datetime
    from collections.abc import Mapping, Sequence


@dataclasses.dataclass(frozen=True, kw_only=True)
class Requirement:
    """One node selector requirement (key, operator, values)."""

    key: str
    operator: str
    values: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Taint:
    key: str
    effect: str
    value: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Claim:
    """What a provider needs to know about a claim to create its node."""

    kind: str
    """NodeClaim or Machine."""
    name: str
    uid: str
    creation_timestamp: datetime.datetime | None = None
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    annotations: Mapping[str, str] = dataclasses.field(default_factory=dict)
    requirements: Sequence[Requirement] = ()
    taints: Sequence[Taint] = ()
    startup_taints: Sequence[Taint] = ()
    requests: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """spec.resources.requests as Kubernetes quantities."""
    provider_id: str = ""
    """status.providerID, once launched."""

    def requirement(self, key: str) -> Requirement | None:
        for requirement in self.requirements:
            if requirement.key == key:
                return requirement
        return None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Instance:
    """A cloud instance backing one claim (for Azure: a one-node agent pool)."""

    name: str
    """The provider's name for it (the agent pool name)."""
    provider_id: str = ""
    """The Node's spec.providerID; empty until the node has joined."""
    instance_type: str = ""
    image_id: str = ""
    state: str = ""
    """Provider-specific provisioning state (Creating, Succeeded, Failed, Deleting, ...)."""
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    capacity: Mapping[str, str] = dataclasses.field(default_factory=dict)
    allocatable: Mapping[str, str] = dataclasses.field(default_factory=dict)
    claim_kind: str = ""
    """Kind of the claim that created it (from the provider's ownership marks)."""
    claim_name: str = ""
    created_at: datetime.datetime | None = None
    capacity_type: str = "on-demand"
    """Karpenter's ``karpenter.sh/capacity-type`` (on-demand or spot); Azure agent pools created
    here are regular-priority, so on-demand."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class InstanceType:
    """A shape the provider can create, with its estimated resources."""

    name: str
    capacity: Mapping[str, str]
    allocatable: Mapping[str, str]


class CloudProvider(Protocol):
    """Creates, finds and deletes the instances behind claims."""

    @property
    def name(self) -> str:
        """Short provider name, used as the ``provider`` metric label (e.g. ``azure``)."""
        ...

    async def create(self, claim: Claim) -> Instance:
        """Create (or adopt, after a restart) the claim's instance and return it once its node
        has a providerID. May take minutes; callers run it off their worker.

        Raises :class:`InsufficientCapacityError`, :class:`CreateError` (incl. :class:`QuotaError`),
        :class:`TransientError` or any other exception (retried).
        """
        ...

    async def delete(self, claim: Claim) -> None:
        """Start deleting the claim's instance; raise :class:`NodeClaimNotFoundError` once it is
        gone. Returns while deletion is still in progress (callers poll)."""
        ...

    async def get(self, provider_id: str) -> Instance:
        """The instance behind ``provider_id``, or :class:`NodeClaimNotFoundError`."""
        ...

    async def list(self) -> list[Instance]:
        """Every instance this provider created (never ones it did not)."""
        ...

    async def instance_types(self) -> builtins.list[InstanceType]:
        """Shapes on offer (informational; claims name theirs in requirements)."""
        ...

    async def is_drifted(self, claim: Claim) -> str:
        """A drift reason, or "" when the instance matches the claim."""
        ...


# -- errors ----------------------------------------------------------------------------------------


class CloudProviderError(Exception):
    """Base of every error the seam raises on purpose."""


class NodeClaimNotFoundError(CloudProviderError):
    """The instance does not exist (deletion is complete, or it never was)."""


class InsufficientCapacityError(CloudProviderError):
    """The cloud cannot supply this shape now; Karpenter deletes the claim."""


class CreateError(CloudProviderError):
    """A create failed for a reason a user can act on; ``reason`` is a CamelCase condition
    reason, ``message`` a human sentence."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class QuotaError(CreateError):
    """Not enough vCPU quota for the VM family (message names family, need and availability)."""

    def __init__(self, message: str) -> None:
        super().__init__("QuotaExceeded", message)


class InvalidClaimError(CreateError):
    """The claim cannot be served as written (no or unknown instance type, no storage request).
    Claim specs are immutable, so retrying does not help."""


class TransientError(CloudProviderError):
    """Throttling, a server error or a conflict with an operation in progress: retry later.
    ``retry_after_seconds`` is the cloud's hint, if it gave one."""

    def __init__(self, message: str, *, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds
