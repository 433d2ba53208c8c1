"""Pieces every manifest shares: identity, ownership, placement, hashing, and the runtime contract.

A Workspace's objects are found again by label (``kaito.sh/workspace`` and
``kaito.sh/workspacenamespace``, Kaito's keys, so existing tooling keeps working), owned through a
controller owner reference where they are namespaced, placed on the Workspace's GPU nodes by a
required node affinity built from its ``labelSelector``, and allowed onto those nodes by the
tolerations for the taints GPU nodes carry. The spec hash decides when a workload is rebuilt.

The runtime contract (paths, ports, the completion marker) is spelled out here once because both
the tuning Job and the inference workload mount the same directories, and the model runtime reads
them: config under /mnt/config, data under /mnt/data, results under /mnt, the server on port 5000.

Every pod the controller writes from its own builders passes Pod Security ``restricted``: it runs
as uid/gid 1000 (the runtime image's user; upstream helper images such as skopeo would otherwise
start as root), never gains privileges, drops every capability, uses the runtime's default seccomp
profile, has a read-only root filesystem and gets no ServiceAccount token (nothing in it talks to
the API server). What a container writes goes to an emptyDir: ``/tmp`` (:func:`scratch_volume`),
the runtime's home with its caches (:func:`home_volume`, :func:`writable_env`), the weights, data,
adapter and results directories, ``/dev/shm``. ``inference.template`` is the user's pod and is
left as written; Pod Security Admission on the namespace is what guards it.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from typing import TYPE_CHECKING, Any, Final

from kaito_apis.workspace import constants, v1beta1
from workspace_controller.manifests import scripts

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from preset_catalog import Preset

__all__ = [
    "ADAPTERS_DIR",
    "AUTH_DIR",
    "COMPLETION_MARKER",
    "CONFIG_DIR",
    "DATA_DIR",
    "HOME_DIR",
    "OUTPUT_ROOT",
    "RENDEZVOUS_PORT",
    "RUN_AS_GROUP",
    "RUN_AS_USER",
    "SERVER_PORT",
    "WEIGHTS_DIR",
    "access_secret",
    "container_security_context",
    "dns_label",
    "docker_config_secret",
    "gpu_tolerations",
    "home_mount",
    "home_volume",
    "model_env",
    "namespaced_metadata",
    "node_affinity",
    "owner_reference",
    "pod_security_context",
    "pull_secret_volumes",
    "puller_container",
    "revision_annotation",
    "scratch_mount",
    "scratch_volume",
    "spec_hash",
    "user_node_labels",
    "workspace_key",
    "workspace_labels",
    "writable_env",
]

# The runtime contract.
CONFIG_DIR: Final = "/mnt/config"
"""Where the config ConfigMap is mounted (training_config.yaml, inference_config.yaml)."""
DATA_DIR: Final = "/mnt/data"
"""Where tuning data lands (downloaded, pulled from an image, or the user's volume)."""
OUTPUT_ROOT: Final = "/mnt"
"""Tuning results (TrainingArguments.output_dir) must live below this directory."""
ADAPTERS_DIR: Final = "/mnt/adapter"
"""One sub-directory per LoRA adapter the inference server loads."""
WEIGHTS_DIR: Final = "/workspace/weights"
"""Where the runtime keeps (downloads) the base model's weights."""
COMPLETION_MARKER: Final = "fine_tuning_completed.txt"
"""Written to output_dir by the trainer once the adapter files are complete."""
SERVER_PORT: Final = 5000
"""The inference server (and the trainer's metrics) listen here; /health answers readiness."""
RENDEZVOUS_PORT: Final = 29500
"""torch.distributed rendezvous between the pods of a multi-node group."""

HOME_DIR: Final = "/home/runtime"
"""``HOME`` of the runtime (the image's home), an emptyDir: Hugging Face, torch, triton caches."""
RUN_AS_USER: Final = 1000
"""The uid every container runs as: the runtime image's user, never root."""
RUN_AS_GROUP: Final = 1000
"""The gid every container runs as, and the group that owns the pod's volumes (fsGroup)."""

# The helper containers (downloader, pullers, pusher).
AUTH_DIR: Final = "/var/run/secrets/kaito/pull"
"""Docker configs for pulling images (one sub-directory per Secret) in puller containers; not
under /root, which a non-root user cannot enter."""
HELPER_ATTEMPTS: Final = 3
"""How often a helper tries a download, image copy or push before failing the pod."""
HELPER_RETRY_DELAY_SECONDS: Final = 2
"""Pause between a helper's attempts."""
SCRATCH_VOLUME: Final = "scratch"
SCRATCH_DIR: Final = "/tmp"
HOME_VOLUME: Final = "runtime-home"

TAINT_SKU_KEY: Final = "sku"
TAINT_SKU_VALUE: Final = "gpu"

_DNS_LABEL_MAX = 63
_NOT_DNS = re.compile(r"[^a-z0-9-]+")


def workspace_key(ws: v1beta1.Workspace) -> tuple[str, str]:
    """``(namespace, name)`` of the Workspace; both must be set, as they are on the server."""
    name, namespace = ws.metadata.name, ws.metadata.namespace
    if not name or not namespace:
        raise ValueError("the Workspace must have metadata.name and metadata.namespace")
    return namespace, name


def workspace_labels(ws: v1beta1.Workspace) -> dict[str, str]:
    """The labels that tie an object (claim, node, Job, pod) back to its Workspace."""
    namespace, name = workspace_key(ws)
    return {constants.LABEL_WORKSPACE: name, constants.LABEL_WORKSPACE_NAMESPACE: namespace}


def user_node_labels(ws: v1beta1.Workspace) -> dict[str, str]:
    """The node labels the Workspace selects on, minus the keys the controller owns.

    ``matchLabels`` plus every ``In`` expression with exactly one value (the only kind the CRD
    admits); reserved keys are dropped silently, as Kaito does, so a user cannot make the
    controller adopt nodes of another Workspace.
    """
    selector = ws.resource.label_selector
    labels = dict(selector.match_labels or {})
    for expression in selector.match_expressions or ():
        if expression.operator == "In" and expression.values and len(expression.values) == 1:
            labels.setdefault(expression.key, expression.values[0])
    return {k: v for k, v in sorted(labels.items()) if k not in constants.RESERVED_SELECTOR_KEYS}


def owner_reference(ws: v1beta1.Workspace) -> dict[str, Any]:
    """A controller owner reference to the Workspace: garbage collection deletes with it."""
    _, name = workspace_key(ws)
    if not ws.metadata.uid:
        raise ValueError("the Workspace must have metadata.uid to own objects")
    return {
        "apiVersion": v1beta1.API_VERSION,
        "kind": constants.KIND,
        "name": name,
        "uid": ws.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def namespaced_metadata(
    ws: v1beta1.Workspace,
    *,
    name: str,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``metadata`` of an object in the Workspace's namespace, owned by the Workspace."""
    namespace, _ = workspace_key(ws)
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": {**workspace_labels(ws), **(labels or {})},
        "ownerReferences": [owner_reference(ws)],
    }
    if annotations:
        metadata["annotations"] = dict(annotations)
    return metadata


def gpu_tolerations() -> list[dict[str, Any]]:
    """Tolerations for the taints GPU nodes carry: the device plugin's, ours, Azure spot's."""
    return [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {
            "key": TAINT_SKU_KEY,
            "operator": "Equal",
            "value": TAINT_SKU_VALUE,
            "effect": "NoSchedule",
        },
        {
            "key": "kubernetes.azure.com/scalesetpriority",
            "operator": "Equal",
            "value": "spot",
            "effect": "NoSchedule",
        },
    ]


def node_affinity(ws: v1beta1.Workspace) -> dict[str, Any]:
    """A pod ``affinity`` requiring every user node label (one ``In`` expression per label).

    The expressions sit in one node selector term so that they must all hold (terms are ORed).
    With no user labels left after stripping reserved keys the result is ``{}``: an empty term
    would match no node at all.
    """
    labels = user_node_labels(ws)
    if not labels:
        return {}
    expressions = [{"key": k, "operator": "In", "values": [v]} for k, v in labels.items()]
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": expressions}]
            }
        }
    }


