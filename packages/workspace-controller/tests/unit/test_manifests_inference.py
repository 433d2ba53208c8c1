"""Services and the serving workload: Deployment or StatefulSet, presets, templates, adapters."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

import preset_catalog as pc
from kaito_apis.workspace import v1beta1
from workspace_controller.manifests import inference, scripts
from workspace_controller.settings import ImageSettings

ToWorkspace = Callable[[dict[str, Any]], v1beta1.Workspace]


IMAGES = ImageSettings()
PHI3 = pc.resolve_preset("phi-3-mini-4k-instruct").preset  # distributed inference supported
FALCON_40B = pc.resolve_preset("falcon-40b").preset  # no distributed inference
NC6S_V3 = pc.get_instance_type("Standard_NC6s_v3")
NAME = "workspace-phi-3-mini"


def _workload(
    ws: v1beta1.Workspace,
    *,
    preset: pc.Preset | None = PHI3,
    replicas: int = 1,
    revision: str = "rev-1",
    runtime: str = "vllm",
    instance_type: pc.InstanceType = NC6S_V3,
) -> dict[str, Any]:
    return inference.inference_workload(
        ws,
        preset=preset,
        instance_type=instance_type,
        replicas=replicas,
        revision=revision,
        images=IMAGES,
        runtime=runtime,
    )


def _pod(workload: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = workload["spec"]["template"]["spec"]
    return pod


def _server(workload: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = _pod(workload)["containers"][0]
    return container


def _pod_annotations(workload: dict[str, Any]) -> dict[str, str]:
    annotations: dict[str, str] = workload["spec"]["template"]["metadata"]["annotations"]
    return annotations


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def _mounts(container: dict[str, Any]) -> dict[str, str]:
    return {m["mountPath"]: m["name"] for m in container["volumeMounts"]}


def _with_inference(doc: dict[str, Any], **fields: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc["inference"].update(fields)
    return doc


# -- Services -------------------------------------------------------------------------------------


def test_service_forwards_80_to_5000_and_exposes_torchrun(
    to_workspace: ToWorkspace, inference_doc: dict[str, Any]
) -> None:
    svc = inference.service(to_workspace(inference_doc))
    assert (svc["apiVersion"], svc["kind"]) == ("v1", "Service")
    assert (svc["metadata"]["name"], svc["metadata"]["namespace"]) == (NAME, "default")
    assert svc["metadata"]["ownerReferences"][0]["name"] == NAME
    spec = svc["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["selector"] == {"kaito.sh/workspace": NAME}
    assert [(p["name"], p["port"], p["targetPort"], p["protocol"]) for p in spec["ports"]] == [
        ("http", 80, 5000, "TCP"),
        ("torchrun", 29500, 29500, "TCP"),
    ]


@pytest.mark.parametrize(
    ("value", "kind"),
    [("True", "LoadBalancer"), ("true", "LoadBalancer"), ("TRUE", "LoadBalancer"),
     ("False", "ClusterIP"), ("yes", "ClusterIP"), (None, "ClusterIP")],
)  # fmt: skip
def test_enablelb_annotation_makes_a_load_balancer(
    to_workspace: ToWorkspace, inference_doc: dict[str, Any], value: str | None, kind: str
) -> None:
    doc = copy.deepcopy(inference_doc)
    if value is not None:
        doc["metadata"]["annotations"] = {"kaito.sh/enablelb": value}
    assert inference.service(to_workspace(doc))["spec"]["type"] == kind


def test_leader_only_service_selects_pod_zero(
    to_workspace: ToWorkspace, inference_doc: dict[str, Any]
) -> None:
    svc = inference.service(to_workspace(inference_doc), leader_only=True)
    assert svc["spec"]["selector"] == {
        "kaito.sh/workspace": NAME,
        "statefulset.kubernetes.io/pod-name": f"{NAME}-0",
    }


def test_headless_service_publishes_every_pod_ready_or_not(
    to_workspace: ToWorkspace, inference_doc: dict[str, Any]
) -> None:
    svc = inference.headless_service(to_workspace(inference_doc))
    assert svc["metadata"]["name"] == f"{NAME}-headless"
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["publishNotReadyAddresses"] is True
    assert svc["spec"]["selector"] == {"kaito.sh/workspace": NAME}


def test_a_long_workspace_name_still_gives_a_valid_headless_name(
    to_workspace: ToWorkspace, inference_doc: dict[str, Any]
) -> None:
    doc = copy.deepcopy(inference_doc)
    doc["metadata"]["name"] = "w" * 60
    ws = to_workspace(doc)
    name = inference.headless_service(ws)["metadata"]["name"]
    assert len(name) <= 63
    assert inference.headless_service_name(ws) == name


# -- workload kind --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "replicas", "runtime", "kind"),
    [
        (PHI3, 1, "vllm", "Deployment"),
        (PHI3, 2, "vllm", "StatefulSet"),
        (PHI3, 2, "transformers", "Deployment"),  # transformers cannot split a model
        (FALCON_40B, 2, "vllm", "Deployment"),  # preset cannot be split: independent replicas
    ],
    ids=["single-node", "multi-node", "transformers-replicas", "non-distributed-replicas"],
)
def test_multi_node_presets_get_a_statefulset_and_the_rest_a_deployment(
    to_workspace: ToWorkspace,
    inference_doc: dict[str, Any],
    preset: pc.Preset,
    replicas: int,
    runtime: str,
    kind: str,
) -> None:
    workload = _workload(
        to_workspace(inference_doc), preset=preset, replicas=replicas, runtime=runtime
    )
    assert workload["kind"] == kind
    assert workload["apiVersion"] == "apps/v1"
    assert workload["spec"]["replicas"] == replicas


def test_deployment_rolls_one_pod_at_a_time_without_a_surge_node(
    to_workspace: ToWorkspace, inference_doc: dict[str, Any]
) -> None:
    spec = _workload(to_workspace(inference_doc))["spec"]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
    }
    assert spec["selector"] == {"matchLabels": {"kaito.sh/workspace": NAME}}
    assert spec["template"]["metadata"]["labels"]["kaito.sh/workspace"] == NAME


def test_statefulset_starts_its_pods_together_behind_the_headless_service(
    to_workspace: ToWorkspace, inference_doc: dict[str, Any]
) -> None:
    workload = _workload(to_workspace(inference_doc), replicas=3)
    spec = workload["spec"]
    assert spec["serviceName"] == f"{NAME}-headless"
    assert spec["podManagementPolicy"] == "Parallel"
    env = _env(_server(workload))
    assert env["NUM_NODES"] == "3"
    assert env["LEADER_ADDRESS"] == f"{NAME}-0.{NAME}-headless.default.svc.cluster.local"
    assert env["RENDEZVOUS_PORT"] == "29500"
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert {p["containerPort"] for p in _server(workload)["ports"]} == {5000, 29500}


# -- the preset pod -------------------------------------------------------------------------------


def test_preset_server_runs_the_runtime_with_probes_gpus_and_volumes(
    to_workspace: ToWorkspace, inference_doc: dict[str, Any]
) -> None:
    workload = _workload(to_workspace(inference_doc))
    assert workload["metadata"]["ownerReferences"][0]["name"] == NAME
    server = _server(workload)
    assert server["name"] == NAME
    assert server["image"] == "ghcr.io/kaito-py/model-runtime:0.1.0"
    assert server["command"] == ["python", "-m", "model_runtime", "serve"]
    assert server["command"] == list(inference.SERVE_COMMAND)
    assert server["ports"] == [{"name": "http", "containerPort": 5000, "protocol": "TCP"}]
    assert server["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert server["resources"]["requests"] == {"nvidia.com/gpu": "1"}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert server[probe]["httpGet"] == {"path": "/health", "port": 5000}
    # 1800 s readiness timeout, probed every 10 s.
    assert server["startupProbe"]["failureThreshold"] == 180
    assert server["startupProbe"]["periodSeconds"] == 10
    assert _mounts(server) == {
        "/dev/shm": "dshm",
        "/workspace/weights": "model-weights-volume",
        "/tmp": "scratch",
        "/home/runtime": "runtime-home",
    }
    volumes = {v["name"]: v for v in _pod(workload)["volumes"]}
    assert volumes["dshm"]["emptyDir"] == {"medium": "Memory"}
    assert volumes["model-weights-volume"]["emptyDir"] == {}
    env = _env(server)
    assert env["RUNTIME"] == "vllm"
    assert env["MODEL_NAME"] == "phi-3-mini-4k-instruct"
    assert env["PORT"] == "5000"
    pod = _pod(workload)
    assert {t["key"] for t in pod["tolerations"]} >= {"nvidia.com/gpu", "sku"}
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0]["matchExpressions"] == [
        {"key": "apps", "operator": "In", "values": ["phi-3"]}
    ]


def test_inference_config_is_mounted_at_mnt_config(
    to_workspace: ToWorkspace, inference_doc: dict[str, Any]
) -> None:
    ws = to_workspace(_with_inference(inference_doc, config="my-vllm-config"))
    workload = _workload(ws)
    server = _server(workload)
    assert _mounts(server)["/mnt/config"] == "config-volume"
    volumes = {v["name"]: v for v in _pod(workload)["volumes"]}
    assert volumes["config-volume"]["configMap"] == {"name": "my-vllm-config"}
    assert _env(server)["INFERENCE_CONFIG"] == "/mnt/config/inference_config.yaml"


def test_adapters_are_pulled_or_mounted_under_mnt_adapter_with_their_strengths(
    to_workspace: ToWorkspace, inference_doc: dict[str, Any]
) -> None:
    adapters = [
        {
            "source": {
                "name": "alpaca",
                "image": "registry.example.com/alpaca:1",
                "imagePullSecrets": ["reg"],
            },
            "strength": "0.5",
        },
        {"source": {"name": "dolly.v2", "image": "registry.example.com/dolly:2"}},
        {
            "source": {
                "name": "local",
                "volumeSource": {"persistentVolumeClaim": {"claimName": "a"}},
            }
        },
    ]
    ws = to_workspace(_with_inference(inference_doc, adapters=adapters))
    workload = _workload(ws, runtime="transformers")
    pod = _pod(workload)
    pullers = pod["initContainers"]
    assert pullers[0]["name"] == "puller-alpaca"
    assert pullers[1]["name"].startswith("puller-dolly-v2-")
    assert pullers[0]["command"] == [
        "/bin/sh",
        "-c",
        scripts.PULL_SCRIPT,
        "puller-alpaca",
        "registry.example.com/alpaca:1",
        "/mnt/adapter/alpaca",
    ]
    assert pullers[1]["command"][-1] == "/mnt/adapter/dolly.v2"
    assert _mounts(pullers[0])["/var/run/secrets/kaito/pull/reg"]
    server = _server(workload)
    mounts = _mounts(server)
    assert mounts["/mnt/adapter"] == "adapter-volume"
    assert mounts["/mnt/adapter/local"].startswith("adapter-local")
    env = _env(server)
    assert (env["alpaca"], env["dolly.v2"], env["local"]) == ("0.5", "1.0", "1.0")
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["adapter-volume"] == {"name": "adapter-volume", "emptyDir": {}}
    assert volumes[mounts["/mnt/adapter/local"]]["persistentVolumeClaim"] == {"claimName": "a"}


def test_model_access_secret_becomes_hf_token(
    to_workspace: ToWorkspace, inference_doc: dict[str, Any]
) -> None:
    preset = {"name": "phi-3-mini-4k-instruct", "presetOptions": {"modelAccessSecret": "hf"}}
    ws = to_workspace(_with_inference(inference_doc, preset=preset))
    assert _env(_server(_workload(ws)))["HF_TOKEN"] == {
        "secretKeyRef": {"name": "hf", "key": "HF_TOKEN"}
    }


@pytest.mark.parametrize("runtime", ["tgi", "VLLM", ""])
def test_a_runtime_the_preset_does_not_support_is_refused(
    to_workspace: ToWorkspace, inference_doc: dict[str, Any], runtime: str
) -> None:
    with pytest.raises(ValueError, match="runtime"):
        _workload(to_workspace(inference_doc), runtime=runtime)


def test_a_preset_workspace_needs_its_preset(
    to_workspace: ToWorkspace, inference_doc: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="preset"):
        _workload(to_workspace(inference_doc), preset=None)


# -- revisions ------------------------------------------------------------------------------------


def test_a_new_revision_changes_the_pod_template_and_nothing_else(
    to_workspace: ToWorkspace, inference_doc: dict[str, Any]
) -> None:
    ws = to_workspace(inference_doc)
    old, new = _workload(ws, revision="rev-1"), _workload(ws, revision="rev-2")
    assert new["spec"]["template"]["metadata"]["annotations"] == {
        "workspace.kaito.io/revision": "rev-2"
    }
    assert new["metadata"]["annotations"] == {"workspace.kaito.io/revision": "rev-2"}
    for workload in (old, new):
        workload["metadata"]["annotations"]["workspace.kaito.io/revision"] = "x"
        workload["spec"]["template"]["metadata"]["annotations"]["workspace.kaito.io/revision"] = "x"
    assert old == new


def test_a_spec_change_reaches_the_whole_pod_template(
    to_workspace: ToWorkspace, inference_doc: dict[str, Any]
) -> None:
    # Kaito #2124: image and command changes were lost because only parts were patched.
    ws = to_workspace(inference_doc)
    before = _workload(ws)
    after = inference.inference_workload(
        ws,
        preset=PHI3,
        instance_type=NC6S_V3,
        replicas=1,
        revision="rev-2",
        images=ImageSettings(registry="registry.example.com/kaito"),
        runtime="vllm",
    )
    assert _server(after)["image"] == "registry.example.com/kaito/model-runtime:0.1.0"
    assert _server(after)["image"] != _server(before)["image"]
    assert _pod_annotations(after) != _pod_annotations(before)


# -- templates ------------------------------------------------------------------------------------

TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "my-server"}},
    "spec": {
        "containers": [
            {
                "name": "server",
                "image": "ghcr.io/example/server:1",
                "ports": [{"containerPort": 5000}],
                "resources": {"limits": {"nvidia.com/gpu": "1"}},
            }
        ],
        "tolerations": [
            {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
            {"key": "dedicated", "operator": "Exists"},
        ],
        "affinity": {
            "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"x": "user"}},
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []},
        },
    },
}


def test_template_workspace_runs_the_users_pod_on_the_workspace_nodes(
    to_workspace: ToWorkspace, inference_doc: dict[str, Any]
) -> None:
    doc = copy.deepcopy(inference_doc)
    doc["inference"] = {"template": copy.deepcopy(TEMPLATE)}
    workload = _workload(to_workspace(doc), preset=None, replicas=2)
    assert workload["kind"] == "Deployment"
    assert workload["spec"]["replicas"] == 2
    template = workload["spec"]["template"]
    assert template["metadata"]["labels"] == {
        "app": "my-server",
        "kaito.sh/workspace": NAME,
        "kaito.sh/workspacenamespace": "default",
    }
    assert template["metadata"]["annotations"] == {"workspace.kaito.io/revision": "rev-1"}
    spec = template["spec"]
    assert spec["containers"] == TEMPLATE["spec"]["containers"]
    assert spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {
        "nodeSelectorTerms": [
            {"matchExpressions": [{"key": "apps", "operator": "In", "values": ["phi-3"]}]}
        ]
    }
    assert spec["affinity"]["podAntiAffinity"] == TEMPLATE["spec"]["affinity"]["podAntiAffinity"]
    keys = [t["key"] for t in spec["tolerations"]]
    assert keys == ["sku", "dedicated", "nvidia.com/gpu", "kubernetes.azure.com/scalesetpriority"]


def test_template_is_copied_not_modified(
    to_workspace: ToWorkspace, inference_doc: dict[str, Any]
) -> None:
    doc = copy.deepcopy(inference_doc)
    doc["inference"] = {"template": copy.deepcopy(TEMPLATE)}
    ws = to_workspace(doc)
    before = ws.to_wire()
    _workload(ws, preset=None)
    assert ws.to_wire() == before
