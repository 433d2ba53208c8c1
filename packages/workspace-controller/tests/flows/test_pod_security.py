"""The controller's workloads run in a namespace that enforces Pod Security ``restricted``.

kube-apiserver has Pod Security Admission on by default; a namespace labelled
``pod-security.kubernetes.io/enforce=restricted`` rejects every pod that breaks the profile.
The controller creates Jobs, Deployments and StatefulSets, not pods: kube-controller-manager
creates the pods, and a rejection shows only as a ``FailedCreate`` Event on the Job or the
ReplicaSet/StatefulSet. So each test waits for the pods themselves, and on a timeout reports
those Events. The first test proves the namespace really rejects a pod that is not restricted.
"""

from __future__ import annotations

import json
import pathlib
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from kubernetes_asyncio.client.exceptions import ApiException

import localcluster

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

    from .conftest import StartController

REPO = pathlib.Path(__file__).resolve().parents[4]
SEED = REPO / "examples/fine-tuning/kaito_workspace_tuning_phi_3.yaml"
WS_V1BETA1 = "kaito.sh/v1beta1"
ENFORCE = "pod-security.kubernetes.io/enforce"


@pytest.fixture
async def restricted_namespace(kube_api: ApiClient, kube_namespace: str) -> str:
    await localcluster.request(
        kube_api,
        "PATCH",
        f"/api/v1/namespaces/{kube_namespace}",
        body={
            "metadata": {
                "labels": {ENFORCE: "restricted", f"{ENFORCE}-version": "latest"},
            }
        },
        content_type="application/merge-patch+json",
    )
    return kube_namespace


def _inference(namespace: str, name: str, *, preset: str, count: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": WS_V1BETA1,
        "kind": "Workspace",
        "metadata": {"name": name, "namespace": namespace},
        "resource": {
            "instanceType": "Standard_NC6s_v3",
            "count": count,
            "labelSelector": {"matchLabels": {"apps": name}},
        },
        "inference": {"preset": {"name": preset}},
    }


async def _pods(api: ApiClient, namespace: str, workspace: str) -> list[dict[str, Any]]:
    listing = await localcluster.request(
        api,
        "GET",
        f"/api/v1/namespaces/{namespace}/pods",
        query=[("labelSelector", f"kaito.sh/workspace={workspace}")],
    )
    return list(listing["items"])


async def _failed_creates(api: ApiClient, namespace: str) -> list[str]:
    events = await localcluster.request(api, "GET", f"/api/v1/namespaces/{namespace}/events")
    return [
        f"{e['involvedObject']['kind']}/{e['involvedObject']['name']}: {e['message']}"
        for e in events["items"]
        if e["reason"] == "FailedCreate"
    ]


async def _wait_for_pods(
    api: ApiClient, namespace: str, workspace: str, count: int
) -> list[dict[str, Any]]:
    async def created() -> list[dict[str, Any]] | None:
        pods = await _pods(api, namespace, workspace)
        return pods if len(pods) >= count else None

    try:
        pods: list[dict[str, Any]] = await localcluster.poll_until(
            created,
            description=f"{count} pod(s) of {workspace}",
            timeout_seconds=120,
            interval_seconds=0.5,
        )
    except TimeoutError:
        failures = await _failed_creates(api, namespace)
        raise AssertionError(f"no pods for {workspace}; FailedCreate: {failures}") from None
    return pods


def _assert_restricted(pod: dict[str, Any]) -> None:
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert not any(v.get("projected") for v in spec["volumes"]), "no ServiceAccount token volume"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 1000
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["capabilities"] == {"drop": ["ALL"]}, container["name"]


async def test_the_namespace_rejects_a_pod_that_is_not_restricted(
    kube_api: ApiClient, restricted_namespace: str
) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "root-pod"},
        "spec": {"containers": [{"name": "c", "image": "example.com/c:1"}]},
    }
    with pytest.raises(ApiException) as rejected:
        await localcluster.request(
            kube_api, "POST", f"/api/v1/namespaces/{restricted_namespace}/pods", body=pod
        )
    assert rejected.value.status == 403
    message = json.loads(rejected.value.body or "{}").get("message", "")
    assert 'violates PodSecurity "restricted:latest"' in message


async def test_the_seed_tuning_job_runs_its_pod_in_a_restricted_namespace(
    kube_api: ApiClient, restricted_namespace: str, start_controller: StartController
) -> None:
    """The seed as written: URL input (downloader init container), image output (pusher)."""
    doc: dict[str, Any] = yaml.safe_load(SEED.read_text())
    doc["metadata"]["namespace"] = restricted_namespace
    name = doc["metadata"]["name"]
    async with start_controller():
        await localcluster.apply_manifests(kube_api, [doc])
        (pod,) = await _wait_for_pods(kube_api, restricted_namespace, name, 1)
    names = [c["name"] for c in [*pod["spec"]["initContainers"], *pod["spec"]["containers"]]]
    assert names == ["data-downloader", name, "adapter-pusher"]
    _assert_restricted(pod)
    assert await _failed_creates(kube_api, restricted_namespace) == []


@pytest.mark.parametrize(
    ("preset", "count", "kind"),
    [
        ("phi-3-mini-4k-instruct", 1, "Deployment"),
        # 22 GiB: split across two 16 GiB V100 nodes, one StatefulSet pod on each.
        ("llama-3.1-8b-instruct", 2, "StatefulSet"),
    ],
)
async def test_inference_pods_run_in_a_restricted_namespace(
    kube_api: ApiClient,
    restricted_namespace: str,
    start_controller: StartController,
    preset: str,
    count: int,
    kind: str,
) -> None:
    name = f"ws-restricted-{count}"
    doc = _inference(restricted_namespace, name, preset=preset, count=count)
    doc["inference"]["adapters"] = [
        {"source": {"name": "qa", "image": "registry.example.com/adapters/qa:1"}}
    ]
    async with start_controller():
        await localcluster.apply_manifests(kube_api, [doc])
        pods = await _wait_for_pods(kube_api, restricted_namespace, name, count)
    owners = {ref["kind"] for pod in pods for ref in pod["metadata"]["ownerReferences"]}
    assert owners == {"ReplicaSet" if kind == "Deployment" else kind}
    for pod in pods:
        assert [c["name"] for c in pod["spec"]["initContainers"]] == ["puller-qa"]
        _assert_restricted(pod)
    assert await _failed_creates(kube_api, restricted_namespace) == []