def spec_hash(ws: v1beta1.Workspace) -> str:
    """SHA-256 (hex) of ``resource``, ``inference`` and ``tuning`` as they are on the wire.

    Canonical JSON (sorted keys, no whitespace) of the three sections, absent ones as null, so
    the hash only changes when the spec does; metadata and status never count. CRD defaults are
    part of the models, so a manifest read from a file hashes like the stored object.
    """
    wire = ws.to_wire()
    spec = {key: wire.get(key) for key in ("resource", "inference", "tuning")}
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def revision_annotation(revision: str) -> dict[str, str]:
    """The annotation that records which spec revision an object was built from."""
    return {constants.ANNOTATION_REVISION: revision}


def pod_security_context() -> dict[str, Any]:
    """Pod-level hardening (Pod Security ``restricted``): non-root uid/gid 1000, default seccomp.

    ``fsGroup`` makes the pod's volumes writable by that group; ``OnRootMismatch`` skips the
    recursive ownership change on a user's volume that already has it.
    """
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_GROUP,
        "fsGroup": RUN_AS_GROUP,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    """Every container: unprivileged, no privilege gain, no capability, read-only root.

    None of them needs a capability: they write only to emptyDirs (world-writable) and the
    pod's volumes (group-writable through fsGroup), and extract archives without restoring
    ownership.
    """
    return {
        "privileged": False,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def writable_env(*, home: str = HOME_DIR) -> list[dict[str, Any]]:
    """Environment pointing every place a container writes by default into emptyDirs.

    With a read-only root filesystem, ``HOME`` (and what libraries keep under it: the Hugging
    Face hub and datasets caches, torch, triton and CUDA caches) must be a volume, and
    temporary files go to /tmp.
    """
    cache = posixpath.join(home, ".cache")
    return [
        {"name": "HOME", "value": home},
        {"name": "TMPDIR", "value": SCRATCH_DIR},
        {"name": "XDG_CACHE_HOME", "value": cache},
        {"name": "HF_HOME", "value": posixpath.join(cache, "huggingface")},
        {"name": "TRITON_CACHE_DIR", "value": posixpath.join(cache, "triton")},
        {"name": "TORCHINDUCTOR_CACHE_DIR", "value": posixpath.join(cache, "torchinductor")},
    ]


def dns_label(text: str, *, max_length: int = _DNS_LABEL_MAX) -> str:
    """``text`` as a DNS-1123 label (container, volume and port names), stable and unique.

    Text that already is a label short enough is returned unchanged; anything else is
    lower-cased, stripped of other characters and suffixed with a short hash of the original,
    so two different inputs do not collide after sanitising.
    """
    if len(text) <= max_length and re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", text):
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    stem = _NOT_DNS.sub("-", text.lower()).strip("-")[: max_length - len(digest) - 1].strip("-")
    return f"{stem}-{digest}" if stem else digest


def model_env(preset: Preset, *, access_secret: str | None) -> list[dict[str, Any]]:
    """Environment telling the runtime which model to load, shared by tuning and serving.

    The runtime downloads ``MODEL_REPOSITORY`` at ``MODEL_REVISION`` into ``MODEL_DIR`` unless the
    weights are already there; ``HF_TOKEN`` comes from the Workspace's modelAccessSecret (key
    HF_TOKEN), as in Kaito.
    """
    env: list[dict[str, Any]] = [
        {"name": "MODEL_NAME", "value": preset.name},
        {"name": "MODEL_REPOSITORY", "value": preset.model.repository},
        {"name": "MODEL_REVISION", "value": preset.model.revision},
        {"name": "MODEL_DIR", "value": WEIGHTS_DIR},
    ]
    if access_secret:
        env.append(
            {
                "name": "HF_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": access_secret, "key": "HF_TOKEN"}},
            }
        )
    return env


