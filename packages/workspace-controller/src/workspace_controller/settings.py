"""Every knob of the workspace-controller, grouped, typed, documented, and loaded once.

Each field maps 1:1 to a value of the Helm chart (``charts/workspace-controller/values.yaml``) and
to an environment variable ``WORKSPACE_CONTROLLER_<GROUP>_<FIELD>`` (upper case), which the chart
sets. Units are part of the names. Nothing else in the package reads the environment.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import types
import typing
from typing import Any

if typing.TYPE_CHECKING:
    from collections.abc import Mapping

ENV_PREFIX = "WORKSPACE_CONTROLLER"


class NodeProvisioningApi(enum.StrEnum):
    """Which Karpenter claim kind asks for GPU nodes."""

    AUTO = "auto"
    """NodeClaim when karpenter.sh/v1 is served, else Machine (API discovery)."""
    MACHINE = "machine"
    """karpenter.sh/v1alpha5 Machine, as in the original Kaito design."""
    NODECLAIM = "nodeclaim"
    """karpenter.sh/v1 NodeClaim, as today's Karpenter."""
    NONE = "none"
    """No claims: bring your own GPU nodes (Kaito's byo node provisioner); the Workspace's
    labelSelector picks them."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProvisioningSettings:
    """How GPU nodes are requested."""

    node_provisioning_api: NodeProvisioningApi = NodeProvisioningApi.AUTO
    """auto, machine, nodeclaim or none."""
    node_class_group: str = "kaito.sh"
    """API group of the NodeClaim's nodeClassRef."""
    node_class_kind: str = "KaitoNodeClass"
    """Kind of the NodeClaim's nodeClassRef."""
    node_class_name: str = "default"
    """Name of the NodeClaim's nodeClassRef."""
    node_pool_name: str = "kaito"
    """Value of the karpenter.sh/nodepool label on NodeClaims (no such NodePool exists, so
    Karpenter's own provisioning leaves the claims alone)."""
    provisioner_name: str = "default"
    """Value of the karpenter.sh/provisioner-name label on Machines."""
    default_node_image_family: str = "ubuntu"
    """kaito.sh/node-image-family written on claims when the Workspace does not set it."""
    default_storage_gib: int = 1024
    """Disk requested for a claim when the preset does not say (template workspaces)."""
    node_ready_poll_seconds: float = 2.0
    """How soon to look again while nodes are provisioning."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ImageSettings:
    """Container images the workloads run."""

    registry: str = "mcr.microsoft.com/aks/kaito"
    """Registry of the preset runtime images (PRESET_REGISTRY_NAME in Kaito)."""
    pull_policy: str = "IfNotPresent"
    """imagePullPolicy of every container the controller creates."""
    data_downloader: str = "curlimages/curl:8.11.1"
    """Init container that downloads tuning input URLs."""
    image_puller: str = "quay.io/skopeo/stable:v1.17.0"
    """Init container that copies /data out of an input or adapter image."""
    adapter_pusher: str = "ghcr.io/oras-project/oras:v1.2.2"
    """Sidecar that pushes the trained adapter as an OCI image."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ControllerSettings:
    """The reconcile loop and the process around it."""

    max_concurrent_reconciles: int = 5
    """Workspaces reconciled at once."""
    namespace: str = "kaito-workspace"
    """The controller's own namespace (Lease, default tuning ConfigMaps)."""
    leader_elect: bool = True
    """Hold a Lease so that only one replica reconciles."""
    lease_name: str = "workspace-controller"
    """Name of the leader-election Lease."""
    lease_duration_seconds: float = 15.0
    """How long a Lease is valid without renewal."""
    renew_deadline_seconds: float = 10.0
    """How long the leader keeps trying to renew before giving up."""
    retry_period_seconds: float = 2.0
    """Interval between Lease attempts."""
    probe_bind_host: str = "0.0.0.0"
    """Address of the /healthz, /readyz and /metrics server."""
    probe_port: int = 8080
    """Port of the /healthz, /readyz and /metrics server."""
    log_level: str = "INFO"
    """Root log level."""
    log_json: bool = True
    """JSON log lines (console lines when false)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """All settings; ``Settings.from_env()`` is the only reader of the environment."""

    controller: ControllerSettings = dataclasses.field(default_factory=ControllerSettings)
    provisioning: ProvisioningSettings = dataclasses.field(default_factory=ProvisioningSettings)
    images: ImageSettings = dataclasses.field(default_factory=ImageSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Defaults overridden by ``WORKSPACE_CONTROLLER_<GROUP>_<FIELD>`` variables."""
        env = os.environ if environ is None else environ
        groups: dict[str, Any] = {}
        hints = typing.get_type_hints(cls)
        for group in dataclasses.fields(cls):
            group_type = hints[group.name]
            groups[group.name] = _load_group(group_type, f"{ENV_PREFIX}_{group.name.upper()}", env)
        return cls(**groups)


def _load_group(group_type: type[Any], prefix: str, env: Mapping[str, str]) -> Any:
    values: dict[str, Any] = {}
    hints = typing.get_type_hints(group_type)
    for field in dataclasses.fields(group_type):
        key = f"{prefix}_{field.name.upper()}"
        if key in env:
            values[field.name] = _parse(hints[field.name], env[key], key)
    return group_type(**values)


def _parse(kind: Any, raw: str, key: str) -> Any:
    if isinstance(kind, types.UnionType):
        kind = next(k for k in typing.get_args(kind) if k is not type(None))
    try:
        if kind is bool:
            if raw.strip().lower() not in {"true", "false", "1", "0", "yes", "no"}:
                raise ValueError(raw)
            return raw.strip().lower() in {"true", "1", "yes"}
        if kind in (int, float, str) or (isinstance(kind, type) and issubclass(kind, enum.Enum)):
            return kind(raw)
    except ValueError as exc:
        raise ValueError(f"{key}={raw!r} is not a valid {getattr(kind, '__name__', kind)}") from exc
    raise TypeError(f"{key}: unsupported setting type {kind!r}")
