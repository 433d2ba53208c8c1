"""The fine-tuning Job of a tuning Workspace, and the ConfigMap holding its training config.

One Job per Workspace, named after it, running the preset's runtime image with the ``tune``
entrypoint of our model runtime. The pod is assembled around the runtime contract:

- ``/mnt/config/training_config.yaml``: the ConfigMap (the method's default, or the user's);
- ``/mnt/data``: the training data, from one of three sources: URLs (an init container, the
  runtime's ``download`` entrypoint from the trainer's image unless ``images.data_downloader``
  names another, downloads each into the directory; the URLs are checked here against private and
  metadata addresses by their text, and the downloader checks every address a host resolves to
  before it connects, each redirect again), an image (an init container copies the image's
  ``/data``), or the user's volume, mounted directly;
- ``output_dir`` (under /mnt): the results. With an output volume the adapter lands there and
  the Job is done; with an output image a sidecar (the runtime's ``push`` entrypoint, from the
  same image as the trainer unless ``images.adapter_pusher`` names another) waits for the
  completion marker and pushes the adapter as a one-layer OCI image. The sidecar is unprivileged
  (Kaito used Docker-in-Docker before #950) and shares the pod's process namespace to notice a
  trainer that died.

Every container runs as uid 1000 with a read-only root filesystem and no capability, and the pod
gets no ServiceAccount token (Pod Security ``restricted``; see :mod:`.common`); the trainer writes
to its emptyDirs only: /tmp, its home and caches, the weights, data and results directories.

The Job is annotated with the spec revision; the reconciler deletes and recreates it when the
revision changes (a Job's pod template is immutable). ``backoffLimit`` is 1 and pod disruptions
(preemption, node drain) do not count: a training failure is rarely transient and every retry
costs GPU hours and a fresh download, while a lost node should not use the retry up.
"""

from __future__ import annotations

import posixpath
import re
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import yaml

import preset_catalog
from workspace_controller.manifests import common, urls

if TYPE_CHECKING:
    from kaito_apis.workspace import v1beta1
    from workspace_controller.settings import ImageSettings

__all__ = [
    "BACKOFF_LIMIT",
    "DOWNLOAD_COMMAND",
    "PUSH_COMMAND",
    "TUNE_COMMAND",
    "download_file_names",
    "tuning_configmap",
    "tuning_job",
]

TUNE_COMMAND: Final = ("python", "-m", "model_runtime", "tune")
"""The model runtime's fine-tuning entrypoint (the runtime package provides it)."""
PUSH_COMMAND: Final = ("python", "-m", "model_runtime", "push")
"""The model runtime's adapter-pusher entrypoint (the output-image sidecar)."""
DOWNLOAD_COMMAND: Final = ("python", "-m", "model_runtime", "download")
"""The model runtime's URL downloader (the input init container); ``FILE URL`` pairs follow."""
BACKOFF_LIMIT: Final = 1
"""Retries of a failed tuning pod (disruptions excluded)."""
PUSH_POLL_SECONDS: Final = 10
"""How often the pusher looks for the completion marker."""

CONFIG_VOLUME: Final = "config-volume"
DATA_VOLUME: Final = "data-volume"
RESULTS_VOLUME: Final = "results-volume"
WEIGHTS_VOLUME: Final = "model-weights-volume"
SHM_VOLUME: Final = "dshm"
PUSH_SECRET_VOLUME: Final = "push-secret"
DOCKER_CONFIG_DIR: Final = "/var/run/secrets/kaito/push"
"""Where the push Secret's ``config.json`` is mounted; not under /root, which the runtime
image's non-root user cannot enter."""

_SAFE_FILE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_RESERVED_OUTPUT_DIRS = (common.CONFIG_DIR, common.DATA_DIR)


def tuning_configmap(
    ws: v1beta1.Workspace, *, name: str, config: Mapping[str, Any]
) -> dict[str, Any]:
    """A ConfigMap in the Workspace's namespace with ``config`` as ``training_config.yaml``."""
    text = yaml.safe_dump(_plain(config), sort_keys=False, default_flow_style=False)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": common.namespaced_metadata(ws, name=name),
        "data": {preset_catalog.TUNING_CONFIG_KEY: text},
    }


