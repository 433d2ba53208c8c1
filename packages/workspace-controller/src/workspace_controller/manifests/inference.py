"""The inference side of a Workspace: its Services and the workload that serves the model.

Workload shape:

- a preset whose model fits one node, or ``inference.template``: a **Deployment**; with several
  replicas each pod is an independent server behind the Service;
- a preset split across nodes (vLLM runtime, a preset that supports distributed inference, more
  than one node): a **StatefulSet** with ``podManagementPolicy: Parallel`` behind the headless
  Service ``<ws>-headless``, so every pod has a stable DNS name and pod 0 is the leader the others
  rendezvous with on port 29500. All pods of the group start together; ordered start-up would only
  delay the group.

Every workload and its pod template carry the spec revision (``workspace.kaito.io/revision``):
replacing the workload with a new revision changes the pod template as a whole (image, command,
env, volumes), so Kubernetes rolls the pods (Kaito patched only parts of the template and missed
image and command changes, #2124).

Rollout strategy (Kaito #1132): each pod takes all GPUs of its node (request = limit), and the
controller provisions exactly as many nodes as replicas, so a surge pod could never be scheduled
and ``maxSurge: 1`` would stall every rollout. The Deployment uses ``maxSurge: 0,
maxUnavailable: 1``: with N replicas, N-1 keep serving while one is replaced; with one replica a
rollout means a short outage, which only an extra (surge) node could avoid.

Preset pods pass Pod Security ``restricted`` (uid 1000, read-only root filesystem, no capability,
no ServiceAccount token; writes go to emptyDirs: /tmp, the runtime's home and caches, the weights
and adapter directories, /dev/shm). A template Workspace's pod is the user's, left as written.

Probes all ask ``GET /health`` on port 5000. The startup probe allows the preset's readiness
timeout (weights download and load) before liveness takes over.

The runtime is configured through environment variables, so a runtime that ignores one keeps
working: ``RUNTIME``, ``PORT``, ``MODEL_NAME``, ``MODEL_REPOSITORY``, ``MODEL_REVISION``,
``MODEL_DIR``, ``ADAPTERS_DIR``, ``GPU_COUNT``, optionally ``HF_TOKEN``, ``INFERENCE_CONFIG``,
``CHAT_TEMPLATE``, one variable per adapter named after it holding its strength (Kaito's
convention), and for multi-node groups ``NUM_NODES``, ``LEADER_ADDRESS``, ``RENDEZVOUS_PORT``,
``POD_NAME`` and ``POD_INDEX``.
"""

from __future__ import annotations

import copy
import math
import posixpath
from typing import TYPE_CHECKING, Any, Final

import preset_catalog
from kaito_apis.workspace import constants
from workspace_controller.manifests import common

if TYPE_CHECKING:
    from collections.abc import Iterable

    from kaito_apis.workspace import v1beta1
    from workspace_controller.settings import ImageSettings

__all__ = [
    "HTTP_PORT",
    "INFERENCE_CONFIG_KEY",
    "SERVE_COMMAND",
    "headless_service",
    "headless_service_name",
    "inference_workload",
    "is_multi_node",
    "service",
]

SERVE_COMMAND: Final = ("python", "-m", "model_runtime", "serve")
"""The model runtime's serving entrypoint (the runtime package provides it)."""
HTTP_PORT: Final = 80
"""The Service port clients use; it forwards to the server's port 5000."""
INFERENCE_CONFIG_KEY: Final = "inference_config.yaml"
"""The key of ``inference.config``'s ConfigMap the runtime reads."""
PROBE_PERIOD_SECONDS: Final = 10
POD_INDEX_LABEL: Final = "apps.kubernetes.io/pod-index"

SHM_VOLUME: Final = "dshm"
WEIGHTS_VOLUME: Final = "model-weights-volume"
CONFIG_VOLUME: Final = "config-volume"
ADAPTER_VOLUME: Final = "adapter-volume"

_HEADLESS_SUFFIX = "-headless"
_LEADER_POD_LABEL = "statefulset.kubernetes.io/pod-name"


def headless_service_name(ws: v1beta1.Workspace) -> str:
    """``<ws>-headless``, shortened with a hash when that would exceed 63 characters."""
    _, name = common.workspace_key(ws)
    return common.dns_label(name + _HEADLESS_SUFFIX)


