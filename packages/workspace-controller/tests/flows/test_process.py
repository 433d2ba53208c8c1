"""The composition root as deployed: Lease leader election, probes, metrics, and reconciling."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import aiohttp

import localcluster
from workspace_controller import main
from workspace_controller.settings import ControllerSettings, Settings

if TYPE_CHECKING:
    import pytest
    from kubernetes_asyncio.client import ApiClient


async def test_main_leads_serves_probes_and_reconciles(
    kube_cluster: localcluster.ClusterInfo,
    kube_api: ApiClient,
    kube_namespace: str,
    crds: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    del crds
    monkeypatch.setenv("KUBECONFIG", str(kube_cluster.kubeconfig))
    (port,) = localcluster.free_ports(1)
    settings = Settings(
        controller=ControllerSettings(
            leader_elect=True,
            namespace=kube_namespace,
            probe_bind_host="127.0.0.1",
            probe_port=port,
            lease_duration_seconds=15.0,
        )
    )
    stop = asyncio.Event()
    task = asyncio.create_task(main.run(settings, stop))
    try:
        async with aiohttp.ClientSession() as http:

            async def ready() -> bool:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await localcluster.poll_until(ready, description="/readyz answers 200")
            workspace = {
                "apiVersion": "kaito.sh/v1beta1",
                "kind": "Workspace",
                "metadata": {"name": "ws-main", "namespace": kube_namespace},
                "resource": {
                    "instanceType": "Standard_NC6s_v3",
                    "labelSelector": {"matchLabels": {"apps": "ws-main"}},
                },
                "inference": {"preset": {"name": "phi-3-mini-4k-instruct"}},
            }
            await localcluster.apply_manifests(kube_api, [workspace])

            async def finalized() -> dict[str, Any] | None:
                ws = await localcluster.get_object(
                    kube_api, "kaito.sh/v1beta1", "Workspace", "ws-main", namespace=kube_namespace
                )
                finalizers = ((ws or {}).get("metadata") or {}).get("finalizers") or []
                return ws if "workspace.finalizer.kaito.sh" in finalizers else None

            await localcluster.poll_until(finalized, description="the leader reconciles")
            async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                text = await response.text()
        for name in (
            'controller_runtime_reconcile_total{controller="workspace",result="success"}',
            'workqueue_depth{controller="workspace",name="workspace"}',
            "controller_runtime_active_workers",
            'kaito_workspace_count{phase="pending"}',
        ):
            assert name in text, name
        lease = await localcluster.get_object(
            kube_api,
            "coordination.k8s.io/v1",
            "Lease",
            settings.controller.lease_name,
            namespace=kube_namespace,
        )
        assert lease is not None
        assert lease["spec"]["holderIdentity"]
    finally:
        stop.set()  # as SIGTERM does: drain, release the Lease, return
        await asyncio.wait_for(task, 30)
        await localcluster.delete_object(
            kube_api, "kaito.sh/v1beta1", "Workspace", "ws-main", namespace=kube_namespace
        )
