"""Karpenter claims for a Workspace's GPU nodes: NodeClaim (karpenter.sh/v1) and Machine (v1alpha5).

The controller asks for nodes only through these objects, so any Karpenter provider (our
gpu-provisioner, or another) can serve it. Both kinds carry Kaito's shape:

- labels ``kaito.sh/workspace`` and ``kaito.sh/workspacenamespace`` (how the controller finds
  its claims again, and how the resulting nodes are recognised), the user's node labels, and the
  pool label: ``karpenter.sh/nodepool`` for NodeClaims (a pool that does not exist, so that
  Karpenter's own provisioning and disruption leave the claim alone) or
  ``karpenter.sh/provisioner-name`` for Machines;
- requirements on instance type, OS and architecture (and the pool label);
- the taint ``sku=gpu:NoSchedule``, so only pods that tolerate it (ours) land there;
- a ``storage`` request sized for the preset's weights and image.

Claims are cluster-scoped and the Workspace is namespaced, so they carry no owner reference
(Kubernetes rejects cross-scope owners): the Workspace's finalizer deletes them by label.

Names are ``ws`` + 9 hex digits of a hash over namespace, name and a caller-chosen seed. The
reconciler picks the seed; a deterministic seed (the Workspace uid and a claim index) makes a
retried create hit AlreadyExists instead of leaving a duplicate behind.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Final, Literal

from kaito_apis.karpenter import constants as karpenter
from kaito_apis.karpenter import v1, v1alpha5
from kaito_apis.workspace import constants
from workspace_controller.manifests import common

if TYPE_CHECKING:
    from kaito_apis.workspace import v1beta1
    from workspace_controller.settings import ProvisioningSettings

__all__ = [
    "LABEL_MACHINE_TYPE",
    "LABEL_SKU_NAME",
    "claim_labels",
    "claim_name",
    "claim_taints",
    "machine",
    "nodeclaim",
]

LABEL_MACHINE_TYPE: Final = "kaito.sh/machine-type"
"""Machine requirement (and node label) that tells GPU machines from CPU ones."""
LABEL_SKU_NAME: Final = "karpenter.azure.com/sku-name"
"""Azure provider's well-known label for the VM size."""

_NAME_PREFIX = "ws"
_NAME_HEX_DIGITS = 9
_AZURE_SKU_PREFIX = "Standard_"


def claim_name(*, namespace: str, name: str, seed: str) -> str:
    """``ws`` + the first 9 hex digits of SHA-256 over namespace, name and seed."""
    digest = hashlib.sha256(f"{namespace}/{name}/{seed}".encode()).hexdigest()
    return _NAME_PREFIX + digest[:_NAME_HEX_DIGITS]


def claim_labels(
    ws: v1beta1.Workspace,
    *,
    settings: ProvisioningSettings,
    api: Literal["machine", "nodeclaim"],
) -> dict[str, str]:
    """Workspace labels, user node labels, and the pool label of the claim ``api``."""
    pool = (
        {karpenter.LABEL_NODEPOOL: settings.node_pool_name}
        if api == "nodeclaim"
        else {karpenter.LABEL_PROVISIONER_NAME: settings.provisioner_name}
    )
    return {**common.user_node_labels(ws), **pool, **common.workspace_labels(ws)}


def claim_taints() -> list[dict[str, str]]:
    """``sku=gpu:NoSchedule``: only pods tolerating it (the Workspace's) run on the node."""
    return [{"key": common.TAINT_SKU_KEY, "value": common.TAINT_SKU_VALUE, "effect": "NoSchedule"}]


def nodeclaim(
    ws: v1beta1.Workspace,
    *,
    name: str,
    instance_type: str,
    storage_gib: int,
    settings: ProvisioningSettings,
) -> dict[str, Any]:
    """A ``karpenter.sh/v1`` NodeClaim for one GPU node of ``instance_type``.

    ``expireAfter`` is ``Never``: Karpenter v1 expires nodes after 720h by default, even with
    ``do-not-disrupt``, which would take a long-running inference server down with its node.
    """
    requirements = [
        _requirement(karpenter.LABEL_NODEPOOL, settings.node_pool_name),
        _requirement(karpenter.LABEL_INSTANCE_TYPE, instance_type),
        _requirement(karpenter.LABEL_OS, "linux"),
        _requirement(karpenter.LABEL_ARCH, "amd64"),
    ]
    if instance_type.startswith(_AZURE_SKU_PREFIX):
        requirements.append(_requirement(LABEL_SKU_NAME, instance_type))
    return {
        "apiVersion": v1.API_VERSION,
        "kind": karpenter.NODECLAIM_KIND,
        "metadata": {
            "name": name,
            "labels": claim_labels(ws, settings=settings, api="nodeclaim"),
            "annotations": {
                karpenter.ANNOTATION_DO_NOT_DISRUPT: "true",
                constants.ANNOTATION_NODE_IMAGE_FAMILY: _node_image_family(ws, settings),
            },
        },
        "spec": {
            "requirements": requirements,
            "taints": claim_taints(),
            "resources": {"requests": {"storage": _storage(storage_gib)}},
            "nodeClassRef": {
                "group": settings.node_class_group,
                "kind": settings.node_class_kind,
                "name": settings.node_class_name,
            },
            "expireAfter": "Never",
        },
    }


def machine(
    ws: v1beta1.Workspace,
    *,
    name: str,
    instance_type: str,
    storage_gib: int,
    settings: ProvisioningSettings,
) -> dict[str, Any]:
    """A ``karpenter.sh/v1alpha5`` Machine for one GPU node, as Kaito's first releases wrote it.

    The node image family annotation is not in Kaito's Machine; our provider reads it from either
    kind, so both carry it.
    """
    return {
        "apiVersion": v1alpha5.API_VERSION,
        "kind": karpenter.MACHINE_KIND,
        "metadata": {
            "name": name,
            "labels": claim_labels(ws, settings=settings, api="machine"),
            "annotations": {
                constants.ANNOTATION_NODE_IMAGE_FAMILY: _node_image_family(ws, settings),
            },
        },
        "spec": {
            "requirements": [
                _requirement(karpenter.LABEL_INSTANCE_TYPE, instance_type),
                _requirement(karpenter.LABEL_PROVISIONER_NAME, settings.provisioner_name),
                _requirement(LABEL_MACHINE_TYPE, "gpu"),
                _requirement(karpenter.LABEL_ARCH, "amd64"),
                _requirement(karpenter.LABEL_OS, "linux"),
            ],
            "taints": claim_taints(),
            "resources": {"requests": {"storage": _storage(storage_gib)}},
            "machineTemplateRef": {"name": name},
        },
    }


def _requirement(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "operator": karpenter.Operator.IN.value, "values": [value]}


def _storage(storage_gib: int) -> str:
    if storage_gib <= 0:
        raise ValueError(f"storage_gib must be positive, got {storage_gib}")
    return f"{storage_gib}Gi"


def _node_image_family(ws: v1beta1.Workspace, settings: ProvisioningSettings) -> str:
    chosen = (ws.metadata.annotations or {}).get(constants.ANNOTATION_NODE_IMAGE_FAMILY)
    return chosen or settings.default_node_image_family
