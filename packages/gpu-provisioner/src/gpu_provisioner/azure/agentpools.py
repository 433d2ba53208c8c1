"""The agent pool a claim asks for, and the instance a pool document describes. Pure.

Body rules (upstream gpu-provisioner's, with its silent failures turned into errors a user can act
on): VM size = the first value of the ``node.kubernetes.io/instance-type`` requirement that the
SKU table knows; count 1; Linux; OS SKU from the ``kaito.sh/node-image-family`` annotation;
``osDiskSizeGB`` = the storage request in whole GiB (a default when absent, so claims written by
other Karpenter clients are honoured); node labels = the nodepool (NodeClaim) or provisioner-name
(Machine) label, then the claim's labels, then ``kaito.sh/machine-type``; the claim's taints as
``key=value:Effect``. Ownership tags let garbage collection recognise its own pools, and only them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
from typing import TYPE_CHECKING, Any

import preset_catalog
from gpu_provisioner.cloudprovider.claims import parse_quantity
from gpu_provisioner.cloudprovider.types import Claim, Instance, InvalidClaimError

if TYPE_CHECKING:
    from collections.abc import Mapping

INSTANCE_TYPE = "node.kubernetes.io/instance-type"
IMAGE_FAMILY_ANNOTATION = "kaito.sh/node-image-family"
MACHINE_TYPE_LABEL = "kaito.sh/machine-type"
NODEPOOL_LABEL = "karpenter.sh/nodepool"
PROVISIONER_NAME_LABEL = "karpenter.sh/provisioner-name"
RESERVED_LABEL_PREFIXES = ("kubernetes.azure.com/",)
AKS_SET_LABELS = frozenset({INSTANCE_TYPE, "beta.kubernetes.io/instance-type"})
"""Labels AKS writes on every Node itself (the VM size, canonically spelled): never passed on."""

TAG_OWNER = "kaito-gpu-provisioner"
TAG_CLAIM_KIND = "kaito-claim-kind"
TAG_CLAIM_NAME = "kaito-claim-name"
TAG_CREATED_AT = "kaito-created-at"

GIB = 2**30

AZURE_SPELLINGS: Mapping[str, str] = {"Standard_ND96asr_A100_v4": "Standard_ND96asr_v4"}
"""Catalog names that are Kaito's spelling of a VM size, not Azure's, to Azure's own name (one of
the entry's aliases). Azure rejects the others with an unknown-size error; every catalog name not
listed here is Azure's own."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class PoolOptions:
    """Knobs of the body builder (from settings)."""

    owner: str = "gpu-provisioner"
    """Value of the ownership tag: pools without it (or with another value) are never touched."""
    nodepool_label_value: str = "kaito"
    provisioner_name_label_value: str = "default"
    default_os_disk_size_gib: int = 128
    """Used when the claim requests no storage (upstream refuses such claims)."""


def vm_size(claim: Claim) -> str:
    """The VM size the claim asks for, validated against the SKU table, as Azure names it (which
    is not always the catalog's canonical name: :data:`AZURE_SPELLINGS`)."""
    requirement = claim.requirement(INSTANCE_TYPE)
    if requirement is None or requirement.operator != "In" or not requirement.values:
        raise InvalidClaimError(
            "InstanceTypeRequired",
            f"{claim.kind} {claim.name} has no '{INSTANCE_TYPE} In [...]' requirement; "
            "the provisioner needs one VM size per claim.",
        )
    for value in requirement.values:
        try:
            name = preset_catalog.get_instance_type(value).name
        except preset_catalog.UnknownNameError:
            continue
        return AZURE_SPELLINGS.get(name, name)
    raise InvalidClaimError(
        "UnknownInstanceType",
        f"none of the requested instance types {list(requirement.values)} is a known Azure GPU "
        "VM size.",
    )


