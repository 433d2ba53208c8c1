"""Agent pools and their long-running operations: validation of a PUT body as AKS does it, the
immutable state the emulator keeps, and the JSON documents the SDK reads back.

Pure: no I/O and no clock (times are passed in), so the rules can be read and tested on their
own. A rule broken here becomes an :class:`ArmError` with AKS's status and code; the server only
renders it.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from aks_emulator._errors import ArmError, ErrorDetail, invalid_parameter

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from aks_emulator._config import EmulatorConfig
    from aks_emulator._skus import SkuTable

__all__ = [
    "Instance",
    "Operation",
    "OperationKind",
    "Pool",
    "PoolSpec",
    "parse_pool_request",
]

OperationKind = Literal["create", "update", "delete"]
TERMINAL_STATES = frozenset({"Succeeded", "Failed", "Canceled"})
_STATE_OF_KIND: Mapping[OperationKind, str] = MappingProxyType(
    {"create": "Creating", "update": "Updating", "delete": "Deleting"}
)

LINUX_POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
WINDOWS_POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,5}$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
TAINT_EFFECTS = frozenset({"NoSchedule", "PreferNoSchedule", "NoExecute"})
OS_SKUS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "Linux": frozenset(
            {"Ubuntu", "Ubuntu2204", "Ubuntu2404", "AzureLinux", "AzureLinux3", "CBLMariner"}
        ),
        "Windows": frozenset({"Windows2019", "Windows2022", "Windows2025"}),
    }
)
RESERVED_LABEL_PREFIX = "kubernetes.azure.com/"
DEFAULT_OS_DISK_GB = 128
MAX_OS_DISK_GB = 2048
MAX_COUNT = 1000
IMMUTABLE = ("vm_size", "os_type", "os_disk_size_gb", "availability_zones")


@dataclasses.dataclass(frozen=True, kw_only=True)
class PoolSpec:
    """What a PUT asked for, validated and with AKS's defaults filled in."""

    name: str
    vm_size: str
    count: int = 1
    os_type: str = "Linux"
    os_sku: str = "Ubuntu"
    os_disk_size_gb: int = DEFAULT_OS_DISK_GB
    mode: str = "User"
    max_pods: int = 110
    node_labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    node_taints: tuple[str, ...] = ()
    availability_zones: tuple[str, ...] = ()
    scale_set_priority: str = "Regular"
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Instance:
    """One VMSS instance (and, once joined, one Node)."""

    instance_id: int
    zone: str | None
    """Zone name (``"1"``) or None for a non-zonal pool."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Pool:
    spec: PoolSpec
    provisioning_state: str
    instances: tuple[Instance, ...] = ()
    next_instance_id: int = 0
    placement: tuple[str | None, ...] = (None,)
    """Zones new instances go to, round-robin (None: a non-zonal instance)."""
    operation_id: str | None = None
    system: bool = False

    @property
    def busy(self) -> bool:
        return self.provisioning_state not in TERMINAL_STATES

    def resized(self) -> Pool:
        """The pool with ``spec.count`` instances: new ones get the next ids and are placed
        round-robin over ``placement``; removed ones are the newest."""
        instances = list(self.instances[: self.spec.count])
        next_id = self.next_instance_id
        while len(instances) < self.spec.count:
            zone = self.placement[next_id % len(self.placement)]
            instances.append(Instance(instance_id=next_id, zone=zone))
            next_id += 1
        return dataclasses.replace(self, instances=tuple(instances), next_instance_id=next_id)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Operation:
    """An AKS long-running operation, as the ``Azure-AsyncOperation`` URL reports it."""

    id: str
    kind: OperationKind
    pool: str
    start_time: datetime
    status: str = "InProgress"
    end_time: datetime | None = None
    error: ErrorDetail | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATES

    def document(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.id,
            "status": self.status,
            "startTime": _iso(self.start_time),
        }
        if self.end_time is not None:
            body["endTime"] = _iso(self.end_time)
        if self.error is not None:
            body["error"] = self.error.to_json()
        return body


def state_for(kind: OperationKind) -> str:
    return _STATE_OF_KIND[kind]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# -- validation ----------------------------------------------------------------------------------


def check_pool_name(name: str, *, os_type: str = "Linux") -> None:
    pattern, limit = (WINDOWS_POOL_NAME, 6) if os_type == "Windows" else (LINUX_POOL_NAME, 12)
    if not pattern.match(name):
        raise invalid_parameter(
            f"Agent pool name '{name}' is invalid: it must start with a lowercase letter, contain "
            f"only lowercase letters and digits, and have at most {limit} characters for "
            f"{os_type} pools.",
            target="agentPoolName",
        )


def _label_key_ok(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_LABEL_NAME.match(name))


def _label_value_ok(value: str) -> bool:
    return len(value) <= 63 and bool(_LABEL_NAME.match(value))


def parse_taint(taint: str) -> tuple[str, str, str]:
    """``key=value:Effect`` (or ``key:Effect``) → (key, value, effect); ValueError if bad."""
    body, sep, effect = taint.rpartition(":")
    key, _, value = body.partition("=")
    if not sep or effect not in TAINT_EFFECTS or not _label_key_ok(key):
        raise ValueError(taint)
    if not _label_value_ok(value):
        raise ValueError(taint)
    return key, value, effect


def _field(properties: Mapping[str, Any], name: str, kind: type, default: Any) -> Any:
    value = properties.get(name, default)
    if value is None:
        return default
    # bool is an int in Python but not in JSON
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise invalid_parameter(
            f"The value of '{name}' must be of type {kind.__name__}.",
            target=f"properties.{name}",
        )
    return value


def _string_map(properties: Mapping[str, Any], name: str) -> dict[str, str]:
    value = _field(properties, name, dict, {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise invalid_parameter(
            f"'{name}' must map strings to strings.", target=f"properties.{name}"
        )
    return dict(value)


def _node_labels(properties: Mapping[str, Any]) -> dict[str, str]:
    labels = _string_map(properties, "nodeLabels")
    for key, value in labels.items():
        if key.startswith(RESERVED_LABEL_PREFIX):
            raise invalid_parameter(
                f"Node label '{key}' uses the reserved prefix '{RESERVED_LABEL_PREFIX}'.",
                target="properties.nodeLabels",
            )
        if not _label_key_ok(key) or not _label_value_ok(value):
            raise invalid_parameter(
                f"Node label '{key}={value}' is not a valid Kubernetes label.",
                target="properties.nodeLabels",
            )
    return labels


def _node_taints(properties: Mapping[str, Any]) -> list[str]:
    taints: list[Any] = _field(properties, "nodeTaints", list, [])
    for taint in taints:
        try:
            parse_taint(taint if isinstance(taint, str) else "")
        except ValueError:
            raise invalid_parameter(
                f"Node taint '{taint}' is invalid; use key=value:Effect with Effect one of "
                f"{sorted(TAINT_EFFECTS)}.",
                target="properties.nodeTaints",
            ) from None
    return taints


def parse_pool_request(
    name: str, body: Any, *, table: SkuTable, zones: tuple[str, ...]
) -> PoolSpec:
    """Validate a PUT body for pool ``name`` the way AKS does, or raise :class:`ArmError`."""
    if not isinstance(body, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content must be a JSON object.")
    properties = body.get("properties")
    if not isinstance(properties, dict):
        raise invalid_parameter("The agent pool 'properties' are required.", target="properties")
    os_type = _field(properties, "osType", str, "Linux")
    if os_type not in OS_SKUS:
        raise invalid_parameter(
            f"The osType '{os_type}' is not supported; use Linux or Windows.",
            target="properties.osType",
        )
    check_pool_name(name, os_type=os_type)

    vm_size = _field(properties, "vmSize", str, None)
    if vm_size is None:
        raise invalid_parameter("The agent pool vmSize is required.", target="properties.vmSize")
    if table.get(vm_size) is None:
        raise invalid_parameter(
            f"The VM size '{vm_size}' is not supported by this cluster's location.",
            target="properties.vmSize",
        )
    count = _field(properties, "count", int, 1)
    if not 0 <= count <= MAX_COUNT:
        raise invalid_parameter(
            f"The agent pool count {count} must be between 0 and {MAX_COUNT}.",
            target="properties.count",
        )
    disk = _field(properties, "osDiskSizeGB", int, DEFAULT_OS_DISK_GB)
    if not 0 < disk <= MAX_OS_DISK_GB:
        raise invalid_parameter(
            f"The osDiskSizeGB {disk} must be greater than 0 and at most {MAX_OS_DISK_GB}.",
            target="properties.osDiskSizeGB",
        )
    default_sku = "Ubuntu" if os_type == "Linux" else "Windows2022"
    os_sku = _field(properties, "osSKU", str, default_sku)
    if os_sku not in OS_SKUS[os_type]:
        raise invalid_parameter(
            f"The osSKU '{os_sku}' is not valid for osType {os_type}; valid values are "
            f"{sorted(OS_SKUS[os_type])}.",
            target="properties.osSKU",
        )
    pool_type = _field(properties, "type", str, "VirtualMachineScaleSets")
    if pool_type != "VirtualMachineScaleSets":
        raise invalid_parameter(
            f"The agent pool type '{pool_type}' is not supported by the emulator; use "
            "VirtualMachineScaleSets.",
            target="properties.type",
        )
    mode = _field(properties, "mode", str, "User")
    if mode not in {"User", "System"}:
        raise invalid_parameter(
            f"The agent pool mode '{mode}' is invalid.", target="properties.mode"
        )
    max_pods = _field(properties, "maxPods", int, 110)
    if not 10 <= max_pods <= 250:
        raise invalid_parameter(
            f"maxPods {max_pods} must be between 10 and 250.", target="properties.maxPods"
        )

    labels = _node_labels(properties)
    taints = _node_taints(properties)
    requested_zones = _field(properties, "availabilityZones", list, [])
    unknown = [z for z in requested_zones if z not in zones]
    if unknown:
        raise invalid_parameter(
            f"Availability zones {unknown} are not available in this location; the location has "
            f"zones {list(zones)}.",
            target="properties.availabilityZones",
        )
    priority = _field(properties, "scaleSetPriority", str, "Regular")
    if priority not in {"Regular", "Spot"}:
        raise invalid_parameter(
            f"scaleSetPriority '{priority}' is invalid.", target="properties.scaleSetPriority"
        )
    return PoolSpec(
        name=name,
        vm_size=vm_size,
        count=count,
        os_type=os_type,
        os_sku=os_sku,
        os_disk_size_gb=disk,
        mode=mode,
        max_pods=max_pods,
        node_labels=labels,
        node_taints=tuple(taints),
        availability_zones=tuple(requested_zones),
        scale_set_priority=priority,
        tags=_string_map(properties, "tags"),
    )


def check_update(current: PoolSpec, requested: PoolSpec) -> None:
    """A PUT on an existing pool may change count, labels, taints and tags, not the machine."""
    for field in IMMUTABLE:
        before, after = getattr(current, field), getattr(requested, field)
        if isinstance(before, str) and isinstance(after, str):
            same = before.lower() == after.lower()
        else:
            same = before == after
        if not same:
            raise ArmError(
                400,
                "PropertyChangeNotAllowed",
                f"Changing property '{_camel(field)}' is not allowed.",
                target=_camel(field),
            )


def _camel(field: str) -> str:
    words = {"gb": "GB"}
    head, *rest = field.split("_")
    return head + "".join(words.get(w, w.capitalize()) for w in rest)


# -- documents -----------------------------------------------------------------------------------


def pool_document(pool: Pool, *, config: EmulatorConfig) -> dict[str, Any]:
    """The agentPools resource as GET returns it."""
    identity = config.identity
    spec = pool.spec
    properties: dict[str, Any] = {
        "count": spec.count,
        "vmSize": spec.vm_size,
        "osDiskSizeGB": spec.os_disk_size_gb,
        "osDiskType": "Managed",
        "kubeletDiskType": "OS",
        "maxPods": spec.max_pods,
        "type": "VirtualMachineScaleSets",
        "mode": spec.mode,
        "osType": spec.os_type,
        "osSKU": spec.os_sku,
        "orchestratorVersion": config.kubernetes_version,
        "currentOrchestratorVersion": config.kubernetes_version,
        "nodeImageVersion": config.node_image_version,
        "provisioningState": pool.provisioning_state,
        "powerState": {"code": "Running"},
        "scaleSetPriority": spec.scale_set_priority,
        "enableNodePublicIP": False,
        "enableFIPS": False,
        "nodeLabels": dict(spec.node_labels),
        "nodeTaints": list(spec.node_taints),
    }
    if spec.availability_zones:
        properties["availabilityZones"] = list(spec.availability_zones)
    if spec.tags:
        properties["tags"] = dict(spec.tags)
    return {
        "id": f"{identity.cluster_id}/agentPools/{spec.name}",
        "name": spec.name,
        "type": "Microsoft.ContainerService/managedClusters/agentPools",
        "properties": properties,
    }


def managed_cluster_document(pools: list[Pool], *, config: EmulatorConfig) -> dict[str, Any]:
    """The managedClusters resource as GET returns it (pools as ``agentPoolProfiles``)."""
    identity = config.identity
    profiles = []
    for pool in pools:
        document = pool_document(pool, config=config)
        profiles.append({"name": document["name"], **document["properties"]})
    return {
        "id": identity.cluster_id,
        "name": identity.cluster,
        "type": "Microsoft.ContainerService/ManagedClusters",
        "location": identity.location,
        "sku": {"name": "Base", "tier": "Free"},
        "identity": {"type": "SystemAssigned"},
        "properties": {
            "provisioningState": "Succeeded",
            "powerState": {"code": "Running"},
            "kubernetesVersion": config.kubernetes_version,
            "currentKubernetesVersion": config.kubernetes_version,
            "dnsPrefix": f"{identity.cluster}-dns",
            "fqdn": f"{identity.cluster}-dns.hcp.{identity.location}.azmk8s.io",
            "nodeResourceGroup": identity.node_resource_group,
            "enableRBAC": True,
            "agentPoolProfiles": profiles,
            "networkProfile": {"networkPlugin": "azure", "networkPluginMode": "overlay"},
        },
    }


def vmss_vm_documents(pool: Pool, *, config: EmulatorConfig) -> list[dict[str, Any]]:
    """The pool's VMSS instances as ``virtualMachineScaleSets/virtualMachines`` list items.

    Their IDs spell the node resource group as ARM does (``MC_...``), not lowercased as in a
    Node's providerID."""
    identity = config.identity
    vmss = identity.vmss_name(pool.spec.name)
    vmss_id = (
        f"/subscriptions/{identity.subscription}/resourceGroups/{identity.node_resource_group}"
        f"/providers/Microsoft.Compute/virtualMachineScaleSets/{vmss}"
    )
    state = "Deleting" if pool.provisioning_state == "Deleting" else "Succeeded"
    documents = []
    for instance in pool.instances:
        vm_id = f"{vmss_id}/virtualMachines/{instance.instance_id}"
        document: dict[str, Any] = {
            "id": vm_id,
            "name": f"{vmss}_{instance.instance_id}",
            "type": "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
            "location": identity.location,
            "instanceId": str(instance.instance_id),
            "sku": {"name": pool.spec.vm_size, "tier": "Standard"},
            "properties": {
                "latestModelApplied": True,
                "vmId": str(uuid.uuid5(uuid.NAMESPACE_URL, vm_id)),
                "provisioningState": state,
                "hardwareProfile": {"vmSize": pool.spec.vm_size},
                "osProfile": {
                    "computerName": identity.node_name(pool.spec.name, instance.instance_id)
                },
            },
        }
        if instance.zone:
            document["zones"] = [instance.zone]
        documents.append(document)
    return documents
