"""Every pod the controller builds passes Pod Security ``restricted`` and writes only to emptyDirs.

The checks follow the ``restricted`` profile of Kubernetes' Pod Security Standards (which includes
``baseline``): no host namespaces, ports or paths; only the restricted volume types; non-root
with a non-zero uid; no privilege escalation; every capability dropped; the RuntimeDefault seccomp
profile. On top of the profile: a read-only root filesystem, no ServiceAccount token, and every
place a container is told to write (HOME, caches, TMPDIR, weights, data) on a writable emptyDir.
The same pods are created for real in a restricted namespace in
tests/flows/test_pod_security.py.
"""

from __future__ import annotations

import copy
import posixpath
from collections.abc import Callable
from typing import Any

import pytest

import preset_catalog as pc
from kaito_apis.workspace import v1beta1
from workspace_controller.manifests import inference, tuning
from workspace_controller.settings import ImageSettings

ToWorkspace = Callable[[dict[str, Any]], v1beta1.Workspace]
Pod = dict[str, Any]

IMAGES = ImageSettings()
NC6S_V3 = pc.get_instance_type("Standard_NC6s_v3")
TUNING_PRESET = pc.resolve_preset("phi-3-mini-128k-instruct").preset
INFERENCE_PRESET = pc.resolve_preset("phi-3-mini-4k-instruct").preset

RESTRICTED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
# Variables naming a directory the container writes to.
WRITTEN_PATHS = (
    "HOME",
    "TMPDIR",
    "XDG_CACHE_HOME",
    "HF_HOME",
    "TRITON_CACHE_DIR",
    "TORCHINDUCTOR_CACHE_DIR",
    "MODEL_DIR",
    "DATA_DIR",
)


def restricted_violations(pod: Pod) -> list[str]:
    """What Pod Security ``restricted`` would reject in ``pod`` (a pod spec), plus our extras."""
    problems: list[str] = []
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            problems.append(f"{field} is set")
    pod_context = pod.get("securityContext") or {}
    if pod_context.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append("the pod's seccompProfile is not RuntimeDefault")
    for key in ("runAsUser", "runAsGroup", "fsGroup"):
        if not isinstance(pod_context.get(key), int) or pod_context[key] == 0:
            problems.append(f"the pod's {key} is not a non-zero number")
    if pod.get("automountServiceAccountToken") is not False:
        problems.append("the ServiceAccount token is mounted")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            problems.append(f"volume {volume['name']} has type {sorted(kinds)}")
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        name = container["name"]
        context = container.get("securityContext") or {}
        if not (context.get("runAsNonRoot") or pod_context.get("runAsNonRoot")):
            problems.append(f"{name}: runAsNonRoot is not true")
        if context.get("runAsUser", pod_context.get("runAsUser")) == 0:
            problems.append(f"{name}: runs as uid 0")
        if context.get("privileged"):
            problems.append(f"{name}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{name}: capabilities are not all dropped")
        if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities {capabilities['add']}")
        profile = context.get("seccompProfile", {}).get("type")
        if profile not in (None, "RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile {profile}")
        if context.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: the root filesystem is writable")
        if any(port.get("hostPort") for port in container.get("ports", [])):
            problems.append(f"{name}: uses a host port")
        problems += _unwritable_paths(pod, container)
    return problems


