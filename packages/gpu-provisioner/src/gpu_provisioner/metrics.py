"""Karpenter's node and claim counters, under Karpenter's names, so its dashboards work unchanged.

The cloud-provider metrics live with the seam (:mod:`gpu_provisioner.cloudprovider.metrics`);
controller-runtime's reconcile metrics come from controller-kit.
"""

from __future__ import annotations

from prometheus_client import Counter

NODECLAIMS_CREATED = Counter(
    "karpenter_nodeclaims_created_total",
    "Number of nodeclaims launched by the provisioner.",
    ["reason", "nodepool", "min_values_relaxed"],
)
NODECLAIMS_TERMINATED = Counter(
    "karpenter_nodeclaims_terminated_total",
    "Number of nodeclaims terminated.",
    ["nodepool", "capacity_type"],
)
NODECLAIMS_DISRUPTED = Counter(
    "karpenter_nodeclaims_disrupted_total",
    "Number of nodeclaims deleted by the provisioner, by reason.",
    ["reason", "nodepool", "capacity_type"],
)
NODES_CREATED = Counter(
    "karpenter_nodes_created_total", "Number of nodes registered.", ["nodepool"]
)
NODES_TERMINATED = Counter(
    "karpenter_nodes_terminated_total", "Number of nodes terminated.", ["nodepool"]
)
