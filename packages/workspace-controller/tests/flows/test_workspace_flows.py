"""The workspace controller end to end on the real control plane, with a fake Karpenter provider.

Each test drives a Workspace the way a user does (apply a manifest) and waits for what the user
would look at: claims, the Job or the Deployment and Service, and the Workspace's conditions.
"""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING, Any

import pytest
import yaml

import localcluster

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from kubernetes_asyncio.client import ApiClient

    from .conftest import StartController

REPO = pathlib.Path(__file__).resolve().parents[4]
SEED = REPO / "examples/fine-tuning/kaito_workspace_tuning_phi_3.yaml"
WS_V1BETA1 = "kaito.sh/v1beta1"


def _seed(namespace: str, *, output_volume: bool = True) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(SEED.read_text())
    doc["metadata"]["namespace"] = namespace
    if output_volume:  # no registry to push to in the test cluster
        doc["tuning"]["output"] = {"volumeSource": {"emptyDir": {}}}
    return doc


def _inference(namespace: str, name: str = "ws-phi-3") -> dict[str, Any]:
    return {
        "apiVersion": WS_V1BETA1,
        "kind": "Workspace",
        "metadata": {"name": name, "namespace": namespace},
        "resource": {
            "instanceType": "Standard_NC6s_v3",
            "labelSelector": {"matchLabels": {"apps": name}},
        },
        "inference": {"preset": {"name": "phi-3-mini-4k-instruct"}},
    }


