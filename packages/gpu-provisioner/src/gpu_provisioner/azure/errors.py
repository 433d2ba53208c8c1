"""ARM error codes mapped onto the seam's typed errors. Pure.

Upstream matched one message substring and retried everything else forever. Here every failure
the controllers must treat differently has a type: a missing pool is NotFound; quota is a
:class:`~gpu_provisioner.cloudprovider.types.QuotaError`; capacity and SKU availability are
:class:`~gpu_provisioner.cloudprovider.types.InsufficientCapacityError` (Karpenter deletes the
claim); throttling, server errors and conflicts with an operation in progress are transient; any
other 4xx is a :class:`~gpu_provisioner.cloudprovider.types.CreateError` carrying the ARM code.
"""

from __future__ import annotations

from gpu_provisioner.cloudprovider.types import (
    CloudProviderError,
    CreateError,
    InsufficientCapacityError,
    NodeClaimNotFoundError,
    QuotaError,
    TransientError,
)

NOT_FOUND_CODES = frozenset({"notfound", "resourcenotfound", "agentpoolnotfound"})
QUOTA_CODES = frozenset({"quotaexceeded", "insufficientvcpuquota", "operationnotallowedquota"})
CAPACITY_CODES = frozenset(
    {
        "skunotavailable",
        "allocationfailed",
        "zonalallocationfailed",
        "overconstrainedallocationrequest",
        "overconstrainedzonalallocationrequest",
        "insufficientcapacity",
    }
)
TRANSIENT_CODES = frozenset(
    {"toomanyrequests", "conflict", "internalservererror", "serviceunavailable", "retryable"}
)


def classify(
    *,
    status: int | None,
    code: str,
    message: str,
    detail_codes: tuple[str, ...] = (),
    retry_after_seconds: float | None = None,
) -> CloudProviderError:
    """The typed error for an ARM failure (HTTP status, error code, message, detail codes)."""
    folded = code.lower()
    details = {d.lower() for d in detail_codes}
    text = f"{code}: {message}" if code else message
    if folded in NOT_FOUND_CODES or status == 404 or "agent pool not found" in message.lower():
        return NodeClaimNotFoundError(text)
    if folded in QUOTA_CODES or (
        "operationnotallowed" in {folded, *details} and "quota" in message.lower()
    ):
        return QuotaError(message)
    if folded in CAPACITY_CODES or details & CAPACITY_CODES:
        return InsufficientCapacityError(text)
    if folded in TRANSIENT_CODES or status in (408, 409, 429) or (status or 0) >= 500:
        return TransientError(text, retry_after_seconds=retry_after_seconds)
    return CreateError(code or "LaunchFailed", message or "the Azure request failed")
