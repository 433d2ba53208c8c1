"""Every builder output, scanned: object shape, pod structure, and no privileged containers.

Each scenario builds one object the way the reconciler would. The checks are the ones the API
server or the kubelet would otherwise make at runtime (volume names unique and referenced, mount
paths unique, container names valid) plus our own rule: no container we add is privileged or may
gain privileges.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import preset_catalog as pc
from kaito_apis.workspace import v1beta1
from workspace_controller.manifests import claims, inference, tuning
from workspace_controller.settings import ImageSettings, ProvisioningSettings

ToWorkspace = Callable[[dict[str, Any]], v1beta1.Workspace]


Build = Callable[[ToWorkspace, dict[str, Any], dict[str, Any]], dict[str, Any]]

IMAGES = ImageSettings()
SETTINGS = ProvisioningSettings()
NC6S_V3 = pc.get_instance_type("Standard_NC6s_v3")
PHI3_MINI_128K = pc.resolve_preset("phi-3-mini-128k-instruct").preset
PHI3_MINI_4K = pc.resolve_preset("phi-3-mini-4k-instruct").preset
DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
CLUSTER_SCOPED = {"NodeClaim", "Machine"}
USER_CONTAINER = "server"  # the container in the template scenario: the user's, not ours


def _job(ws: v1beta1.Workspace) -> dict[str, Any]:
    return tuning.tuning_job(
        ws,
        preset=PHI3_MINI_128K,
        instance_type=NC6S_V3,
        config_map_name="params",
        output_dir="/mnt/results",
        revision="r",
        images=IMAGES,
    )


def _tuning(to_ws: ToWorkspace, seed: dict[str, Any], **fields: Any) -> dict[str, Any]:
    doc = copy.deepcopy(seed)
    doc["tuning"].update(fields)
    return _job(to_ws(doc))


def _serving(
    to_ws: ToWorkspace,
    doc: dict[str, Any],
    *,
    replicas: int = 1,
    runtime: str = "vllm",
    **fields: Any,
) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc["inference"].update(fields)
    return inference.inference_workload(
        to_ws(doc),
        preset=PHI3_MINI_4K,
        instance_type=NC6S_V3,
        replicas=replicas,
        revision="r",
        images=IMAGES,
        runtime=runtime,
    )


ADAPTERS = [
    {"source": {"name": "a", "image": "registry.example.com/a:1", "imagePullSecrets": ["s"]}},
    {"source": {"name": "b", "image": "registry.example.com/b:1", "imagePullSecrets": ["s"]}},
    {"source": {"name": "c", "volumeSource": {"emptyDir": {}}}},
]
TEMPLATE = {"spec": {"containers": [{"name": USER_CONTAINER, "image": "ghcr.io/example/server:1"}]}}

SCENARIOS: dict[str, Build] = {
    "job-seed": lambda to_ws, seed, _: _job(to_ws(seed)),
    "job-volume-output": lambda to_ws, seed, _: _tuning(
        to_ws, seed, output={"volumeSource": {"persistentVolumeClaim": {"claimName": "out"}}}
    ),
    "job-image-input": lambda to_ws, seed, _: _tuning(
        to_ws, seed, input={"image": "registry.example.com/data:1", "imagePullSecrets": ["s"]}
    ),
    "job-volume-input": lambda to_ws, seed, _: _tuning(
        to_ws, seed, input={"volumeSource": {"persistentVolumeClaim": {"claimName": "in"}}}
    ),
    "configmap": lambda to_ws, seed, _: tuning.tuning_configmap(
        to_ws(seed), name="params", config={"training_config": {}}
    ),
    "nodeclaim": lambda to_ws, seed, _: claims.nodeclaim(
        to_ws(seed), name="ws123456789", instance_type="Standard_NC6s_v3", storage_gib=80,
        settings=SETTINGS,
    ),
    "machine": lambda to_ws, seed, _: claims.machine(
        to_ws(seed), name="ws123456789", instance_type="Standard_NC6s_v3", storage_gib=80,
        settings=SETTINGS,
    ),
    "service": lambda to_ws, _, doc: inference.service(to_ws(doc)),
    "service-leader": lambda to_ws, _, doc: inference.service(to_ws(doc), leader_only=True),
    "headless-service": lambda to_ws, _, doc: inference.headless_service(to_ws(doc)),
    "deployment": lambda to_ws, _, doc: _serving(to_ws, doc),
    "deployment-config-adapters": lambda to_ws, _, doc: _serving(
        to_ws, doc, runtime="transformers", config="cfg", adapters=ADAPTERS
    ),
    "statefulset": lambda to_ws, _, doc: _serving(to_ws, doc, replicas=2, adapters=ADAPTERS),
    "deployment-template": lambda to_ws, _, doc: _serving(
        to_ws, doc, preset=None, template=TEMPLATE
    ),
}  # fmt: skip


WORKLOADS = sorted(n for n in SCENARIOS if n.startswith(("deployment", "statefulset")))
WITH_POD = sorted(n for n in SCENARIOS if n.startswith("job")) + WORKLOADS


@pytest.fixture
def build(
    to_workspace: ToWorkspace, seed_doc: dict[str, Any], inference_doc: dict[str, Any]
) -> Callable[[str], dict[str, Any]]:
    return lambda scenario: SCENARIOS[scenario](to_workspace, seed_doc, inference_doc)


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = obj["spec"]["template"]["spec"]
    return pod


def _containers(pod: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from pod.get("initContainers", [])
    yield from pod["containers"]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_top_level_shape(build: Callable[[str], dict[str, Any]], scenario: str) -> None:
    built = build(scenario)
    assert set(built) >= {"apiVersion", "kind", "metadata"}
    metadata = built["metadata"]
    assert DNS_LABEL.match(metadata["name"]), metadata["name"]
    if built["kind"] in CLUSTER_SCOPED:
        assert "namespace" not in metadata
        assert "ownerReferences" not in metadata
    else:
        assert metadata["namespace"] == "default"
        (owner,) = metadata["ownerReferences"]
        assert (owner["kind"], owner["controller"]) == ("Workspace", True)
    assert metadata["labels"]["kaito.sh/workspace"] in {
        "workspace-tuning-phi-3",
        "workspace-phi-3-mini",
    }


@pytest.mark.parametrize("scenario", WITH_POD)
def test_no_container_we_add_is_privileged_or_may_escalate(
    build: Callable[[str], dict[str, Any]], scenario: str
) -> None:
    pod = _pod_spec(build(scenario))
    ours = [c for c in _containers(pod) if c["name"] != USER_CONTAINER]
    for container in ours:
        context = container.get("securityContext", {})
        assert context.get("privileged") is False, container["name"]
        assert context.get("allowPrivilegeEscalation") is False, container["name"]
    for container in _containers(pod):
        assert not container.get("securityContext", {}).get("privileged"), container["name"]


@pytest.mark.parametrize("scenario", WITH_POD)
def test_pod_volumes_mounts_and_names_are_consistent(
    build: Callable[[str], dict[str, Any]], scenario: str
) -> None:
    pod = _pod_spec(build(scenario))
    volumes = [v["name"] for v in pod.get("volumes", [])]
    assert len(volumes) == len(set(volumes)), volumes
    assert all(DNS_LABEL.match(v) and len(v) <= 63 for v in volumes), volumes
    containers = list(_containers(pod))
    names = [c["name"] for c in containers]
    assert len(names) == len(set(names)), names
    assert all(DNS_LABEL.match(n) and len(n) <= 63 for n in names), names
    used: set[str] = set()
    for container in containers:
        mounts = container.get("volumeMounts", [])
        paths = [m["mountPath"] for m in mounts]
        assert len(paths) == len(set(paths)), (container["name"], paths)
        assert {m["name"] for m in mounts} <= set(volumes), container["name"]
        used |= {m["name"] for m in mounts}
        env = [e["name"] for e in container.get("env", [])]
        assert len(env) == len(set(env)), (container["name"], env)
        assert all(len(p["name"]) <= 15 for p in container.get("ports", []) if "name" in p)
    assert set(volumes) <= used, set(volumes) - used  # no volume is left unmounted


@pytest.mark.parametrize("scenario", WORKLOADS)
def test_workload_selectors_match_their_pod_labels(
    build: Callable[[str], dict[str, Any]], scenario: str
) -> None:
    built = build(scenario)
    labels = built["spec"]["template"]["metadata"]["labels"]
    assert built["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_the_scenarios_cover_every_kind_the_builders_make(
    build: Callable[[str], dict[str, Any]],
) -> None:
    assert {build(n)["kind"] for n in SCENARIOS} == {
        "Job",
        "ConfigMap",
        "NodeClaim",
        "Machine",
        "Service",
        "Deployment",
        "StatefulSet",
    }
