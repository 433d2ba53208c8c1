"""The runtime against the pods the workspace-controller really builds.

The seed's tuning Workspace (phi-3, URL input, image output) goes through the controller's own
builders: its default training config, its Job. The trainer and the pusher then run with those
containers' environments, every path rebased under a temporary root (``/mnt/x`` becomes
``<tmp>/mnt/x``), the weights being the tiny Phi-3 and the registry the local one. If a name,
path or marker drifts on either side, this fails.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

import preset_catalog
from kaito_apis.workspace import v1alpha1, v1beta1
from model_runtime import pushing, training
from workspace_controller.manifests import tuning
from workspace_controller.settings import ImageSettings

if TYPE_CHECKING:
    from conftest import Registry

SEED = (
    Path(__file__).resolve().parents[3] / "examples/fine-tuning/kaito_workspace_tuning_phi_3.yaml"
)


_PATHS = frozenset(
    {"YAML_FILE_PATH", "TRAINING_CONFIG", "DATASET_FOLDER_PATH", "MODEL_DIR", "OUTPUT_DIR",
     "DOCKER_CONFIG"}
)  # fmt: skip


def _seed(registry: str) -> v1beta1.Workspace:
    doc: dict[str, Any] = yaml.safe_load(SEED.read_text())
    doc = copy.deepcopy(doc)
    doc["metadata"].update(namespace="default", uid="00000000-0000-0000-0000-000000000001")
    doc["tuning"]["method"] = "lora"  # this machine has no GPU for qlora
    doc["tuning"]["output"]["image"] = f"{registry}/adapters/seed:v1"
    wire = v1alpha1.Workspace.model_validate(doc).to_wire()
    return v1beta1.Workspace.model_validate({**wire, "apiVersion": v1beta1.API_VERSION})


def _env(container: dict[str, Any], root: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for entry in container["env"]:
        value = entry.get("value")
        if value is None:
            continue
        if entry["name"] in _PATHS:
            assert value.startswith("/"), entry
            value = f"{root}{value}"
        env[entry["name"]] = value
    return env


def test_the_seed_job_trains_and_pushes(
    registry: Registry, phi3_dir: Path, messages_dir: Path, tmp_path: Path
) -> None:
    ws = _seed(registry.address)
    preset = preset_catalog.resolve_preset("phi-3-mini-128k-instruct").preset
    instance_type = preset_catalog.get_instance_type("Standard_NC6s_v3")
    config = preset_catalog.default_tuning_config(
        preset_catalog.TuningMethod.LORA, preset=preset, instance_type=instance_type
    )
    configmap = tuning.tuning_configmap(ws, name="params", config=config)
    job = tuning.tuning_job(
        ws,
        preset=preset,
        instance_type=instance_type,
        config_map_name="params",
        output_dir=config["training_config"]["TrainingArguments"]["output_dir"],
        revision="r",
        images=ImageSettings(),
    )
    trainer, pusher = job["spec"]["template"]["spec"]["containers"]
    assert trainer["command"] == ["python", "-m", "model_runtime", "tune"]
    assert pusher["command"] == ["python", "-m", "model_runtime", "push"]

    root = tmp_path
    trainer_env = _env(trainer, root)
    config_file = Path(trainer_env["YAML_FILE_PATH"])
    config_file.parent.mkdir(parents=True)
    text = configmap["data"]["training_config.yaml"].replace("/mnt/", f"{root}/mnt/")
    document = yaml.safe_load(text)
    # CPU-sized: a few steps (the defaults train three epochs in bfloat16).
    document["training_config"]["TrainingArguments"]["max_steps"] = 3
    document["training_config"]["ModelConfig"]["torch_dtype"] = "float32"
    config_file.write_text(yaml.safe_dump(document))
    shutil.copytree(messages_dir, trainer_env["DATASET_FOLDER_PATH"])
    shutil.copytree(phi3_dir, trainer_env["MODEL_DIR"])
    trainer_env.update(PORT="0", LOCAL_RANK="1")  # no metrics server in the test process
    assert training.main(trainer_env) == 0

    pusher_env = _env(pusher, root)
    docker = Path(pusher_env["DOCKER_CONFIG"])
    docker.mkdir(parents=True)
    auth = "cHVzaGVyOnMzY3JldC1wYXNz"  # pusher:s3cret-pass
    (docker / "config.json").write_text(
        f'{{"auths": {{"{registry.address}": {{"auth": "{auth}"}}}}}}'
    )
    pusher_env["POLL_SECONDS"] = "0.05"
    assert pushing.main(pusher_env) == 0
    assert sorted(p.name for p in Path(pusher_env["OUTPUT_DIR"]).iterdir()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
        "fine_tuning_completed.txt",
    ]
