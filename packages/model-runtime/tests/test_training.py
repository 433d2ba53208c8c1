"""``tune`` on CPU: a few LoRA steps on the tiny Phi-3, and the config and data rules."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from safetensors import safe_open

from model_runtime import training
from model_runtime.config import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import Tuned

PHI3_LAYERS = ["down_proj", "gate_up_proj", "o_proj", "qkv_proj"]


def test_lora_run_lowers_the_loss(tuned: Tuned) -> None:
    assert tuned.exit_code == 0
    losses = [e["loss"] for e in tuned.events.named("training_progress") if "loss" in e]
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.1


def test_progress_lines_carry_step_loss_and_throughput(tuned: Tuned) -> None:
    progress = tuned.events.named("training_progress")
    assert [e["step"] for e in progress] == list(range(1, 13))
    assert all(e["tokens_per_second"] > 0 for e in progress)
    assert tuned.events.named("training_finished")[0]["train_loss"] > 0


def test_training_metrics_are_served_on_the_port(tuned: Tuned) -> None:
    assert "model_runtime_training_step 12.0" in tuned.metrics
    assert "model_runtime_training_tokens_per_second" in tuned.metrics


def test_only_the_adapter_and_then_the_marker_are_written(tuned: Tuned) -> None:
    names = sorted(p.name for p in tuned.output_dir.iterdir())
    assert names == [
        "adapter_config.json",
        "adapter_model.safetensors",
        "fine_tuning_completed.txt",
    ]
    marker = tuned.output_dir / "fine_tuning_completed.txt"
    weights = tuned.output_dir / "adapter_model.safetensors"
    assert marker.stat().st_mtime_ns >= weights.stat().st_mtime_ns


def test_phi3_adapter_targets_the_fused_layers(tuned: Tuned) -> None:
    config = json.loads((tuned.output_dir / "adapter_config.json").read_text())
    assert sorted(config["target_modules"]) == PHI3_LAYERS
    with safe_open(str(tuned.output_dir / "adapter_model.safetensors"), "pt") as tensors:
        adapted = {key.split(".lora_")[0].rsplit(".", 1)[-1] for key in tensors.keys()}  # noqa: SIM118
    assert sorted(adapted) == PHI3_LAYERS


def test_eos_is_kept_in_the_loss(
    phi3_dir: Path, messages_dir: Path, tmp_path: Path, config_writer: Any
) -> None:
    config = training.load_config(str(config_writer(tmp_path / "c.yaml", tmp_path / "out")))
    env = {"MODEL_DIR": str(phi3_dir), "DATASET_FOLDER_PATH": str(messages_dir)}
    trainer, _ = training.build_trainer(config, env)
    batch = next(iter(trainer.get_train_dataloader()))
    tokenizer: Any = trainer.processing_class
    eos = tokenizer.eos_token_id
    ends = batch["input_ids"] == eos
    assert ends.any(dim=1).all(), "every conversation ends with the end-of-sequence token"
    assert (batch["labels"][ends] == eos).all()


def test_a_target_module_the_model_lacks_is_an_error(
    phi3_dir: Path, messages_dir: Path, tmp_path: Path, config_writer: Any
) -> None:
    path = config_writer(
        tmp_path / "c.yaml", tmp_path / "out", LoraConfig={"target_modules": ["q_proj", "o_proj"]}
    )
    env = {"MODEL_DIR": str(phi3_dir), "DATASET_FOLDER_PATH": str(messages_dir)}
    with pytest.raises(ConfigError, match=r"no linear layer named 'q_proj'.*qkv_proj"):
        training.build_trainer(training.load_config(str(path)), env)


def test_qlora_without_a_gpu_is_a_clear_error(
    phi3_dir: Path, messages_dir: Path, tmp_path: Path, config_writer: Any
) -> None:
    path = config_writer(tmp_path / "c.yaml", tmp_path / "out")
    env = {
        "MODEL_DIR": str(phi3_dir),
        "DATASET_FOLDER_PATH": str(messages_dir),
        "TUNING_METHOD": "qlora",
    }
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        training.build_trainer(training.load_config(str(path)), env)


def test_llama_trains_on_prompt_completion_jsonl(
    llama_dir: Path, tmp_path: Path, config_writer: Any
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    rows = [
        {"prompt": [{"role": "user", "content": f"Count to {n}."}],
         "completion": [{"role": "assistant", "content": " ".join(map(str, range(n)))}]}
        for n in range(1, 6)
    ]  # fmt: skip
    (data / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    output = tmp_path / "out"
    path = config_writer(tmp_path / "c.yaml", output, TrainingArguments={"max_steps": 2})
    trainer, output_dir = training.build_trainer(
        training.load_config(str(path)),
        {"MODEL_DIR": str(llama_dir), "DATASET_FOLDER_PATH": str(data)},
    )
    trainer.train()
    training.save_adapter(trainer, output_dir)
    config = json.loads((output / "adapter_config.json").read_text())
    adapted = {name.rsplit(".", 1)[-1] for name in config["target_modules"]}
    assert adapted == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert (output / "fine_tuning_completed.txt").is_file()


def test_a_bad_config_exits_1_naming_the_key(
    tmp_path: Path, config_writer: Any, record: Any
) -> None:
    path = config_writer(
        tmp_path / "c.yaml", tmp_path / "out", TrainingArguments={"learning_rat": 1}
    )
    with record() as events:
        code = training.main({"YAML_FILE_PATH": str(path), "PORT": "0", "LOCAL_RANK": "1"})
    assert code == 1
    [failure] = events.named("invalid_training_config")
    assert "TrainingArguments: unknown key 'learning_rat'" in failure["error"]


def test_missing_weights_exit_1_with_the_reason(
    tmp_path: Path, config_writer: Any, record: Any
) -> None:
    path = config_writer(tmp_path / "c.yaml", tmp_path / "out")
    env = {"YAML_FILE_PATH": str(path), "MODEL_DIR": str(tmp_path / "empty"), "LOCAL_RANK": "1"}
    with record() as events:
        assert training.main(env) == 1
    [failure] = events.named("training_setup_failed")
    assert "holds no model" in failure["error"]
    assert not (tmp_path / "out").exists()


def test_several_gpus_relaunch_one_process_each() -> None:
    command = training.distributed_command({"GPU_COUNT": "4"}, cuda_devices=4)
    assert command is not None
    assert "--nproc_per_node=4" in command
    assert " ".join(command).endswith("-m model_runtime tune")
    assert (
        training.distributed_command({"GPU_COUNT": "4", "LOCAL_RANK": "0"}, cuda_devices=4) is None
    )
    assert training.distributed_command({"GPU_COUNT": "1"}, cuda_devices=4) is None
    assert training.distributed_command({"GPU_COUNT": "4"}, cuda_devices=0) is None
