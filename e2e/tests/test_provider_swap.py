"""The provider swap: the workspace controller with upstream Karpenter instead of gpu-provisioner.

The two controllers meet only at Karpenter's NodeClaim, so any Karpenter provider must be able to
serve the workspace controller. Here the provider is upstream Karpenter's own kwok provider
(``sigs.k8s.io/karpenter/kwok``, built from the Go module proxy by ``build.sh``): the real
upstream lifecycle controllers launch, register, initialize and finally terminate the node, and
the cluster's kwok plays its kubelet. Neither gpu-provisioner nor FakeKarpenterProvider runs.

The workspace controller runs in-process (``app.assemble`` + ``run``, as in its flow tests): the
probes, Lease and ``python -m`` entry point are covered by its own process test, and in-process its
failures surface here with a traceback. It runs on a cluster of its own
(``karpenter_kwok_cluster``), with only our Workspace CRD installed; the NodeClaim CRD is
upstream's.
"""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
from typing import TYPE_CHECKING, Any

import pytest
import yaml

import localcluster
import preset_catalog
from workspace_controller import app as app_module
from workspace_controller.settings import (
    ControllerSettings,
    NodeProvisioningApi,
    ProvisioningSettings,
    Settings,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from kubernetes_asyncio.client import ApiClient

REPO = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples/inference/kaito_workspace_phi_3_mini_4k.yaml"
WORKSPACE_CRD = REPO / "crds/kaito.sh_workspaces.yaml"
WS_API = "kaito.sh/v1beta1"
NODECLAIMS = "/apis/karpenter.sh/v1/nodeclaims"
Object = dict[str, Any]


def _example() -> Object:
    doc: Object = yaml.safe_load(EXAMPLE.read_text())
    return doc


@pytest.fixture
def karpenter_kwok_instance_types() -> list[dict[str, Any]]:
    """The example's instance type as an Azure look-alike, shaped from the preset catalog."""
    sku = preset_catalog.get_instance_type(_example()["resource"]["instanceType"])
    return [
        localcluster.gpu_instance_type(
            sku.name,
            vcpus=sku.vcpus,
            memory_gib=sku.memory_gib,
            gpus=sku.gpu.count,
            labels={"karpenter.azure.com/sku-name": sku.name},
        )
    ]


@pytest.fixture
async def api(
    karpenter_kwok: localcluster.KarpenterKwok,
) -> AsyncIterator[ApiClient]:
    client = localcluster.new_api_client(karpenter_kwok.cluster)
    await localcluster.apply_manifests(client, WORKSPACE_CRD)
    yield client
    await client.close()


@pytest.fixture
async def namespace(api: ApiClient, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    name = f"swap-{request.node.name.removeprefix('test_').replace('_', '-')}"[:50].rstrip("-")
    await localcluster.request(api, "POST", "/api/v1/namespaces", body={"metadata": {"name": name}})
    yield name
    await localcluster.delete_object(api, "v1", "Namespace", name)


@pytest.fixture
async def workspace_controller(
    karpenter_kwok: localcluster.KarpenterKwok, api: ApiClient
) -> AsyncIterator[None]:
    """The workspace controller, asking for NodeClaims of the KWOKNodeClass."""
    ref = karpenter_kwok.node_class_ref
    settings = Settings(
        controller=ControllerSettings(leader_elect=False, max_concurrent_reconciles=2),
        provisioning=ProvisioningSettings(
            node_provisioning_api=NodeProvisioningApi.NODECLAIM,
            node_class_group=ref["group"],
            node_class_kind=ref["kind"],
            node_class_name=ref["name"],
            node_ready_poll_seconds=0.5,
        ),
    )
    app = await app_module.assemble(api, settings)
    task = asyncio.create_task(app.run(), name="workspace-controller")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 90) -> Any:
    return await localcluster.poll_until(
        check, description=what, timeout_seconds=timeout, interval_seconds=0.25
    )


def _condition(obj: Object | None, type_: str) -> Object:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return dict(c)
    return {}


async def _claims(api: ApiClient, namespace: str, name: str) -> list[Object]:
    selector = f"kaito.sh/workspace={name},kaito.sh/workspacenamespace={namespace}"
    found = await localcluster.request(api, "GET", NODECLAIMS, query=[("labelSelector", selector)])
    return list(found["items"])


async def _apply_example(api: ApiClient, namespace: str) -> str:
    doc = _example()
    doc["metadata"]["namespace"] = namespace
    await localcluster.apply_manifests(api, [doc])
    return str(doc["metadata"]["name"])


async def _wait_condition(api: ApiClient, namespace: str, name: str, type_: str) -> Object:
    async def true() -> Object | None:
        ws = await localcluster.get_object(api, WS_API, "Workspace", name, namespace=namespace)
        return ws if _condition(ws, type_).get("status") == "True" else None

    try:
        ws: Object = await _until(true, f"{type_}=True on Workspace {namespace}/{name}")
    except TimeoutError:
        ws_now = await localcluster.get_object(api, WS_API, "Workspace", name, namespace=namespace)
        claims = await _claims(api, namespace, name)
        raise AssertionError(
            f"{type_} never True; workspace status: {(ws_now or {}).get('status')}; "
            f"claims: {[c.get('status') for c in claims]}"
        ) from None
    return ws


@pytest.mark.usefixtures("workspace_controller")
async def test_upstream_karpenter_kwok_provisions_the_workspace_nodes_and_it_serves(
    api: ApiClient, namespace: str, karpenter_kwok: localcluster.KarpenterKwok
) -> None:
    name = await _apply_example(api, namespace)
    ws = await _wait_condition(api, namespace, name, "ResourceReady")

    claims = await _claims(api, namespace, name)
    assert len(claims) == 1, "one NodeClaim for a one-node Workspace"
    claim = claims[0]
    assert claim["spec"]["nodeClassRef"] == karpenter_kwok.node_class_ref
    # Served by upstream Karpenter: its lifecycle controller's finalizer, its conditions, and the
    # kwok provider's instance.
    assert "karpenter.sh/termination" in claim["metadata"]["finalizers"]
    for type_ in ("Launched", "Registered", "Initialized", "Ready"):
        assert _condition(claim, type_).get("status") == "True", type_
    node_name = claim["status"]["nodeName"]
    assert claim["status"]["providerID"] == f"kwok://{node_name}"
    assert node_name.startswith(f"kwok-{claim['metadata']['name']}-"), "the kwok provider's name"

    node = await localcluster.get_object(api, "v1", "Node", node_name)
    assert node is not None
    labels = node["metadata"]["labels"]
    # Karpenter synced the claim onto the node at registration, then marked it initialized.
    assert labels["karpenter.sh/registered"] == "true"
    assert labels["karpenter.sh/initialized"] == "true"
    assert labels["kaito.sh/workspace"] == name
    assert labels["node.kubernetes.io/instance-type"] == _example()["resource"]["instanceType"]
    owners = [(o["kind"], o["name"]) for o in node["metadata"].get("ownerReferences") or []]
    assert owners == [("NodeClaim", claim["metadata"]["name"])]
    assert {"key": "sku", "value": "gpu", "effect": "NoSchedule"} in node["spec"]["taints"]
    assert not any(t["key"] == "karpenter.sh/unregistered" for t in node["spec"]["taints"])

    assert _condition(ws, "NodeClaimReady")["status"] == "True"
    assert _condition(ws, "NodesReady")["status"] == "True"

    # The workload runs on the node upstream Karpenter provisioned.
    ws = await _wait_condition(api, namespace, name, "InferenceReady")
    assert ws["status"]["workerNodes"] == [node_name]
    pods = await localcluster.request(
        api,
        "GET",
        f"/api/v1/namespaces/{namespace}/pods",
        query=[("labelSelector", f"kaito.sh/workspace={name}")],
    )
    assert [p["spec"]["nodeName"] for p in pods["items"]] == [node_name]


@pytest.mark.usefixtures("workspace_controller", "karpenter_kwok")
async def test_deleting_the_workspace_makes_upstream_karpenter_terminate_claim_and_node(
    api: ApiClient, namespace: str
) -> None:
    name = await _apply_example(api, namespace)
    await _wait_condition(api, namespace, name, "ResourceReady")
    [claim] = await _claims(api, namespace, name)
    node_name = claim["status"]["nodeName"]

    await localcluster.delete_object(api, WS_API, "Workspace", name, namespace=namespace)

    async def all_gone() -> bool:
        ws = await localcluster.get_object(api, WS_API, "Workspace", name, namespace=namespace)
        node = await localcluster.get_object(api, "v1", "Node", node_name)
        return ws is None and node is None and not await _claims(api, namespace, name)

    await _until(all_gone, "Workspace, NodeClaim and Node deleted", timeout=60)