def access_secret(spec: v1beta1.PresetSpec) -> str | None:
    """The modelAccessSecret of a preset spec, if any."""
    options = spec.preset_options
    return options.model_access_secret if options is not None else None


def pull_secret_volumes(
    secrets: Iterable[str],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Volumes and mounts that place each docker-config Secret at ``AUTH_DIR/<secret>/config.json``.

    The puller script tries each of them in turn. The Secrets are ``kubernetes.io/dockerconfigjson``
    (key ``.dockerconfigjson``), the kind ``kubectl create secret docker-registry`` makes.
    """
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    for secret in dict.fromkeys(secrets):
        volume = dns_label(f"pull-secret-{secret}")
        volumes.append({"name": volume, "secret": docker_config_secret(secret)})
        mounts.append({"name": volume, "mountPath": f"{AUTH_DIR}/{secret}", "readOnly": True})
    return volumes, mounts


def docker_config_secret(secret: str) -> dict[str, Any]:
    """A ``secret`` volume source exposing a docker-config Secret as ``config.json``."""
    return {"secretName": secret, "items": [{"key": ".dockerconfigjson", "path": "config.json"}]}


def puller_container(
    *,
    name: str,
    image: str,
    pull_policy: str,
    source: str,
    destination: str,
    mounts: list[dict[str, Any]],
) -> dict[str, Any]:
    """An init container copying the ``/data`` directory of image ``source`` to ``destination``."""
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": pull_policy,
        "command": ["/bin/sh", "-c", scripts.PULL_SCRIPT, name, source, destination],
        "env": [
            # skopeo keeps its blob cache under HOME and large temporary files under TMPDIR.
            {"name": "HOME", "value": SCRATCH_DIR},
            {"name": "TMPDIR", "value": SCRATCH_DIR},
            {"name": "AUTH_DIR", "value": AUTH_DIR},
            {"name": "ATTEMPTS", "value": str(HELPER_ATTEMPTS)},
            {"name": "RETRY_DELAY_SECONDS", "value": str(HELPER_RETRY_DELAY_SECONDS)},
        ],
        "volumeMounts": [*mounts, scratch_mount()],
        "securityContext": container_security_context(),
    }


def scratch_volume() -> dict[str, Any]:
    """An emptyDir the helper containers use as ``/tmp``."""
    return {"name": SCRATCH_VOLUME, "emptyDir": {}}


def scratch_mount() -> dict[str, Any]:
    return {"name": SCRATCH_VOLUME, "mountPath": SCRATCH_DIR}


def home_volume() -> dict[str, Any]:
    """An emptyDir for the runtime's ``HOME`` and caches (see :func:`writable_env`)."""
    return {"name": HOME_VOLUME, "emptyDir": {}}


def home_mount() -> dict[str, Any]:
    return {"name": HOME_VOLUME, "mountPath": HOME_DIR}
