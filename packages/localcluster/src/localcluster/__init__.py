"""A real local Kubernetes control plane for tests and the demo.

Why: controller behaviour (CEL validation, status subresources, watches, conflicts, owner-reference
garbage collection, scheduling) must be proven against a real kube-apiserver rather than a mock.
This package starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (which
plays the kubelet of fake GPU nodes) from binaries that ``tools/localcluster/build.sh``
compiles from the Go module proxy, all on 127.0.0.1.

Public surface:

- :class:`LocalCluster` / :class:`ClusterInfo`: start and stop a cluster from Python.
- ``python -m localcluster up|down|status``: a detached cluster for the demo (``make cluster``).
- async helpers for tests: :func:`new_api_client`, :func:`apply_manifests`, :func:`create_gpu_node`,
  :func:`poll_until`, :func:`get_object`, :func:`delete_object`, :func:`resolve`, ...
- :class:`KarpenterKwok`: upstream Karpenter with its kwok provider (the real lifecycle
  controllers over a fake cloud), built from the Go module proxy like the control plane;
  :func:`gpu_instance_type` describes what it offers.
- :class:`FakeKarpenterProvider`: a stand-in Karpenter provider (kwok GPU nodes, lifecycle
  conditions) for testing Karpenter clients such as the workspace controller.
- the pytest plugin :mod:`localcluster.pytest_plugin` (registered through the ``pytest11`` entry
  point) with the ``kube_*`` fixtures and the ``cluster`` marker.
"""

from localcluster import _processes as processes
from localcluster._binaries import Binaries, BinariesMissingError, find_repo_root
from localcluster._cluster import (
    KWOK_NODE_ANNOTATION,
    ClusterInfo,
    LocalCluster,
    free_ports,
    kubeconfig_document,
    read_state,
    running_info,
    stop_from_state,
    up,
)
from localcluster._karpenter import FakeKarpenterProvider
from localcluster._karpenter_kwok import (
    KarpenterKwok,
    KarpenterKwokBinary,
    gpu_instance_type,
    report_gpu_capacity,
)
from localcluster._kube import (
    GPU_RESOURCE,
    ApplyError,
    ResourceRef,
    apply_manifests,
    condition_status,
    create_gpu_node,
    delete_object,
    get_object,
    load_manifests,
    new_api_client,
    poll_until,
    request,
    resolve,
    wait_crd_established,
)
from localcluster._processes import ProcessRecord, StartupError

__all__ = [
    "GPU_RESOURCE",
    "KWOK_NODE_ANNOTATION",
    "ApplyError",
    "Binaries",
    "BinariesMissingError",
    "ClusterInfo",
    "FakeKarpenterProvider",
    "KarpenterKwok",
    "KarpenterKwokBinary",
    "LocalCluster",
    "ProcessRecord",
    "ResourceRef",
    "StartupError",
    "apply_manifests",
    "condition_status",
    "create_gpu_node",
    "delete_object",
    "find_repo_root",
    "free_ports",
    "get_object",
    "gpu_instance_type",
    "kubeconfig_document",
    "load_manifests",
    "new_api_client",
    "poll_until",
    "processes",
    "read_state",
    "report_gpu_capacity",
    "request",
    "resolve",
    "running_info",
    "stop_from_state",
    "up",
    "wait_crd_established",
]
