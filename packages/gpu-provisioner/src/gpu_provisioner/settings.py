"""Every knob of the gpu-provisioner, grouped, typed, documented, and loaded once.

Each field maps 1:1 to a chart value and to an environment variable
``GPU_PROVISIONER_<GROUP>_<FIELD>`` (upper case). Units are part of the names; tuples are
comma-separated. Nothing else in the package reads the environment, except the Azure SDK's own
variables (``AZURE_CLIENT_ID``, ``AZURE_FEDERATED_TOKEN_FILE``, ``SSL_CERT_FILE``, ...), which
azure-identity and the HTTP stack read as documented.
"""

from __future__ import annotations

import dataclasses
import typing

import controller_kit

if typing.TYPE_CHECKING:
    from collections.abc import Mapping

ENV_PREFIX = "GPU_PROVISIONER"


@dataclasses.dataclass(frozen=True, kw_only=True)
class AzureSettings:
    """Which AKS cluster, and how to reach ARM."""

    subscription_id: str = ""
    """Subscription of the cluster (ARM_SUBSCRIPTION_ID upstream)."""
    resource_group: str = ""
    """The cluster's resource group (not the MC_ node resource group)."""
    cluster_name: str = ""
    """The AKS managed cluster."""
    location: str = ""
    """Region of the cluster, for vCPU quota lookups."""
    arm_base_url: str = ""
    """ARM endpoint; empty means public Azure. Points at the AKS emulator in tests and demos."""
    connection_verify: str = ""
    """CA bundle to trust for ARM (empty: the system store, or SSL_CERT_FILE)."""
    polling_interval_seconds: float = 30.0
    """Long-running operation poll interval when ARM sends no Retry-After."""
    retry_total: int = 10
    """Retries of one ARM request on 429/5xx/connection errors (Retry-After honoured)."""
    retry_backoff_factor: float = 0.8
    """Exponential backoff base of those retries, in seconds."""
    check_quota: bool = True
    """Check the VM family's vCPU quota before creating a pool."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProvisioningSettings:
    """Which claims are served, and how their lifecycle is timed."""

    serve_nodeclaims: bool = True
    """Reconcile karpenter.sh/v1 NodeClaims."""
    serve_machines: bool = True
    """Reconcile karpenter.sh/v1alpha5 Machines (when the CRD is served)."""
    node_class_group: str = "kaito.sh"
    """NodeClaims whose nodeClassRef has this group and kind are managed..."""
    node_class_kind: str = "KaitoNodeClass"
    """...(see node_class_group)."""
    managed_labels: tuple[str, ...] = ("kaito.sh/workspace", "kaito.sh/ragengine")
    """...and so are claims carrying any of these labels (the only rule for Machines)."""
    owner: str = "gpu-provisioner"
    """Value of the ownership tag on the pools it creates; GC touches no other pool."""
    nodepool_label_value: str = "kaito"
    """karpenter.sh/nodepool label put on NodeClaim pools' nodes (unless the claim sets it)."""
    provisioner_name_label_value: str = "default"
    """karpenter.sh/provisioner-name label put on Machine pools' nodes (unless set)."""
    default_os_disk_size_gib: int = 128
    """OS disk when a claim requests no storage."""
    launch_timeout_seconds: float = 300.0
    """A claim not Launched this long after creation is deleted (Karpenter: 5 min)."""
    registration_timeout_seconds: float = 900.0
    """A launched claim whose Node has not registered after this long is deleted (15 min)."""
    termination_grace_period_seconds: float = 900.0
    """Drain budget when the claim sets no spec.terminationGracePeriod."""
    poll_interval_seconds: float = 5.0
    """How soon to look again at pool deletions, drains and pools another process creates."""
    node_wait_seconds: float = 60.0
    """How long a create waits for the pool's Node (and its providerID) once the pool exists;
    after that the claim is launched without one and registration matches the Node by label."""
    error_requeue_seconds: float = 30.0
    """Retry delay after a quota or create error (doubles up to 10x for transient errors)."""
    gc_interval_seconds: float = 120.0
    """How often garbage collection compares pools and claims."""
    gc_grace_seconds: float = 30.0
    """A pool (or claim) must be this old before garbage collection may delete it."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ControllerSettings:
    """The reconcile loops and the process around them."""

    max_concurrent_reconciles: int = 50
    """Claims reconciled at once per kind (creates run off the workers)."""
    namespace: str = "gpu-provisioner"
    """The provisioner's own namespace (Lease)."""
    leader_elect: bool = True
    """Hold a Lease so that only one replica acts."""
    lease_name: str = "gpu-provisioner-leader-election"
    """Name of the leader-election Lease."""
    lease_duration_seconds: int = 15
    """How long a Lease is valid without renewal (whole seconds: the Lease stores an int)."""
    renew_deadline_seconds: int = 10
    """How long the leader keeps trying to renew before giving up."""
    retry_period_seconds: int = 2
    """Interval between Lease attempts."""
    probe_bind_host: str = "0.0.0.0"
    """Address of the /healthz, /readyz and /metrics server."""
    probe_port: int = 8081
    """Port of the /healthz, /readyz and /metrics server."""
    log_level: str = "INFO"
    """Root log level."""
    log_json: bool = True
    """JSON log lines (console lines when false)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """All settings; ``Settings.from_env()`` is the only reader of the environment."""

    azure: AzureSettings = dataclasses.field(default_factory=AzureSettings)
    provisioning: ProvisioningSettings = dataclasses.field(default_factory=ProvisioningSettings)
    controller: ControllerSettings = dataclasses.field(default_factory=ControllerSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Defaults overridden by ``<ENV_PREFIX>_<GROUP>_<FIELD>`` environment variables."""
        return controller_kit.load_settings(cls, prefix=ENV_PREFIX, environ=environ)