async def _workspace(api: ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    return await localcluster.get_object(api, WS_V1BETA1, "Workspace", name, namespace=namespace)


def _condition(ws: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    for c in ((ws or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return dict(c)
    return {}


async def _until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 60) -> Any:
    return await localcluster.poll_until(
        check, description=what, timeout_seconds=timeout, interval_seconds=0.2
    )


async def _claims(api: ApiClient, kind: str, namespace: str, name: str) -> list[dict[str, Any]]:
    path = (
        "/apis/karpenter.sh/v1/nodeclaims"
        if kind == "NodeClaim"
        else "/apis/karpenter.sh/v1alpha5/machines"
    )
    found = await localcluster.request(
        api,
        "GET",
        path,
        query=[
            ("labelSelector", f"kaito.sh/workspace={name},kaito.sh/workspacenamespace={namespace}")
        ],
    )
    return list(found["items"])


@pytest.mark.parametrize(
    ("api_setting", "kind"), [("nodeclaim", "NodeClaim"), ("machine", "Machine")]
)
async def test_seed_tuning_workspace_succeeds(
    kube_api: ApiClient,
    kube_namespace: str,
    start_controller: StartController,
    api_setting: str,
    kind: str,
) -> None:
    async with start_controller(api=api_setting):
        await localcluster.apply_manifests(kube_api, [_seed(kube_namespace)])
        name = "workspace-tuning-phi-3"

        async def succeeded() -> dict[str, Any] | None:
            ws = await _workspace(kube_api, kube_namespace, name)
            return ws if _condition(ws, "WorkspaceSucceeded").get("status") == "True" else None

        await _until(succeeded, "WorkspaceSucceeded=True", timeout=90)

        async def settled() -> dict[str, Any] | None:
            # A kwok node may miss a heartbeat on a loaded machine and be NotReady for a moment;
            # the status is an observation, so wait for the nodes to be reported ready again.
            ws = await _workspace(kube_api, kube_namespace, name)
            wanted = ("ResourceReady", "JobStarted", "WorkspaceSucceeded", "NodesReady")
            return ws if all(_condition(ws, t).get("status") == "True" for t in wanted) else None

        try:
            ws = await _until(settled, "every condition True", timeout=60)
        except TimeoutError:
            ws = await _workspace(kube_api, kube_namespace, name)
            raise AssertionError(f"conditions: {(ws or {}).get('status')}") from None
        claims = await _claims(kube_api, kind, kube_namespace, name)
        assert len(claims) == 1, "exactly one claim for a single-node tuning workspace"
        claim = claims[0]
        assert claim["metadata"]["labels"]["app"] == "tuning-phi-3"
        requirement = {r["key"]: r["values"] for r in claim["spec"]["requirements"]}
        assert requirement["node.kubernetes.io/instance-type"] == ["Standard_NC6s_v3"]
        assert {"key": "sku", "value": "gpu", "effect": "NoSchedule"} in claim["spec"]["taints"]
        for type_ in ("ResourceReady", "JobStarted", "WorkspaceSucceeded", "NodesReady"):
            assert _condition(ws, type_)["status"] == "True", type_
        claim_condition = "MachineReady" if kind == "Machine" else "NodeClaimReady"
        assert _condition(ws, claim_condition)["status"] == "True"
        assert ws["status"]["state"] == "Succeeded"
        assert ws["status"]["workerNodes"] == [claim["metadata"]["name"]]
        job = await localcluster.get_object(
            kube_api, "batch/v1", "Job", name, namespace=kube_namespace
        )
        assert job is not None
        assert job["metadata"]["ownerReferences"][0]["name"] == name
        events = await localcluster.request(
            kube_api, "GET", f"/api/v1/namespaces/{kube_namespace}/events"
        )
        reasons = {e["reason"] for e in events["items"]}
        assert f"{kind}Created" in reasons
        assert "TuningJobCreated" in reasons


async def test_inference_workspace_serves_behind_a_service(
    kube_api: ApiClient, kube_namespace: str, start_controller: StartController
) -> None:
    async with start_controller():
        await localcluster.apply_manifests(kube_api, [_inference(kube_namespace)])

        async def ready() -> dict[str, Any] | None:
            ws = await _workspace(kube_api, kube_namespace, "ws-phi-3")
            return ws if _condition(ws, "InferenceReady").get("status") == "True" else None

        ws = await _until(ready, "InferenceReady=True", timeout=90)
        assert ws["status"]["state"] == "Ready"
        assert _condition(ws, "WorkspaceSucceeded")["status"] == "True"
        service = await localcluster.get_object(
            kube_api, "v1", "Service", "ws-phi-3", namespace=kube_namespace
        )
        assert service is not None
        assert sorted(p["port"] for p in service["spec"]["ports"]) == [80, 29500]
        deployment = await localcluster.get_object(
            kube_api, "apps/v1", "Deployment", "ws-phi-3", namespace=kube_namespace
        )
        assert deployment is not None
        assert deployment["status"].get("readyReplicas") == 1


async def test_deleting_a_workspace_deletes_its_claims_and_releases_it(
    kube_api: ApiClient, kube_namespace: str, start_controller: StartController
) -> None:
    async with start_controller():
        await localcluster.apply_manifests(kube_api, [_inference(kube_namespace, "ws-gone")])

        async def claimed() -> list[dict[str, Any]] | None:
            return await _claims(kube_api, "NodeClaim", kube_namespace, "ws-gone") or None

        await _until(claimed, "a NodeClaim exists")
        await localcluster.delete_object(
            kube_api, WS_V1BETA1, "Workspace", "ws-gone", namespace=kube_namespace
        )

        async def gone() -> bool:
            ws = await _workspace(kube_api, kube_namespace, "ws-gone")
            return ws is None and not await _claims(
                kube_api, "NodeClaim", kube_namespace, "ws-gone"
            )

        await _until(gone, "workspace and its claims deleted")


async def test_a_restart_mid_provisioning_creates_no_duplicate_claim(
    kube_api: ApiClient, kube_namespace: str, start_controller: StartController
) -> None:
    quota = ("QuotaExceeded", "no quota")  # keep the claim unready so provisioning stays open
    async with start_controller(fail_launch={"Standard_NC6s_v3": quota}):
        await localcluster.apply_manifests(kube_api, [_inference(kube_namespace, "ws-restart")])

        async def claimed() -> list[dict[str, Any]] | None:
            return await _claims(kube_api, "NodeClaim", kube_namespace, "ws-restart") or None

        await _until(claimed, "a NodeClaim exists")
    async with start_controller(fail_launch={"Standard_NC6s_v3": quota}):

        async def reconciled_again() -> dict[str, Any] | None:
            ws = await _workspace(kube_api, kube_namespace, "ws-restart")
            return ws if _condition(ws, "NodeClaimReady").get("reason") == "QuotaExceeded" else None

        await _until(reconciled_again, "the restarted controller reports the claim")
        assert len(await _claims(kube_api, "NodeClaim", kube_namespace, "ws-restart")) == 1


async def test_a_cloud_error_on_the_claim_is_visible_on_the_workspace(
    kube_api: ApiClient, kube_namespace: str, start_controller: StartController
) -> None:
    message = (
        "Operation could not be completed as it results in exceeding approved "
        "standardNCSv3Family Cores quota: 6 needed, 0 available"
    )
    async with start_controller(fail_launch={"Standard_NC6s_v3": ("QuotaExceeded", message)}):
        await localcluster.apply_manifests(kube_api, [_inference(kube_namespace, "ws-quota")])

        async def reported() -> dict[str, Any] | None:
            ws = await _workspace(kube_api, kube_namespace, "ws-quota")
            return ws if _condition(ws, "ResourceReady").get("reason") == "QuotaExceeded" else None

        ws = await _until(reported, "ResourceReady shows the quota error")
        assert "standardNCSv3Family" in _condition(ws, "ResourceReady")["message"]
        assert _condition(ws, "ResourceReady")["status"] == "False"
        assert ws["status"]["state"] == "Pending"


async def test_a_spec_change_recreates_the_tuning_job(
    kube_api: ApiClient, kube_namespace: str, start_controller: StartController
) -> None:
    async with start_controller():
        doc = _seed(kube_namespace)
        doc["metadata"]["name"] = "ws-respec"
        await localcluster.apply_manifests(kube_api, [doc])

        async def job() -> dict[str, Any] | None:
            return await localcluster.get_object(
                kube_api, "batch/v1", "Job", "ws-respec", namespace=kube_namespace
            )

        first = await _until(job, "the Job exists", timeout=90)
        # hostPath would be the obvious change, but the CRD rejects it (allow-listed volume types).
        doc["tuning"]["output"] = {"volumeSource": {"persistentVolumeClaim": {"claimName": "out"}}}
        await localcluster.apply_manifests(kube_api, [doc])

        async def replaced() -> dict[str, Any] | None:
            current = await job()
            if current and current["metadata"]["uid"] != first["metadata"]["uid"]:
                return current
            return None

        second = await _until(replaced, "a new Job after the spec change", timeout=90)
        volumes = {v["name"]: v for v in second["spec"]["template"]["spec"]["volumes"]}
        assert any("persistentVolumeClaim" in v for v in volumes.values())


async def test_a_workspace_that_skipped_admission_is_reported_not_provisioned(
    kube_api: ApiClient, kube_namespace: str, start_controller: StartController
) -> None:
    doc = _inference(kube_namespace, "ws-unfit")
    doc["inference"]["preset"]["name"] = "phi-3-medium-128k-instruct"  # 28 GiB > one 16 GiB V100
    async with start_controller():
        await localcluster.apply_manifests(kube_api, [doc])

        async def reported() -> dict[str, Any] | None:
            ws = await _workspace(kube_api, kube_namespace, "ws-unfit")
            condition = _condition(ws, "ResourceReady")
            return ws if condition.get("reason") == "InsufficientTotalGPUMemory" else None

        ws = await _until(reported, "ResourceReady reports the unfit instance type")
        assert "Standard_NC6s_v3" in _condition(ws, "ResourceReady")["message"]
        assert await _claims(kube_api, "NodeClaim", kube_namespace, "ws-unfit") == []


async def test_a_model_larger_than_one_node_runs_as_a_statefulset_across_nodes(
    kube_api: ApiClient, kube_namespace: str, start_controller: StartController
) -> None:
    doc = _inference(kube_namespace, "ws-split")
    doc["inference"]["preset"]["name"] = "llama-3.1-8b-instruct"  # 22 GiB: two 16 GiB V100 nodes
    doc["resource"]["count"] = 2
    async with start_controller():
        await localcluster.apply_manifests(kube_api, [doc])

        async def ready() -> dict[str, Any] | None:
            ws = await _workspace(kube_api, kube_namespace, "ws-split")
            return ws if _condition(ws, "InferenceReady").get("status") == "True" else None

        ws = await _until(ready, "InferenceReady=True on two nodes", timeout=120)
        assert ws["status"]["targetNodeCount"] == 2
        assert len(ws["status"]["workerNodes"]) == 2
        assert len(await _claims(kube_api, "NodeClaim", kube_namespace, "ws-split")) == 2
        sts = await localcluster.get_object(
            kube_api, "apps/v1", "StatefulSet", "ws-split", namespace=kube_namespace
        )
        assert sts is not None
        assert sts["spec"]["replicas"] == 2
        headless = await localcluster.get_object(
            kube_api, "v1", "Service", sts["spec"]["serviceName"], namespace=kube_namespace
        )
        assert headless is not None
        assert headless["spec"]["clusterIP"] == "None"


async def test_a_template_workspace_runs_the_users_pod_template(
    kube_api: ApiClient, kube_namespace: str, start_controller: StartController
) -> None:
    doc = _inference(kube_namespace, "ws-custom")
    doc["inference"] = {
        "template": {
            "metadata": {"labels": {"team": "search"}},
            "spec": {"containers": [{"name": "server", "image": "example.com/my-server:1.2"}]},
        }
    }
    async with start_controller():
        await localcluster.apply_manifests(kube_api, [doc])

        async def ready() -> dict[str, Any] | None:
            ws = await _workspace(kube_api, kube_namespace, "ws-custom")
            return ws if _condition(ws, "InferenceReady").get("status") == "True" else None

        await _until(ready, "InferenceReady=True for the template workspace", timeout=90)
        deployment = await localcluster.get_object(
            kube_api, "apps/v1", "Deployment", "ws-custom", namespace=kube_namespace
        )
        assert deployment is not None
        pod = deployment["spec"]["template"]
        assert [c["image"] for c in pod["spec"]["containers"]] == ["example.com/my-server:1.2"]
        assert pod["metadata"]["labels"]["team"] == "search"
        assert pod["metadata"]["labels"]["kaito.sh/workspace"] == "ws-custom"


async def test_adding_an_adapter_rolls_the_whole_pod_template(
    kube_api: ApiClient, kube_namespace: str, start_controller: StartController
) -> None:
    doc = _inference(kube_namespace, "ws-adapt")
    async with start_controller():
        await localcluster.apply_manifests(kube_api, [doc])

        async def deployment() -> dict[str, Any] | None:
            return await localcluster.get_object(
                kube_api, "apps/v1", "Deployment", "ws-adapt", namespace=kube_namespace
            )

        first = await _until(deployment, "the Deployment exists", timeout=90)
        doc["inference"]["adapters"] = [
            {"source": {"name": "falcon-qa", "image": "registry.example.com/adapters/qa:1"}}
        ]
        await localcluster.apply_manifests(kube_api, [doc])

        async def rolled() -> dict[str, Any] | None:
            current = await deployment()
            revision = "workspace.kaito.io/revision"
            before = first["spec"]["template"]["metadata"]["annotations"][revision]
            after = (current or {})["spec"]["template"]["metadata"].get("annotations") or {}
            return current if after.get(revision) not in (None, before) else None

        rolled_out = await _until(rolled, "the pod template carries the new revision")
        init = rolled_out["spec"]["template"]["spec"].get("initContainers") or []
        assert any("registry.example.com/adapters/qa:1" in str(c) for c in init)
        assert rolled_out["metadata"]["uid"] == first["metadata"]["uid"], "updated, not recreated"


async def test_bring_your_own_nodes_without_any_claim_api(
    kube_api: ApiClient,
    kube_namespace: str,
    start_controller: StartController,
    gpu_node_factory: Any,
) -> None:
    """With no claim API (none configured, or no Karpenter CRDs served), pre-labelled GPU nodes
    run the workload and deletion is never held up waiting for claims (Kaito #1899)."""
    await gpu_node_factory(
        labels={"apps": "ws-byo", "node.kubernetes.io/instance-type": "Standard_NC6s_v3"},
        taints=[{"key": "sku", "value": "gpu", "effect": "NoSchedule"}],
    )
    async with start_controller(api="none"):
        await localcluster.apply_manifests(kube_api, [_inference(kube_namespace, "ws-byo")])

        async def ready() -> dict[str, Any] | None:
            ws = await _workspace(kube_api, kube_namespace, "ws-byo")
            return ws if _condition(ws, "InferenceReady").get("status") == "True" else None

        ws = await _until(ready, "InferenceReady=True on a bring-your-own node", timeout=90)
        assert _condition(ws, "ResourceReady")["status"] == "True"
        assert not _condition(ws, "NodeClaimReady"), "no claim condition without a claim API"
        assert await _claims(kube_api, "NodeClaim", kube_namespace, "ws-byo") == []
        await localcluster.delete_object(
            kube_api, WS_V1BETA1, "Workspace", "ws-byo", namespace=kube_namespace
        )

        async def gone() -> bool:
            return await _workspace(kube_api, kube_namespace, "ws-byo") is None

        await _until(gone, "the Workspace is deleted")