def os_disk_size_gib(claim: Claim, default: int) -> int:
    raw = claim.requests.get("storage")
    if raw is None:
        return default
    try:
        gib = int(parse_quantity(raw) // GIB)
    except ValueError as exc:
        raise InvalidClaimError("InvalidStorageRequest", str(exc)) from None
    if gib <= 0:
        raise InvalidClaimError(
            "InvalidStorageRequest", f"storage request {raw!r} is less than 1 GiB."
        )
    return gib


def os_sku(claim: Claim) -> str:
    family = claim.annotations.get(IMAGE_FAMILY_ANNOTATION, "").strip().lower()
    return "AzureLinux" if family == "azurelinux" else "Ubuntu"


def node_labels(claim: Claim, size: str, options: PoolOptions) -> dict[str, str]:
    labels: dict[str, str] = {}
    if claim.kind == "Machine":
        labels[PROVISIONER_NAME_LABEL] = options.provisioner_name_label_value
    else:
        labels[NODEPOOL_LABEL] = options.nodepool_label_value
    labels.update(
        (k, v)
        for k, v in claim.labels.items()
        if not k.startswith(RESERVED_LABEL_PREFIXES) and k not in AKS_SET_LABELS
    )
    gpus = preset_catalog.get_instance_type(size).gpu.count
    labels[MACHINE_TYPE_LABEL] = "gpu" if gpus else "cpu"
    return labels


def agent_pool_body(
    claim: Claim, *, options: PoolOptions, now: datetime.datetime
) -> dict[str, Any]:
    """The PUT body (ARM JSON) for the claim's pool; raises InvalidClaimError."""
    size = vm_size(claim)
    return {
        "properties": {
            "type": "VirtualMachineScaleSets",
            "mode": "User",
            "vmSize": size,
            "count": 1,
            "osType": "Linux",
            "osSKU": os_sku(claim),
            "osDiskSizeGB": os_disk_size_gib(claim, options.default_os_disk_size_gib),
            "nodeLabels": node_labels(claim, size, options),
            "nodeTaints": [f"{t.key}={t.value}:{t.effect}" for t in claim.taints],
            "tags": {
                TAG_OWNER: options.owner,
                TAG_CLAIM_KIND: claim.kind,
                TAG_CLAIM_NAME: claim.name,
                TAG_CREATED_AT: now.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        }
    }


def vcpus_needed(size: str) -> tuple[str, int]:
    """(VM family quota name, vCPUs) of one VM of ``size``."""
    instance_type = preset_catalog.get_instance_type(size)
    return instance_type.vm_family, instance_type.vcpus


def resources(size: str, disk_gib: int | None) -> tuple[dict[str, str], dict[str, str]]:
    """Estimated (capacity, allocatable) of one node of ``size`` from the SKU table.

    Allocatable subtracts AKS's usual reservations roughly (kube-reserved cpu and memory, the
    eviction threshold); the Node's own status is authoritative once it registers.
    """
    it = preset_catalog.get_instance_type(size)
    memory_mib = int(it.memory_gib * 1024)
    capacity = {
        "cpu": str(it.vcpus),
        "memory": f"{memory_mib}Mi",
        "pods": "110",
    }
    if disk_gib:
        capacity["ephemeral-storage"] = f"{disk_gib}Gi"
    if it.gpu.count:
        capacity[preset_catalog.GPU_RESOURCE_NAME] = str(it.gpu.count)
    allocatable = dict(capacity)
    allocatable["cpu"] = f"{it.vcpus * 1000 - min(it.vcpus * 60, 2000)}m"
    allocatable["memory"] = f"{max(memory_mib - memory_mib // 10 - 750, 0)}Mi"
    return capacity, allocatable


def owned(pool: Mapping[str, Any], owner: str) -> bool:
    tags = (pool.get("properties") or {}).get("tags") or {}
    return bool(tags.get(TAG_OWNER) == owner)


def instance_from_pool(pool: Mapping[str, Any], *, provider_id: str = "") -> Instance:
    """The seam's view of an agent pool document (ARM JSON)."""
    properties = pool.get("properties") or {}
    tags = properties.get("tags") or {}
    size = properties.get("vmSize") or ""
    capacity: dict[str, str] = {}
    allocatable: dict[str, str] = {}
    with contextlib.suppress(preset_catalog.UnknownNameError):
        capacity, allocatable = resources(size, properties.get("osDiskSizeGB"))
    created = tags.get(TAG_CREATED_AT)
    return Instance(
        name=pool.get("name") or "",
        provider_id=provider_id,
        instance_type=size,
        image_id=properties.get("nodeImageVersion") or "",
        state=properties.get("provisioningState") or "",
        labels={**(properties.get("nodeLabels") or {}), INSTANCE_TYPE: size},
        capacity=capacity,
        allocatable=allocatable,
        claim_kind=tags.get(TAG_CLAIM_KIND, ""),
        claim_name=tags.get(TAG_CLAIM_NAME, ""),
        created_at=datetime.datetime.fromisoformat(created.replace("Z", "+00:00"))
        if created
        else None,
    )