def is_multi_node(*, preset: preset_catalog.Preset | None, replicas: int, runtime: str) -> bool:
    """Whether the replicas form one model split across nodes (StatefulSet) or serve apart."""
    return (
        preset is not None
        and preset.distributed_inference
        and replicas > 1
        and runtime == preset_catalog.Runtime.VLLM
    )


def service(ws: v1beta1.Workspace, *, leader_only: bool = False) -> dict[str, Any]:
    """The Service ``<ws>``: port 80 to the server's 5000, and 29500 for torchrun rendezvous.

    ClusterIP, or LoadBalancer when the Workspace is annotated ``kaito.sh/enablelb: "True"`` (any
    case). ``leader_only`` narrows the selector to pod 0 of a multi-node StatefulSet, the only pod
    that serves HTTP there.
    """
    _, name = common.workspace_key(ws)
    enable_lb = (ws.metadata.annotations or {}).get(constants.ANNOTATION_ENABLE_LB, "")
    selector = {constants.LABEL_WORKSPACE: name}
    if leader_only:
        selector[_LEADER_POD_LABEL] = f"{name}-0"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": common.namespaced_metadata(ws, name=name),
        "spec": {
            "type": "LoadBalancer" if enable_lb.lower() == "true" else "ClusterIP",
            "selector": selector,
            "ports": [
                _service_port("http", HTTP_PORT, common.SERVER_PORT),
                _service_port("torchrun", common.RENDEZVOUS_PORT, common.RENDEZVOUS_PORT),
            ],
        },
    }


def headless_service(ws: v1beta1.Workspace) -> dict[str, Any]:
    """The headless Service giving each pod of a multi-node group a DNS name, ready or not."""
    _, name = common.workspace_key(ws)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": common.namespaced_metadata(ws, name=headless_service_name(ws)),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": {constants.LABEL_WORKSPACE: name},
            "ports": [
                _service_port("torchrun", common.RENDEZVOUS_PORT, common.RENDEZVOUS_PORT),
            ],
        },
    }


def inference_workload(
    ws: v1beta1.Workspace,
    *,
    preset: preset_catalog.Preset | None,
    instance_type: preset_catalog.InstanceType,
    replicas: int,
    revision: str,
    images: ImageSettings,
    runtime: str,
) -> dict[str, Any]:
    """The Deployment or StatefulSet serving the Workspace (see the module docstring).

    ``preset`` is None for template Workspaces (and ignored when a template is set). ``runtime``
    is ``vllm`` or ``transformers`` and must be one the preset supports. Raises ``ValueError``
    for a Workspace without an inference section, a preset Workspace without a preset, an
    unsupported runtime, or an adapter without a name.
    """
    if ws.inference is None:
        raise ValueError("the Workspace has no inference section")
    if replicas < 0:
        raise ValueError(f"replicas must not be negative, got {replicas}")
    common.workspace_key(ws)  # fail early without a name or namespace
    annotations = common.revision_annotation(revision)
    if ws.inference.template is not None:
        pod_spec, pod_labels = _template_pod(ws, ws.inference.template)
        template_meta = {"labels": pod_labels, "annotations": annotations}
        return _deployment(ws, replicas, {"metadata": template_meta, "spec": pod_spec})
    if preset is None:
        raise ValueError("a preset Workspace needs its catalog preset to build the workload")
    _check_runtime(preset, runtime)
    multi_node = is_multi_node(preset=preset, replicas=replicas, runtime=runtime)
    pod_spec = _preset_pod(
        ws,
        ws.inference,
        preset=preset,
        instance_type=instance_type,
        replicas=replicas,
        images=images,
        runtime=runtime,
        multi_node=multi_node,
    )
    template = {
        "metadata": {"labels": common.workspace_labels(ws), "annotations": annotations},
        "spec": pod_spec,
    }
    if multi_node:
        return _statefulset(ws, replicas, template)
    return _deployment(ws, replicas, template)


def _deployment(ws: v1beta1.Workspace, replicas: int, template: dict[str, Any]) -> dict[str, Any]:
    _, name = common.workspace_key(ws)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": common.namespaced_metadata(
            ws, name=name, annotations=template["metadata"]["annotations"]
        ),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {constants.LABEL_WORKSPACE: name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
            },
            "template": template,
        },
    }


