"""Workloads behave as on a real cluster: scheduling onto kwok GPU nodes, Job completion, and
owner-reference garbage collection.

Why: the workspace operator creates Deployments and Jobs that request ``nvidia.com/gpu`` on tainted
GPU nodes and relies on owner references for cleanup. These tests prove the local control plane
(scheduler, controller-manager, kwok) actually delivers those behaviours, so controller tests built
on it mean something. Every wait polls the API with a deadline.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import pytest

from localcluster import (
    GPU_RESOURCE,
    condition_status,
    delete_object,
    get_object,
    poll_until,
    request,
)

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

    from localcluster.pytest_plugin import ApplyYaml, GpuNodeFactory

pytestmark = pytest.mark.cluster

GPU_TAINT = {"key": "sku", "value": "gpu", "effect": "NoSchedule"}


def _gpu_deployment(name: str, *, app: str, tolerate: bool, node_label: str) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {
        "nodeSelector": {"localcluster.test/pool": node_label},
        "containers": [
            {
                "name": "model",
                "image": "registry.invalid/model:1",
                "resources": {"limits": {GPU_RESOURCE: "1"}, "requests": {GPU_RESOURCE: "1"}},
            }
        ],
    }
    if tolerate:
        pod_spec["tolerations"] = [
            {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}
        ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": app}},
            "template": {"metadata": {"labels": {"app": app}}, "spec": pod_spec},
        },
    }


async def _pods(api: ApiClient, namespace: str, selector: str) -> list[dict[str, Any]]:
    listing = await request(
        api, "GET", f"/api/v1/namespaces/{namespace}/pods", query=[("labelSelector", selector)]
    )
    items: list[dict[str, Any]] = listing["items"]
    return items


async def test_gpu_deployment_runs_on_tainted_kwok_gpu_node(
    kube_api: ApiClient,
    kube_namespace: str,
    apply_yaml: ApplyYaml,
    gpu_node_factory: GpuNodeFactory,
) -> None:
    pool = f"gpu-{secrets.token_hex(3)}"
    node = await gpu_node_factory(
        gpu_count=2, labels={"localcluster.test/pool": pool}, taints=[GPU_TAINT]
    )
    node_name = node["metadata"]["name"]
    assert node["status"]["allocatable"][GPU_RESOURCE] == "2"
    assert node["spec"]["taints"][0]["key"] == "sku"

    await apply_yaml(
        [
            _gpu_deployment("tolerant", app="tolerant", tolerate=True, node_label=pool),
            _gpu_deployment("intolerant", app="intolerant", tolerate=False, node_label=pool),
        ],
        namespace=kube_namespace,
    )

    async def tolerant_running() -> dict[str, Any] | None:
        pods = await _pods(kube_api, kube_namespace, "app=tolerant")
        running = [p for p in pods if p["status"].get("phase") == "Running"]
        return running[0] if running else None

    pod = await poll_until(tolerant_running, description="GPU pod Running", timeout_seconds=60)
    assert pod["spec"]["nodeName"] == node_name
    assert condition_status(pod, "Ready") == "True"
    assert pod["status"].get("podIP")

    async def deployment_available() -> bool:
        dep = await get_object(
            kube_api, "apps/v1", "Deployment", "tolerant", namespace=kube_namespace
        )
        return dep is not None and (dep.get("status") or {}).get("availableReplicas") == 1

    await poll_until(deployment_available, description="Deployment available", timeout_seconds=60)

    # control: without the toleration the scheduler must refuse the tainted node
    async def intolerant_unschedulable() -> dict[str, Any] | None:
        pods = await _pods(kube_api, kube_namespace, "app=intolerant")
        for p in pods:
            for c in p["status"].get("conditions") or []:
                if c["type"] == "PodScheduled" and c.get("reason") == "Unschedulable":
                    return p
        return None

    refused = await poll_until(
        intolerant_unschedulable, description="intolerant pod Unschedulable", timeout_seconds=60
    )
    assert not refused["spec"].get("nodeName")
    assert refused["status"].get("phase") == "Pending"


async def test_job_pod_completes_and_job_succeeds(
    kube_api: ApiClient,
    kube_namespace: str,
    apply_yaml: ApplyYaml,
    gpu_node_factory: GpuNodeFactory,
) -> None:
    pool = f"job-{secrets.token_hex(3)}"
    node = await gpu_node_factory(labels={"localcluster.test/pool": pool}, taints=[GPU_TAINT])
    await apply_yaml(
        f"""
