"""The composition root: leader election, probes and Karpenter's metric names, as deployed."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING

import aiohttp

from gpu_provisioner import main
from localcluster import free_ports, poll_until

if TYPE_CHECKING:
    import pytest
    from kubernetes_asyncio.client import ApiClient

    from gpu_provisioner.settings import Settings
    from localcluster import ClusterInfo


async def test_main_serves_probes_and_metrics_while_leading(
    kube_cluster: ClusterInfo,
    kube_api: ApiClient,
    kube_namespace: str,
    provisioner_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kube_cluster.kubeconfig))
    (port,) = free_ports(1)
    base = provisioner_settings
    settings = dataclasses.replace(
        base,
        controller=dataclasses.replace(
            base.controller,
            leader_elect=True,
            namespace=kube_namespace,
            probe_bind_host="127.0.0.1",
            probe_port=port,
            log_json=True,
        ),
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

            await poll_until(ready, description="/readyz answers 200")
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
            async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                text = await response.text()
        for name in (
            "controller_runtime_reconcile_total",
            "karpenter_cloudprovider_duration_seconds",
            "karpenter_nodeclaims_terminated_total",
            "karpenter_nodes_created_total",
        ):
            assert name in text
        lease = f"/apis/coordination.k8s.io/v1/namespaces/{kube_namespace}/leases/"
        holder = await kube_api.call_api(
            lease + settings.controller.lease_name,
            "GET",
            header_params={"Accept": "application/json"},
            response_types_map={200: "object"},
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
        )
        assert holder["spec"]["holderIdentity"]
    finally:
        stop.set()  # as SIGTERM does: drain, release the Lease, return
        await asyncio.wait_for(task, 30)