def _unwritable_paths(pod: Pod, container: dict[str, Any]) -> list[str]:
    """Paths the container is told to write that are not on a writable volume of the pod."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    writable = [
        m["mountPath"]
        for m in container.get("volumeMounts", [])
        if not m.get("readOnly") and "emptyDir" in volumes.get(m["name"], {})
    ]
    env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    wanted = [env[k] for k in WRITTEN_PATHS if k in env]
    wanted.append("/tmp")  # everyone's scratch space
    return [
        f"{container['name']}: {path} is not on a writable emptyDir"
        for path in wanted
        if not any(path == m or path.startswith(m.rstrip("/") + "/") for m in writable)
    ]


def _tuning_pod(ws: v1beta1.Workspace) -> Pod:
    job = tuning.tuning_job(
        ws,
        preset=TUNING_PRESET,
        instance_type=NC6S_V3,
        config_map_name="params",
        output_dir="/mnt/results",
        revision="r",
        images=IMAGES,
    )
    pod: Pod = job["spec"]["template"]["spec"]
    return pod


def _inference_pod(ws: v1beta1.Workspace, *, replicas: int = 1) -> tuple[str, Pod]:
    workload = inference.inference_workload(
        ws,
        preset=INFERENCE_PRESET,
        instance_type=NC6S_V3,
        replicas=replicas,
        revision="r",
        images=IMAGES,
        runtime="vllm",
    )
    pod: Pod = workload["spec"]["template"]["spec"]
    return workload["kind"], pod


TUNING_VARIANTS: dict[str, dict[str, Any]] = {
    "url input, image output (the seed)": {},
    "image input, volume output": {
        "input": {"image": "registry.example.com/data:1", "imagePullSecrets": ["reg"]},
        "output": {"volumeSource": {"persistentVolumeClaim": {"claimName": "results"}}},
    },
    "volume input, image output": {
        "input": {"volumeSource": {"persistentVolumeClaim": {"claimName": "dolly"}}},
    },
}


@pytest.mark.parametrize("variant", sorted(TUNING_VARIANTS))
def test_every_tuning_pod_is_restricted(
    variant: str, seed_doc: dict[str, Any], to_workspace: ToWorkspace
) -> None:
    doc = copy.deepcopy(seed_doc)
    doc["tuning"].update(TUNING_VARIANTS[variant])
    pod = _tuning_pod(to_workspace(doc))
    assert restricted_violations(pod) == []


def test_the_seed_tuning_pod_has_a_downloader_a_trainer_and_a_pusher(
    seed: v1beta1.Workspace,
) -> None:
    """The variant above that covers the most containers really has them all."""
    pod = _tuning_pod(seed)
    names = [c["name"] for c in [*pod["initContainers"], *pod["containers"]]]
    assert names == ["data-downloader", "workspace-tuning-phi-3", "adapter-pusher"]


@pytest.mark.parametrize(("replicas", "kind"), [(1, "Deployment"), (2, "StatefulSet")])
def test_every_preset_inference_pod_is_restricted(
    replicas: int, kind: str, inference_doc: dict[str, Any], to_workspace: ToWorkspace
) -> None:
    doc = copy.deepcopy(inference_doc)
    doc["inference"]["config"] = "my-inference-config"
    doc["inference"]["adapters"] = [
        {"source": {"name": "qa", "image": "registry.example.com/qa:1"}, "strength": "0.5"},
        {
            "source": {
                "name": "local",
                "volumeSource": {"persistentVolumeClaim": {"claimName": "adapters"}},
            }
        },
    ]
    built_kind, pod = _inference_pod(to_workspace(doc), replicas=replicas)
    assert built_kind == kind
    assert [c["name"] for c in pod["initContainers"]] == ["puller-qa"]
    assert restricted_violations(pod) == []


def test_the_runtime_home_and_caches_are_one_emptydir(seed: v1beta1.Workspace) -> None:
    pod = _tuning_pod(seed)
    trainer = pod["containers"][0]
    env = {e["name"]: e["value"] for e in trainer["env"] if "value" in e}
    home = env["HOME"]
    for key in ("XDG_CACHE_HOME", "HF_HOME", "TRITON_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR"):
        assert posixpath.commonpath([home, env[key]]) == home, key
    assert env["TMPDIR"] == "/tmp"


@pytest.mark.parametrize(
    ("pod", "problem"),
    [
        ({"hostNetwork": True}, "hostNetwork is set"),
        ({"automountServiceAccountToken": True}, "the ServiceAccount token is mounted"),
        ({"volumes": [{"name": "host", "hostPath": {"path": "/"}}]}, "volume host has type"),
        ({"securityContext": {"runAsUser": 0}}, "the pod's runAsUser is not a non-zero number"),
        (
            {"containers": [{"name": "c", "securityContext": {"capabilities": {"drop": ["ALL"]}}}]},
            "c: allowPrivilegeEscalation is not false",
        ),
        ({"containers": [{"name": "c", "env": [{"name": "HOME", "value": "/root"}]}]}, "c: /root"),
    ],
)
def test_the_checker_catches_what_restricted_rejects(
    pod: dict[str, Any], problem: str, seed: v1beta1.Workspace
) -> None:
    """The checker itself can fail: each change to a good pod is reported."""
    good = _tuning_pod(seed)
    bad = {**copy.deepcopy(good), **pod}
    if "securityContext" in pod:
        bad["securityContext"] = {**good["securityContext"], **pod["securityContext"]}
    assert restricted_violations(good) == []
    assert any(p.startswith(problem) for p in restricted_violations(bad)), problem
