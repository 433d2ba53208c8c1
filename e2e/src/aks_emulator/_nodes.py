"""Node join: the Kubernetes Nodes an agent pool's VMs would register, written to a real cluster.

Why: the gpu-provisioner's create only finishes once it finds exactly one Node carrying both
agentpool labels and a providerID, and Karpenter then waits for it to be Ready and to report the
requested resources. So the emulator must produce Nodes shaped exactly as AKS's do (names,
labels, providerID, capacity from the SKU table), and kwok (annotation ``kwok.x-k8s.io/node=fake``)
plays their kubelet and marks them Ready.

The manifest is built by a pure function; :class:`NodeJoiner` is the seam to the cluster, with
:class:`KubeNodeJoiner` the real implementation (tests may pass a recording one).

Deleting a pool issues the Node deletes and does not wait for the Nodes to disappear: Karpenter
holds a finalizer on them until the cloud reports the instance gone, so waiting would deadlock.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol

from aks_emulator._pools import parse_taint

if TYPE_CHECKING:
    from pathlib import Path

    from kubernetes_asyncio.client import ApiClient

    from aks_emulator._config import EmulatorConfig
    from aks_emulator._pools import Instance, PoolSpec
    from aks_emulator._skus import Sku

__all__ = ["KWOK_ANNOTATION", "KubeNodeJoiner", "NodeJoiner", "node_manifest"]

Manifest = dict[str, Any]
KWOK_ANNOTATION = "kwok.x-k8s.io/node"


def zone_label(location: str, zone: str | None) -> str:
    """AKS's ``topology.kubernetes.io/zone``: ``<location>-<zone>``, or ``0`` when non-zonal."""
    return f"{location}-{zone}" if zone else "0"


def node_manifest(
    *, config: EmulatorConfig, spec: PoolSpec, instance: Instance, sku: Sku
) -> Manifest:
    """The Node the VMSS instance registers, as AKS shapes it."""
    identity = config.identity
    name = identity.node_name(spec.name, instance.instance_id)
    labels: dict[str, str] = dict(spec.node_labels)
    labels.update(
        {
            "agentpool": spec.name,
            "kubernetes.azure.com/agentpool": spec.name,
            "kubernetes.azure.com/cluster": identity.node_resource_group,
            "kubernetes.azure.com/mode": spec.mode.lower(),
            "kubernetes.azure.com/role": "agent",
            "kubernetes.azure.com/os-sku": spec.os_sku,
            "kubernetes.azure.com/node-image-version": config.node_image_version,
            "node.kubernetes.io/instance-type": spec.vm_size,
            "beta.kubernetes.io/instance-type": spec.vm_size,
            "kubernetes.io/os": spec.os_type.lower(),
            "beta.kubernetes.io/os": spec.os_type.lower(),
            "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": name,
            "kubernetes.io/role": "agent",
            "node-role.kubernetes.io/agent": "",
            "topology.kubernetes.io/region": identity.location,
            "topology.kubernetes.io/zone": zone_label(identity.location, instance.zone),
        }
    )
    if sku.gpus:
        labels["kubernetes.azure.com/accelerator"] = "nvidia"
    taints = []
    for taint in spec.node_taints:
        key, value, effect = parse_taint(taint)
        taints.append({"key": key, "value": value, "effect": effect})
    disk = f"{spec.os_disk_size_gb}Gi"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {
            "providerID": identity.provider_id(spec.name, instance.instance_id),
            "taints": taints,
        },
        "status": {
            "capacity": {**sku.capacity, "pods": str(spec.max_pods), "ephemeral-storage": disk},
            "allocatable": {
                **sku.allocatable,
                "pods": str(spec.max_pods),
                "ephemeral-storage": disk,
            },
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": spec.os_type.lower(),
                "osImage": "Ubuntu 22.04.5 LTS",
                "kubeletVersion": f"v{config.kubernetes_version}",
                "kubeProxyVersion": f"v{config.kubernetes_version}",
                "containerRuntimeVersion": "containerd://1.7.27-1",
            },
        },
    }


class NodeJoiner(Protocol):
    """Where the emulator writes Nodes."""

    async def ensure(self, node: Manifest) -> None:
        """Create the Node, or bring an existing one's labels and resources in line (its taints
        are left alone: a pool's taint changes reach new Nodes only)."""

    async def delete(self, name: str) -> None:
        """Delete the Node (a missing one is not an error)."""

    async def close(self) -> None:
        """Release what the joiner owns."""


class KubeNodeJoiner:
    """Writes Nodes through a kubernetes-asyncio ApiClient (raw JSON, so no model round trip)."""

    def __init__(self, api: ApiClient, *, owns_client: bool = False) -> None:
        self._api = api
        self._owns_client = owns_client

    @classmethod
    async def from_kubeconfig(cls, path: Path) -> KubeNodeJoiner:
        """A joiner with its own ApiClient built from ``path`` (closed by :meth:`close`)."""
        from kubernetes_asyncio import config  # noqa: PLC0415 - slow import, only when used

        api: ApiClient = await config.new_client_from_config(config_file=str(path))
        return cls(api, owns_client=True)

    async def _call(
        self, method: str, path: str, body: Any = None, *, content_type: str = "application/json"
    ) -> Any:
        return await self._api.call_api(
            path,
            method,
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body,
            response_types_map={200: "object", 201: "object", 202: "object"},
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
        )

    async def ensure(self, node: Manifest) -> None:
        name = node["metadata"]["name"]
        try:
            await self._call("POST", "/api/v1/nodes", node)
        except Exception as exc:
            if getattr(exc, "status", None) != 409:
                raise
            # Labels merge; taints stay as they are, since controllers add their own (the node
            # lifecycle's not-ready, Karpenter's disrupted) and a pool update must not drop them.
            patch = {"metadata": {"labels": node["metadata"]["labels"]}}
            await self._call(
                "PATCH",
                f"/api/v1/nodes/{name}",
                patch,
                content_type="application/merge-patch+json",
            )
        # The API server drops status on create; the status subresource takes it.
        status = {key: node["status"][key] for key in ("capacity", "allocatable", "nodeInfo")}
        await self._call(
            "PATCH",
            f"/api/v1/nodes/{name}/status",
            {"status": status},
            content_type="application/merge-patch+json",
        )

    async def delete(self, name: str) -> None:
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        try:
            await self._call("DELETE", f"/api/v1/nodes/{name}", body)
        except Exception as exc:
            if getattr(exc, "status", None) != 404:
                raise

    async def close(self) -> None:
        if self._owns_client:
            await self._api.close()


def describe(exc: BaseException) -> str:
    """A one-line reason for a failed Kubernetes call (ApiException dumps are unreadable)."""
    body = getattr(exc, "body", None)
    if body:
        try:
            return f"HTTP {getattr(exc, 'status', '?')}: {json.loads(body)['message']}"
        except (ValueError, KeyError, TypeError):
            pass
    return f"{type(exc).__name__}: {exc}"