apiVersion: batch/v1
kind: Job
metadata:
  name: tune
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      nodeSelector:
        localcluster.test/pool: {pool}
      tolerations:
      - {{key: sku, operator: Equal, value: gpu, effect: NoSchedule}}
      containers:
      - name: tune
        image: registry.invalid/tuner:1
        resources:
          limits: {{"{GPU_RESOURCE}": "1"}}
""",
        namespace=kube_namespace,
    )

    async def job_succeeded() -> dict[str, Any] | None:
        job = await get_object(kube_api, "batch/v1", "Job", "tune", namespace=kube_namespace)
        return job if condition_status(job, "Complete") == "True" else None

    job = await poll_until(job_succeeded, description="Job Complete", timeout_seconds=90)
    assert job["status"]["succeeded"] == 1
    assert not job["status"].get("failed")
    pods = await _pods(kube_api, kube_namespace, "batch.kubernetes.io/job-name=tune")
    assert [p["status"]["phase"] for p in pods] == ["Succeeded"]
    assert pods[0]["spec"]["nodeName"] == node["metadata"]["name"]


async def test_deleting_owner_garbage_collects_dependents(
    kube_api: ApiClient, kube_namespace: str, apply_yaml: ApplyYaml
) -> None:
    [owner] = await apply_yaml(
        [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}}],
        namespace=kube_namespace,
    )
    owner_ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner["metadata"]["uid"],
    }
    await apply_yaml(
        [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "dependent", "ownerReferences": [owner_ref]},
            },
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "dependent-secret", "ownerReferences": [owner_ref]},
            },
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bystander"}},
        ],
        namespace=kube_namespace,
    )

    await delete_object(kube_api, "v1", "ConfigMap", "owner", namespace=kube_namespace)

    async def dependents_gone() -> bool:
        cm = await get_object(kube_api, "v1", "ConfigMap", "dependent", namespace=kube_namespace)
        secret = await get_object(
            kube_api, "v1", "Secret", "dependent-secret", namespace=kube_namespace
        )
        return cm is None and secret is None

    await poll_until(
        dependents_gone, description="dependents garbage-collected", timeout_seconds=60
    )
    assert await get_object(kube_api, "v1", "ConfigMap", "bystander", namespace=kube_namespace)


async def test_deleting_deployment_foreground_removes_replicasets_and_pods(
    kube_api: ApiClient,
    kube_namespace: str,
    apply_yaml: ApplyYaml,
    gpu_node_factory: GpuNodeFactory,
) -> None:
    pool = f"gc-{secrets.token_hex(3)}"
    await gpu_node_factory(labels={"localcluster.test/pool": pool})
    await apply_yaml(
        [_gpu_deployment("web", app="web", tolerate=False, node_label=pool)],
        namespace=kube_namespace,
    )

    async def pod_running() -> bool:
        pods = await _pods(kube_api, kube_namespace, "app=web")
        return any(p["status"].get("phase") == "Running" for p in pods)

    await poll_until(pod_running, description="web pod Running", timeout_seconds=60)
    replicasets = await request(
        kube_api, "GET", f"/apis/apps/v1/namespaces/{kube_namespace}/replicasets"
    )
    assert len(replicasets["items"]) == 1

    await delete_object(
        kube_api,
        "apps/v1",
        "Deployment",
        "web",
        namespace=kube_namespace,
        propagation_policy="Foreground",
    )

    async def all_gone() -> bool:
        rs = await request(
            kube_api, "GET", f"/apis/apps/v1/namespaces/{kube_namespace}/replicasets"
        )
        pods = await _pods(kube_api, kube_namespace, "app=web")
        dep = await get_object(kube_api, "apps/v1", "Deployment", "web", namespace=kube_namespace)
        return not rs["items"] and not pods and dep is None

    await poll_until(
        all_gone, description="Deployment, ReplicaSet and pods deleted", timeout_seconds=60
    )
