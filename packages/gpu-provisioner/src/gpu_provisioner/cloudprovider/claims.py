"""Read a NodeClaim or Machine (raw JSON) into the provider's :class:`~.types.Claim` view.

Pure. Both kinds carry requirements, taints, startup taints and resource requests in the same
shapes; only where the optional parts live differs, so one reader serves both.
"""

from __future__ import annotations

import datetime
import decimal
import re
from typing import TYPE_CHECKING, Any

from gpu_provisioner.cloudprovider.types import Claim, Requirement, Taint

if TYPE_CHECKING:
    from collections.abc import Mapping

_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")
_SUFFIXES: dict[str, int] = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def parse_quantity(value: str | int | float) -> decimal.Decimal:
    """A Kubernetes quantity ("1024Gi", "400", "500m", "1e3") as a number of base units."""
    text = str(value).strip()
    match = _QUANTITY.match(text)
    if match is None:
        raise ValueError(f"invalid quantity {value!r}")
    number, suffix = match.groups()
    if suffix == "m":
        return decimal.Decimal(number) / 1000
    if suffix not in _SUFFIXES:
        raise ValueError(f"invalid quantity suffix in {value!r}")
    return decimal.Decimal(number) * _SUFFIXES[suffix]


def _taints(items: Any) -> tuple[Taint, ...]:
    return tuple(
        Taint(key=t["key"], value=t.get("value") or "", effect=t.get("effect") or "NoSchedule")
        for t in items or ()
    )


def _timestamp(raw: str | None) -> datetime.datetime | None:
    if not raw:
        return None
    return datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))


def claim_from_object(obj: Mapping[str, Any]) -> Claim:
    """The provider's view of a NodeClaim or Machine object."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    requests = (spec.get("resources") or {}).get("requests") or {}
    return Claim(
        kind=obj.get("kind") or "NodeClaim",
        name=meta["name"],
        uid=meta.get("uid") or "",
        creation_timestamp=_timestamp(meta.get("creationTimestamp")),
        labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}),
        requirements=tuple(
            Requirement(key=r["key"], operator=r["operator"], values=tuple(r.get("values") or ()))
            for r in spec.get("requirements") or ()
        ),
        taints=_taints(spec.get("taints")),
        startup_taints=_taints(spec.get("startupTaints")),
        requests={k: str(v) for k, v in requests.items()},
        provider_id=status.get("providerID") or "",
    )