def _statefulset(ws: v1beta1.Workspace, replicas: int, template: dict[str, Any]) -> dict[str, Any]:
    _, name = common.workspace_key(ws)
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": common.namespaced_metadata(
            ws, name=name, annotations=template["metadata"]["annotations"]
        ),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {constants.LABEL_WORKSPACE: name}},
            "serviceName": headless_service_name(ws),
            "podManagementPolicy": "Parallel",
            "updateStrategy": {"type": "RollingUpdate"},
            "template": template,
        },
    }


def _template_pod(
    ws: v1beta1.Workspace, template: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The user's pod spec and labels, with our label, node affinity and tolerations added.

    The node affinity replaces the user's (the nodes are the Workspace's, selected by its
    labelSelector); pod (anti-)affinity and everything else the user wrote stay as written.
    """
    user = copy.deepcopy(template)
    labels = {**(user.get("metadata") or {}).get("labels", {}), **common.workspace_labels(ws)}
    spec: dict[str, Any] = user.get("spec") or {}
    node_affinity = common.node_affinity(ws)
    if node_affinity:
        spec["affinity"] = {**(spec.get("affinity") or {}), **node_affinity}
    tolerations: list[dict[str, Any]] = list(spec.get("tolerations") or [])
    tolerations += [t for t in common.gpu_tolerations() if t not in tolerations]
    spec["tolerations"] = tolerations
    return spec, labels


def _check_runtime(preset: preset_catalog.Preset, runtime: str) -> None:
    supported = [str(r) for r in preset.runtimes]
    if runtime not in supported:
        raise ValueError(
            f"runtime {runtime!r} cannot serve preset {preset.name} "
            f"(supported: {', '.join(supported)})"
        )


def _preset_pod(
    ws: v1beta1.Workspace,
    inference: v1beta1.InferenceSpec,
    *,
    preset: preset_catalog.Preset,
    instance_type: preset_catalog.InstanceType,
    replicas: int,
    images: ImageSettings,
    runtime: str,
    multi_node: bool,
) -> dict[str, Any]:
    namespace, name = common.workspace_key(ws)
    volumes: list[dict[str, Any]] = [
        {"name": SHM_VOLUME, "emptyDir": {"medium": "Memory"}},
        {"name": WEIGHTS_VOLUME, "emptyDir": {}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": SHM_VOLUME, "mountPath": "/dev/shm"},
        {"name": WEIGHTS_VOLUME, "mountPath": common.WEIGHTS_DIR},
    ]
    env: list[dict[str, Any]] = [
        {"name": "RUNTIME", "value": runtime},
        {"name": "PORT", "value": str(common.SERVER_PORT)},
        {"name": "ADAPTERS_DIR", "value": common.ADAPTERS_DIR},
        {"name": "GPU_COUNT", "value": str(instance_type.gpu.count)},
        *common.model_env(preset, access_secret=_access_secret(inference)),
        *common.writable_env(),
    ]
    if preset.chat_template:
        env.append({"name": "CHAT_TEMPLATE", "value": preset.chat_template})
    if inference.config:
        volumes.append({"name": CONFIG_VOLUME, "configMap": {"name": inference.config}})
        mounts.append({"name": CONFIG_VOLUME, "mountPath": common.CONFIG_DIR, "readOnly": True})
        config_path = posixpath.join(common.CONFIG_DIR, INFERENCE_CONFIG_KEY)
        env.append({"name": "INFERENCE_CONFIG", "value": config_path})
    init_containers = _add_adapters(inference.adapters or (), volumes, mounts, env, images)
    _add_missing(volumes, [common.scratch_volume(), common.home_volume()])
    mounts += [common.scratch_mount(), common.home_mount()]
    ports = [{"name": "http", "containerPort": common.SERVER_PORT, "protocol": "TCP"}]
    if multi_node:
        leader = f"{name}-0.{headless_service_name(ws)}.{namespace}.svc.cluster.local"
        env += [
            {"name": "NUM_NODES", "value": str(replicas)},
            {"name": "LEADER_ADDRESS", "value": leader},
            {"name": "RENDEZVOUS_PORT", "value": str(common.RENDEZVOUS_PORT)},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {
                "name": "POD_INDEX",
                "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{POD_INDEX_LABEL}']"}},
            },
        ]
        ports.append(
            {"name": "torchrun", "containerPort": common.RENDEZVOUS_PORT, "protocol": "TCP"}
        )
    server = {
        "name": name,
        "image": preset_catalog.runtime_image_reference(preset, registry=images.registry),
        "imagePullPolicy": images.pull_policy,
        "command": list(SERVE_COMMAND),
        "env": env,
        "ports": ports,
        "resources": preset_catalog.gpu_resource_requirements(instance_type),
        "startupProbe": _probe(
            failureThreshold=max(
                1, math.ceil(preset.readiness_timeout_seconds / PROBE_PERIOD_SECONDS)
            )
        ),
        "livenessProbe": _probe(failureThreshold=3, timeoutSeconds=5),
        "readinessProbe": _probe(failureThreshold=3, timeoutSeconds=5),
        "volumeMounts": mounts,
        "securityContext": common.container_security_context(),
    }
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "securityContext": common.pod_security_context(),
        "tolerations": common.gpu_tolerations(),
        "containers": [server],
        "volumes": volumes,
    }
    if init_containers:
        pod_spec["initContainers"] = init_containers
    affinity = common.node_affinity(ws)
    if affinity:
        pod_spec["affinity"] = affinity
    return pod_spec


def _add_adapters(
    adapters: Iterable[v1beta1.AdapterSpec],
    volumes: list[dict[str, Any]],
    mounts: list[dict[str, Any]],
    env: list[dict[str, Any]],
    images: ImageSettings,
) -> list[dict[str, Any]]:
    """Add each adapter's volume, mount and strength; return the image adapters' pullers.

    Image adapters are copied by an init container each into ``/mnt/adapter/<name>`` on a shared
    emptyDir; volume adapters are mounted read-only at ``/mnt/adapter/<name>`` directly.
    """
    init_containers: list[dict[str, Any]] = []
    shared = {"name": ADAPTER_VOLUME, "mountPath": common.ADAPTERS_DIR}
    for adapter in adapters:
        source = adapter.source
        if not source.name:
            raise ValueError("every inference adapter needs source.name")
        directory = posixpath.join(common.ADAPTERS_DIR, source.name)
        env.append({"name": source.name, "value": adapter.strength or "1.0"})
        if source.image:
            secret_volumes, secret_mounts = common.pull_secret_volumes(
                source.image_pull_secrets or ()
            )
            _add_missing(volumes, secret_volumes)
            init_containers.append(
                common.puller_container(
                    name=common.dns_label(f"puller-{source.name}"),
                    image=images.image_puller,
                    pull_policy=images.pull_policy,
                    source=source.image,
                    destination=directory,
                    mounts=[shared, *secret_mounts],
                )
            )
        elif source.volume_source is not None:
            volume = common.dns_label(f"adapter-{source.name}")
            volumes.append({"name": volume, **copy.deepcopy(source.volume_source)})
            mounts.append({"name": volume, "mountPath": directory, "readOnly": True})
        else:
            raise ValueError(f"adapter {source.name!r} needs an image or a volumeSource")
    if init_containers:
        _add_missing(volumes, [{"name": ADAPTER_VOLUME, "emptyDir": {}}, common.scratch_volume()])
        # The shared directory first, so the volume adapters' mounts nest inside it.
        mounts.insert(2, shared)
    return init_containers


def _add_missing(volumes: list[dict[str, Any]], new: Iterable[dict[str, Any]]) -> None:
    names = {v["name"] for v in volumes}
    for volume in new:
        if volume["name"] not in names:
            volumes.append(volume)
            names.add(volume["name"])


def _access_secret(inference: v1beta1.InferenceSpec) -> str | None:
    return common.access_secret(inference.preset) if inference.preset is not None else None


def _startup_failure_threshold(preset: preset_catalog.Preset) -> int:
    """Probe failures allowed before the server counts as hung: the preset's readiness timeout."""
    return max(1, math.ceil(preset.readiness_timeout_seconds / PROBE_PERIOD_SECONDS))


def _probe(**settings: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": "/health", "port": common.SERVER_PORT},
        "periodSeconds": PROBE_PERIOD_SECONDS,
        **settings,
    }


def _service_port(name: str, port: int, target: int) -> dict[str, Any]:
    return {"name": name, "port": port, "targetPort": target, "protocol": "TCP"}
