"""The tuning Job and its ConfigMap, starting from the seed's QLoRA phi-3 Workspace."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

import preset_catalog as pc
from kaito_apis.workspace import v1beta1
from workspace_controller.manifests import scripts, tuning
from workspace_controller.settings import ImageSettings

ToWorkspace = Callable[[dict[str, Any]], v1beta1.Workspace]


IMAGES = ImageSettings()
PRESET = pc.resolve_preset("phi-3-mini-128k-instruct").preset
NC6S_V3 = pc.get_instance_type("Standard_NC6s_v3")
SEED_URL = (
    "https://huggingface.co/datasets/philschmid/dolly-15k-oai-style/resolve/main/data/"
    "train-00000-of-00001-54e3756291ca09c6.parquet?download=true"
)


def _job(
    ws: v1beta1.Workspace,
    *,
    output_dir: str = "/mnt/results",
    instance_type: pc.InstanceType = NC6S_V3,
    revision: str = "rev-1",
    images: ImageSettings = IMAGES,
) -> dict[str, Any]:
    return tuning.tuning_job(
        ws,
        preset=PRESET,
        instance_type=instance_type,
        config_map_name="workspace-tuning-phi-3-qlora-params",
        output_dir=output_dir,
        revision=revision,
        images=images,
    )


def _pod(job: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = job["spec"]["template"]["spec"]
    return pod


def _container(pod: dict[str, Any], name: str) -> dict[str, Any]:
    return next(
        c for c in [*pod.get("initContainers", []), *pod["containers"]] if c["name"] == name
    )


def _volumes(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in pod["volumes"]}


def _mounts(container: dict[str, Any]) -> dict[str, str]:
    return {m["mountPath"]: m["name"] for m in container["volumeMounts"]}


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def _variant(seed_doc: dict[str, Any], **sections: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(seed_doc)
    for key, value in sections.items():
        doc["tuning"][key] = value
    return doc


# -- the seed -------------------------------------------------------------------------------------


def test_seed_job_is_named_after_the_workspace_and_owned_by_it(seed: v1beta1.Workspace) -> None:
    job = _job(seed)
    assert job["apiVersion"] == "batch/v1"
    assert job["kind"] == "Job"
    metadata = job["metadata"]
    assert (metadata["name"], metadata["namespace"]) == ("workspace-tuning-phi-3", "default")
    assert metadata["labels"]["kaito.sh/workspace"] == "workspace-tuning-phi-3"
    assert metadata["annotations"] == {"workspace.kaito.io/revision": "rev-1"}
    assert metadata["ownerReferences"][0]["kind"] == "Workspace"
    assert metadata["ownerReferences"][0]["controller"] is True
    assert job["spec"]["backoffLimit"] == tuning.BACKOFF_LIMIT
    template = job["spec"]["template"]
    assert template["metadata"]["labels"]["kaito.sh/workspace"] == "workspace-tuning-phi-3"
    assert template["metadata"]["annotations"] == {"workspace.kaito.io/revision": "rev-1"}
    assert template["spec"]["restartPolicy"] == "Never"


def test_seed_trainer_runs_the_runtime_image_with_one_gpu(seed: v1beta1.Workspace) -> None:
    trainer = _container(_pod(_job(seed)), "workspace-tuning-phi-3")
    assert trainer["image"] == "ghcr.io/kaito-py/model-runtime:0.1.0"
    assert trainer["command"] == ["python", "-m", "model_runtime", "tune"]
    assert trainer["command"] == list(tuning.TUNE_COMMAND)
    assert trainer["resources"] == {
        "requests": {"nvidia.com/gpu": "1"},
        "limits": {"nvidia.com/gpu": "1"},
    }
    assert trainer["ports"] == [{"name": "metrics", "containerPort": 5000, "protocol": "TCP"}]
    env = _env(trainer)
    assert env["PYTORCH_CUDA_ALLOC_CONF"] == "expandable_segments:True"
    assert env["TRAINING_CONFIG"] == "/mnt/config/training_config.yaml"
    assert env["DATASET_FOLDER_PATH"] == "/mnt/data"
    assert env["DEFAULT_TARGET_MODULES"] == "qkv_proj,o_proj,gate_up_proj,down_proj"
    assert env["MODEL_REPOSITORY"] == "microsoft/Phi-3-mini-128k-instruct"
    assert env["MODEL_DIR"] == "/workspace/weights"
    assert env["TUNING_METHOD"] == "qlora"


def test_seed_trainer_mounts_the_runtime_contract_paths(seed: v1beta1.Workspace) -> None:
    pod = _pod(_job(seed))
    trainer = _container(pod, "workspace-tuning-phi-3")
    assert _mounts(trainer) == {
        "/mnt/config": "config-volume",
        "/mnt/data": "data-volume",
        "/mnt/results": "results-volume",
        "/workspace/weights": "model-weights-volume",
        "/dev/shm": "dshm",
        "/tmp": "scratch",
        "/home/runtime": "runtime-home",
    }
    volumes = _volumes(pod)
    assert volumes["config-volume"]["configMap"] == {"name": "workspace-tuning-phi-3-qlora-params"}
    assert volumes["data-volume"] == {"name": "data-volume", "emptyDir": {}}
    assert volumes["results-volume"] == {"name": "results-volume", "emptyDir": {}}
    assert volumes["dshm"]["emptyDir"] == {"medium": "Memory"}


def test_seed_downloads_its_url_in_an_init_container(seed: v1beta1.Workspace) -> None:
    pod = _pod(_job(seed))
    (init,) = pod["initContainers"]
    assert init["name"] == "data-downloader"
    # The runtime's downloader, from the trainer's image: the node pulls nothing extra.
    assert init["image"] == _container(pod, "workspace-tuning-phi-3")["image"]
    assert init["command"][:4] == ["python", "-m", "model_runtime", "download"]
    assert init["command"][4:] == ["train-00000-of-00001-54e3756291ca09c6.parquet", SEED_URL]
    env = _env(init)
    assert (env["DATA_DIR"], env["ATTEMPTS"], env["RETRY_DELAY_SECONDS"]) == ("/mnt/data", "3", "2")
    assert _mounts(init)["/mnt/data"] == "data-volume"


def test_seed_pushes_the_adapter_from_an_unprivileged_sidecar(seed: v1beta1.Workspace) -> None:
    pod = _pod(_job(seed))
    pusher = _container(pod, "adapter-pusher")
    assert [c["name"] for c in pod["containers"]] == ["workspace-tuning-phi-3", "adapter-pusher"]
    trainer = _container(pod, "workspace-tuning-phi-3")
    assert pusher["image"] == trainer["image"] == "ghcr.io/kaito-py/model-runtime:0.1.0"
    assert pusher["command"] == ["python", "-m", "model_runtime", "push"]
    env = _env(pusher)
    assert env["IMAGE"] == "ACR_REPO_HERE.azurecr.io/IMAGE_NAME_HERE:0.0.1"
    assert env["OUTPUT_DIR"] == "/mnt/results"
    assert env["MARKER"] == "fine_tuning_completed.txt"
    assert env["PRESET_NAME"] == "phi-3-mini-128k-instruct"
    assert env["DOCKER_CONFIG"] == "/var/run/secrets/kaito/push"
    assert env["TRAINER_MATCH"] == "model_runtime tune"
    assert _mounts(pusher) == {
        "/mnt/results": "results-volume",
        "/var/run/secrets/kaito/push": "push-secret",
        "/tmp": "scratch",
    }
    assert _volumes(pod)["push-secret"]["secret"] == {
        "secretName": "ACR_REGISTRY_SECRET_HERE",
        "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
    }
    assert pusher["securityContext"]["privileged"] is False
    assert pod["shareProcessNamespace"] is True
    assert pod["imagePullSecrets"] == [{"name": "ACR_REGISTRY_SECRET_HERE"}]


def test_the_pusher_image_can_be_set_apart_from_the_runtime(seed: v1beta1.Workspace) -> None:
    images = ImageSettings(registry="example.io/kaito", adapter_pusher="example.io/pusher:1")
    pod = _pod(_job(seed, images=images))
    assert _container(pod, "adapter-pusher")["image"] == "example.io/pusher:1"
    assert (
        _container(pod, "workspace-tuning-phi-3")["image"] == "example.io/kaito/model-runtime:0.1.0"
    )


def test_seed_pod_tolerates_gpu_taints_and_requires_the_selected_nodes(
    seed: v1beta1.Workspace,
) -> None:
    pod = _pod(_job(seed))
    assert {t["key"] for t in pod["tolerations"]} == {
        "nvidia.com/gpu",
        "sku",
        "kubernetes.azure.com/scalesetpriority",
    }
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "app", "operator": "In", "values": ["tuning-phi-3"]}]}
    ]


# -- other inputs and outputs -----------------------------------------------------------------


def test_volume_output_gets_no_sidecar_and_lands_in_the_volume(
    to_workspace: ToWorkspace, seed_doc: dict[str, Any]
) -> None:
    pvc = {"persistentVolumeClaim": {"claimName": "phi-3-adapter"}}
    ws = to_workspace(_variant(seed_doc, output={"volumeSource": pvc}))
    pod = _pod(_job(ws))
    assert [c["name"] for c in pod["containers"]] == ["workspace-tuning-phi-3"]
    assert "shareProcessNamespace" not in pod
    assert "imagePullSecrets" not in pod
    assert _volumes(pod)["results-volume"] == {"name": "results-volume", **pvc}
    assert "push-secret" not in _volumes(pod)


def test_image_input_is_pulled_by_an_init_container_with_its_secrets(
    to_workspace: ToWorkspace, seed_doc: dict[str, Any]
) -> None:
    source = {"image": "registry.example.com/dataset:1", "imagePullSecrets": ["reg-a", "reg-b"]}
    ws = to_workspace(_variant(seed_doc, input=source))
    pod = _pod(_job(ws))
    (init,) = pod["initContainers"]
    assert init["name"] == "data-puller"
    assert init["image"] == IMAGES.image_puller
    assert init["command"] == [
        "/bin/sh",
        "-c",
        scripts.PULL_SCRIPT,
        "data-puller",
        "registry.example.com/dataset:1",
        "/mnt/data",
    ]
    mounts = _mounts(init)
    assert mounts["/mnt/data"] == "data-volume"
    assert "/var/run/secrets/kaito/pull/reg-a" in mounts
    assert "/var/run/secrets/kaito/pull/reg-b" in mounts
    secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert {"reg-a", "reg-b"} <= secrets
    assert _volumes(pod)["data-volume"] == {"name": "data-volume", "emptyDir": {}}


def test_volume_input_is_mounted_as_the_data_directory(
    to_workspace: ToWorkspace, seed_doc: dict[str, Any]
) -> None:
    pvc = {"persistentVolumeClaim": {"claimName": "dolly", "readOnly": True}}
    ws = to_workspace(_variant(seed_doc, input={"volumeSource": pvc}))
    pod = _pod(_job(ws))
    assert "initContainers" not in pod
    assert _volumes(pod)["data-volume"] == {"name": "data-volume", **pvc}


def test_gpu_request_follows_the_instance_type(seed: v1beta1.Workspace) -> None:
    four_gpus = pc.get_instance_type("Standard_NC24s_v3")
    trainer = _container(_pod(_job(seed, instance_type=four_gpus)), "workspace-tuning-phi-3")
    assert trainer["resources"]["limits"] == {"nvidia.com/gpu": "4"}
    assert _env(trainer)["GPU_COUNT"] == "4"


def test_model_access_secret_becomes_hf_token(
    to_workspace: ToWorkspace, seed_doc: dict[str, Any]
) -> None:
    doc = copy.deepcopy(seed_doc)
    doc["apiVersion"] = "kaito.sh/v1beta1"
    doc["tuning"]["preset"]["presetOptions"] = {"modelAccessSecret": "hf-token"}
    trainer = _container(_pod(_job(to_workspace(doc))), "workspace-tuning-phi-3")
    assert _env(trainer)["HF_TOKEN"] == {"secretKeyRef": {"name": "hf-token", "key": "HF_TOKEN"}}


def test_a_different_output_dir_moves_the_results_mount_for_both_containers(
    seed: v1beta1.Workspace,
) -> None:
    pod = _pod(_job(seed, output_dir="/mnt/out/adapter/"))
    assert (
        _mounts(_container(pod, "workspace-tuning-phi-3"))["/mnt/out/adapter"] == "results-volume"
    )
    pusher = _container(pod, "adapter-pusher")
    assert _mounts(pusher)["/mnt/out/adapter"] == "results-volume"
    assert _env(pusher)["OUTPUT_DIR"] == "/mnt/out/adapter"


@pytest.mark.parametrize(
    "output_dir",
    ["/mnt", "/mnt/", "/tmp/results", "results", "/mnt/../etc", "/mnt/data", "/mnt/config/x", ""],
)
def test_output_dir_must_be_a_free_directory_below_mnt(
    seed: v1beta1.Workspace, output_dir: str
) -> None:
    with pytest.raises(ValueError, match="output_dir"):
        _job(seed, output_dir=output_dir)


def test_revision_is_on_the_job_and_its_pod_template(seed: v1beta1.Workspace) -> None:
    first, second = _job(seed, revision="a"), _job(seed, revision="b")
    first_pod, second_pod = first["spec"]["template"], second["spec"]["template"]
    assert first_pod["metadata"]["annotations"] != second_pod["metadata"]["annotations"]
    assert first["metadata"]["annotations"]["workspace.kaito.io/revision"] == "a"


# -- URLs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/data.parquet",
        "http://10.1.2.3/data.parquet",
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://[::1]/data.parquet",
        "http://2130706433/data.parquet",
        "http://localhost:8080/data.parquet",
        "ftp://example.com/data.parquet",
    ],
)
def test_unsafe_input_urls_are_refused_when_the_job_is_built(
    to_workspace: ToWorkspace, seed_doc: dict[str, Any], url: str
) -> None:
    # The CRD's CEL rule catches most of these first; the builder must not rely on it.
    ws = to_workspace(seed_doc)
    ws = ws.model_copy(
        update={
            "tuning": ws.tuning.model_copy(  # type: ignore[union-attr]
                update={"input": v1beta1.DataSource(urls=[SEED_URL, url])}
            )
        }
    )
    with pytest.raises(ValueError, match="is not allowed") as caught:
        _job(ws)
    assert url in str(caught.value)


@pytest.mark.parametrize(
    ("urls", "names"),
    [
        (["https://e.com/a/train.parquet?download=true"], ["train.parquet"]),
        (["https://e.com/a/my%20data.csv#frag"], ["my_data.csv"]),
        (["https://e.com/", "https://e.com/a/.hidden"], ["data-0", "hidden"]),
        (
            ["https://a.com/x/train.json", "https://b.com/y/train.json"],
            ["train.json", "1-train.json"],
        ),
        (["https://e.com/a/..%2F..%2Fetc%2Fpasswd"], ["_.._etc_passwd"]),
    ],
    ids=["query-dropped", "escapes-decoded", "empty-and-hidden", "duplicates", "traversal"],
)
def test_download_file_names_are_safe_and_unique(urls: list[str], names: list[str]) -> None:
    assert tuning.download_file_names(urls) == names


# -- the ConfigMap --------------------------------------------------------------------------------


def test_configmap_holds_the_config_as_training_config_yaml(seed: v1beta1.Workspace) -> None:
    config = pc.default_tuning_config(pc.TuningMethod.QLORA, preset=PRESET, instance_type=NC6S_V3)
    manifest = tuning.tuning_configmap(
        seed, name="workspace-tuning-phi-3-qlora-params", config=config
    )
    assert manifest["apiVersion"] == "v1"
    assert manifest["kind"] == "ConfigMap"
    assert manifest["metadata"]["name"] == "workspace-tuning-phi-3-qlora-params"
    assert manifest["metadata"]["namespace"] == "default"
    assert manifest["metadata"]["labels"]["kaito.sh/workspace"] == "workspace-tuning-phi-3"
    assert manifest["metadata"]["ownerReferences"][0]["name"] == "workspace-tuning-phi-3"
    assert list(manifest["data"]) == ["training_config.yaml"]
    assert yaml.safe_load(manifest["data"]["training_config.yaml"]) == config
    assert pc.validate_tuning_configmap_data(manifest["data"], method="qlora") == ()
