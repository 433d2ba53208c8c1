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
    from collections.abc import Mapping, Sequence

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


# Keys a single-valued requirement may turn into a claim label. Karpenter's rule: keys in the
# kubernetes.io, k8s.io and karpenter.sh domains are reserved, except its well-known labels and
# the node.kubernetes.io family (which kubelets may set themselves).
_WELL_KNOWN_LABELS = frozenset(
    {
        "karpenter.sh/nodepool",
        "karpenter.sh/provisioner-name",
        "karpenter.sh/capacity-type",
        "node.kubernetes.io/instance-type",
        "node.kubernetes.io/windows-build",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "kubernetes.io/arch",
        "kubernetes.io/os",
    }
)
_RESERVED_DOMAINS = ("kubernetes.io", "k8s.io", "karpenter.sh")
_OPEN_DOMAINS = ("node.kubernetes.io", "node-restriction.kubernetes.io", "kops.k8s.io")


def _in_domain(domain: str, suffixes: tuple[str, ...]) -> bool:
    return any(domain == s or domain.endswith("." + s) for s in suffixes)


def is_reserved_label(key: str) -> bool:
    """Whether ``key`` may not be derived from a requirement (see ``_WELL_KNOWN_LABELS``)."""
    if key in _WELL_KNOWN_LABELS or "/" not in key:
        return False
    domain = key.split("/", 1)[0]
    if _in_domain(domain, _OPEN_DOMAINS):
        return False
    return _in_domain(domain, _RESERVED_DOMAINS)


_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def is_valid_label(key: str, value: str) -> bool:
    """Kubernetes' label syntax: ``[prefix/]name`` (a DNS subdomain of at most 253 characters,
    then a name of at most 63) and a value of at most 63 characters, possibly empty."""
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return False
    if len(name) > 63 or not _LABEL_NAME.match(name):
        return False
    return len(value) <= 63 and (not value or bool(_LABEL_NAME.match(value)))


def requirement_labels(requirements: Sequence[Requirement]) -> dict[str, str]:
    """The labels a set of requirements pins down: each ``In`` with exactly one value, unless its
    key is reserved or the pair is no valid label. A key required twice is pinned only if every
    requirement agrees."""
    labels: dict[str, str] = {}
    conflicting: set[str] = set()
    for requirement in requirements:
        if requirement.operator != "In" or len(set(requirement.values)) != 1:
            continue
        if is_reserved_label(requirement.key) or not is_valid_label(
            requirement.key, requirement.values[0]
        ):
            continue
        value = requirement.values[0]
        if labels.setdefault(requirement.key, value) != value:
            conflicting.add(requirement.key)
    return {k: v for k, v in labels.items() if k not in conflicting}


def missing_requirement_labels(
    obj: Mapping[str, Any], resolved: Mapping[str, str] | None = None
) -> dict[str, str]:
    """What a launched claim's metadata.labels lacks of :func:`requirement_labels`; labels it
    already has win, as Karpenter's launch keeps the user's labels.

    ``resolved`` are the labels of what was launched (the instance's, or its Node's): where one
    names the same value in another case (``standard_nc6s_v3`` asked, ``Standard_NC6s_v3``
    created, since VM sizes are case-insensitive), its spelling is the one written, so the claim
    and its Node agree.
    """
    present = (obj.get("metadata") or {}).get("labels") or {}
    pinned = requirement_labels(claim_from_object(obj).requirements)
    spelled = resolved or {}
    return {
        k: spelled[k] if spelled.get(k, "").lower() == v.lower() else v
        for k, v in pinned.items()
        if k not in present
    }