def tuning_job(
    ws: v1beta1.Workspace,
    *,
    preset: preset_catalog.Preset,
    instance_type: preset_catalog.InstanceType,
    config_map_name: str,
    output_dir: str,
    revision: str,
    images: ImageSettings,
) -> dict[str, Any]:
    """The ``batch/v1`` Job that fine-tunes ``preset`` on one node of ``instance_type``.

    Raises ``ValueError`` when the Workspace has no tuning section, a tuning URL is unsafe, or
    ``output_dir`` is not a directory below /mnt that the other mounts leave free.
    """
    if ws.tuning is None:
        raise ValueError("the Workspace has no tuning section")
    _, name = common.workspace_key(ws)
    output_dir = _checked_output_dir(output_dir)
    pod = _Pod()
    pod.volumes += [
        {"name": CONFIG_VOLUME, "configMap": {"name": config_map_name}},
        {"name": WEIGHTS_VOLUME, "emptyDir": {}},
        {"name": SHM_VOLUME, "emptyDir": {"medium": "Memory"}},
        common.scratch_volume(),
        common.home_volume(),
    ]
    _add_input(pod, ws.tuning.input, preset, images)
    _add_output(pod, ws.tuning.output, preset=preset, output_dir=output_dir, images=images)
    trainer = _trainer(
        name,
        ws.tuning,
        preset=preset,
        instance_type=instance_type,
        output_dir=output_dir,
        images=images,
    )
    annotations = common.revision_annotation(revision)
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": common.pod_security_context(),
        "tolerations": common.gpu_tolerations(),
        "containers": [trainer, *pod.sidecars],
        "volumes": pod.volumes,
    }
    if pod.init_containers:
        pod_spec["initContainers"] = pod.init_containers
    if pod.sidecars:
        pod_spec["shareProcessNamespace"] = True
    if pod.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": s} for s in pod.image_pull_secrets]
    affinity = common.node_affinity(ws)
    if affinity:
        pod_spec["affinity"] = affinity
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": common.namespaced_metadata(ws, name=name, annotations=annotations),
        "spec": {
            "backoffLimit": BACKOFF_LIMIT,
            "podFailurePolicy": {
                "rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]
            },
            "template": {
                "metadata": {"labels": common.workspace_labels(ws), "annotations": annotations},
                "spec": pod_spec,
            },
        },
    }


def download_file_names(url_list: list[str]) -> list[str]:
    """The file name each URL is saved under in /mnt/data: its path's last segment.

    The query and fragment are dropped and percent-escapes decoded (``train.parquet?download=true``
    is saved as ``train.parquet``); characters other than letters, digits, ``.``, ``_`` and ``-``
    become ``_``; an empty or hidden name becomes ``data-<n>``; a name used twice is prefixed with
    the URL's position, so no download overwrites another. The extension is kept because the
    runtime picks the dataset format from it.
    """
    names: list[str] = []
    for index, url in enumerate(url_list):
        path = urllib.parse.urlsplit(url).path
        base = urllib.parse.unquote(path.rsplit("/", 1)[-1])
        base = _SAFE_FILE_NAME.sub("_", base).lstrip(".")
        if not base:
            base = f"data-{index}"
        if base in names:
            base = f"{index}-{base}"
        names.append(base)
    return names


class _Pod:
    """What the input and output sources add to the pod, collected before it is assembled."""

    def __init__(self) -> None:
        self.volumes: list[dict[str, Any]] = []
        self.init_containers: list[dict[str, Any]] = []
        self.sidecars: list[dict[str, Any]] = []
        self.trainer_mounts: list[dict[str, Any]] = []
        self.image_pull_secrets: list[str] = []


def _add_input(
    pod: _Pod, source: v1beta1.DataSource, preset: preset_catalog.Preset, images: ImageSettings
) -> None:
    data_mount = {"name": DATA_VOLUME, "mountPath": common.DATA_DIR}
    if source.volume_source is not None:
        pod.volumes.append({"name": DATA_VOLUME, **_plain(source.volume_source)})
        return
    pod.volumes.append({"name": DATA_VOLUME, "emptyDir": {}})
    if source.urls:
        pod.init_containers.append(_downloader(source.urls, data_mount, preset, images))
        return
    if source.image:
        volumes, mounts = common.pull_secret_volumes(source.image_pull_secrets or ())
        pod.volumes += volumes
        pod.init_containers.append(
            common.puller_container(
                name="data-puller",
                image=images.image_puller,
                pull_policy=images.pull_policy,
                source=source.image,
                destination=common.DATA_DIR,
                mounts=[data_mount, *mounts],
            )
        )
        return
    raise ValueError("tuning.input must set one of urls, image or volumeSource")


def _downloader(
    url_list: list[str],
    data_mount: dict[str, Any],
    preset: preset_catalog.Preset,
    images: ImageSettings,
) -> dict[str, Any]:
    for url in url_list:
        reason = urls.unsafe_url_reason(url)
        if reason is not None:
            raise ValueError(f"tuning input URL {url!r} is not allowed: {reason}")
    args: list[str] = []
    for file_name, url in zip(download_file_names(url_list), url_list, strict=True):
        args += [file_name, url]
    return {
        "name": "data-downloader",
        "image": images.data_downloader
        or preset_catalog.runtime_image_reference(preset, registry=images.registry),
        "imagePullPolicy": images.pull_policy,
        "command": [*DOWNLOAD_COMMAND, *args],
        "env": [
            *common.writable_env(home=common.SCRATCH_DIR),
            {"name": "DATA_DIR", "value": common.DATA_DIR},
            {"name": "ATTEMPTS", "value": str(common.HELPER_ATTEMPTS)},
            {"name": "RETRY_DELAY_SECONDS", "value": str(common.HELPER_RETRY_DELAY_SECONDS)},
        ],
        "volumeMounts": [data_mount, common.scratch_mount()],
        "securityContext": common.container_security_context(),
    }


