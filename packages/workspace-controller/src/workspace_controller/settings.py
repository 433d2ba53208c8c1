"""Every knob of the workspace-controller, grouped, typed, documented, and loaded once.

Each field maps 1:1 to a value of the Helm chart (``charts/workspace-controller/values.yaml``) and
to an environment variable ``WORKSPACE_CONTROLLER_<GROUP>_<FIELD>`` (upper case), which the chart
sets. Units are part of the names. Nothing else in the package reads the environment.
"""

from __future__ import annotations

import dataclasses
import enum
import typing

import controller_kit
from workspace_controller.admission import rules

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
    max_nodes_per_workspace: int = rules.DEFAULT_MAX_NODES_PER_WORKSPACE
    """The most GPU nodes one Workspace may ask for (resource.count): the admission policy's
    global cap (a namespace annotation kaito.sh/max-nodes-per-workspace replaces it there) and the
    cap the controller's own admission check applies. At most 100, the CRD's ceiling."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ImageSettings:
    """Container images the workloads run."""

    registry: str = "ghcr.io/kaito-py"
    """Registry of the preset runtime images (PRESET_REGISTRY_NAME in Kaito)."""
    pull_policy: str = "IfNotPresent"
    """imagePullPolicy of every container the controller creates."""
    data_downloader: str = ""
    """Image of the init container that downloads tuning input URLs (it runs ``python -m
    model_runtime download``, which connects only to public addresses it has checked); empty:
    the preset's runtime image, the one the trainer runs, so the node pulls nothing extra."""
    image_puller: str = "quay.io/skopeo/stable:v1.17.0"
    """Init container that copies /data out of an input or adapter image."""
    adapter_pusher: str = ""
    """Image of the sidecar that pushes the trained adapter as an OCI image (it runs
    ``python -m model_runtime push``); empty: the preset's runtime image, the one the trainer
    runs, so the node pulls nothing extra."""


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
        """Defaults overridden by ``<ENV_PREFIX>_<GROUP>_<FIELD>`` environment variables."""
        return controller_kit.load_settings(cls, prefix=ENV_PREFIX, environ=environ)