def _add_output(
    pod: _Pod,
    destination: v1beta1.DataDestination,
    *,
    preset: preset_catalog.Preset,
    output_dir: str,
    images: ImageSettings,
) -> None:
    if destination.volume_source is not None:
        pod.volumes.append({"name": RESULTS_VOLUME, **_plain(destination.volume_source)})
        return
    if not destination.image or not destination.image_push_secret:
        raise ValueError("tuning.output must set volumeSource, or image with imagePushSecret")
    pod.volumes += [
        {"name": RESULTS_VOLUME, "emptyDir": {}},
        {
            "name": PUSH_SECRET_VOLUME,
            "secret": common.docker_config_secret(destination.image_push_secret),
        },
    ]
    pod.image_pull_secrets.append(destination.image_push_secret)
    pod.sidecars.append(
        {
            "name": "adapter-pusher",
            "image": images.adapter_pusher
            or preset_catalog.runtime_image_reference(preset, registry=images.registry),
            "imagePullPolicy": images.pull_policy,
            "command": list(PUSH_COMMAND),
            "env": [
                *common.writable_env(home=common.SCRATCH_DIR),
                {"name": "OUTPUT_DIR", "value": output_dir},
                {"name": "MARKER", "value": common.COMPLETION_MARKER},
                {"name": "IMAGE", "value": destination.image},
                {"name": "PRESET_NAME", "value": preset.name},
                {"name": "DOCKER_CONFIG", "value": DOCKER_CONFIG_DIR},
                {"name": "TRAINER_MATCH", "value": " ".join(TUNE_COMMAND[-2:])},
                {"name": "POLL_SECONDS", "value": str(PUSH_POLL_SECONDS)},
                {"name": "ATTEMPTS", "value": str(common.HELPER_ATTEMPTS)},
                {"name": "RETRY_DELAY_SECONDS", "value": str(common.HELPER_RETRY_DELAY_SECONDS)},
            ],
            "volumeMounts": [
                {"name": RESULTS_VOLUME, "mountPath": output_dir, "readOnly": True},
                {"name": PUSH_SECRET_VOLUME, "mountPath": DOCKER_CONFIG_DIR, "readOnly": True},
                common.scratch_mount(),
            ],
            "securityContext": common.container_security_context(),
        }
    )


def _trainer(
    name: str,
    tuning: v1beta1.TuningSpec,
    *,
    preset: preset_catalog.Preset,
    instance_type: preset_catalog.InstanceType,
    output_dir: str,
    images: ImageSettings,
) -> dict[str, Any]:
    config_path = posixpath.join(common.CONFIG_DIR, preset_catalog.TUNING_CONFIG_KEY)
    env = [
        {"name": "PYTORCH_CUDA_ALLOC_CONF", "value": "expandable_segments:True"},
        {"name": "TRAINING_CONFIG", "value": config_path},
        # The variable Kaito's trainer reads; same file.
        {"name": "YAML_FILE_PATH", "value": config_path},
        {"name": "DATASET_FOLDER_PATH", "value": common.DATA_DIR},
        {"name": "TUNING_METHOD", "value": tuning.method.lower()},
        {"name": "DEFAULT_TARGET_MODULES", "value": ",".join(preset.lora_target_modules)},
        {"name": "GPU_COUNT", "value": str(instance_type.gpu.count)},
        *common.model_env(preset, access_secret=common.access_secret(tuning.preset)),
        *common.writable_env(),
    ]
    return {
        "name": name,
        "image": preset_catalog.runtime_image_reference(preset, registry=images.registry),
        "imagePullPolicy": images.pull_policy,
        "command": list(TUNE_COMMAND),
        "env": env,
        "ports": [{"name": "metrics", "containerPort": common.SERVER_PORT, "protocol": "TCP"}],
        "resources": preset_catalog.gpu_resource_requirements(instance_type),
        "volumeMounts": [
            {"name": CONFIG_VOLUME, "mountPath": common.CONFIG_DIR, "readOnly": True},
            {"name": DATA_VOLUME, "mountPath": common.DATA_DIR},
            {"name": RESULTS_VOLUME, "mountPath": output_dir},
            {"name": WEIGHTS_VOLUME, "mountPath": common.WEIGHTS_DIR},
            {"name": SHM_VOLUME, "mountPath": "/dev/shm"},
            common.scratch_mount(),
            common.home_mount(),
        ],
        "securityContext": common.container_security_context(),
    }


def _checked_output_dir(output_dir: str) -> str:
    path = posixpath.normpath(output_dir) if output_dir.startswith("/") else ""
    root = common.OUTPUT_ROOT
    if not path.startswith(root + "/"):
        raise ValueError(
            f"TrainingArguments.output_dir {output_dir!r} must be a directory below {root}"
        )
    for reserved in _RESERVED_OUTPUT_DIRS:
        if path == reserved or path.startswith(reserved + "/"):
            raise ValueError(
                f"TrainingArguments.output_dir {output_dir!r} must not be inside {reserved}, "
                "which holds the tuning config and data"
            )
    return path


def _plain(value: Any) -> Any:
    """A deep copy made of dicts, lists and scalars only (YAML-safe, and never shared)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
