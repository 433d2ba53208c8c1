"""The training config's six sections: Kaito's defaults parse, unknown keys are named."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

import preset_catalog
from model_runtime import training
from model_runtime.config import ConfigError, parse_training_config


def _parse(document: object) -> Any:
    return parse_training_config(
        document,
        quantization_keys=training._quantization_keys,
        lora_keys=training._lora_keys,
        training_keys=training._training_keys,
    )


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_the_controllers_default_configs_parse(method: str) -> None:
    catalog = preset_catalog.load_catalog()
    preset = catalog.presets[0]
    document = preset_catalog.default_tuning_config(
        preset_catalog.TuningMethod(method), preset=preset
    )
    config = _parse(yaml.safe_load(yaml.safe_dump(document)))
    assert config.training["output_dir"] == "/mnt/results"
    assert config.lora["target_modules"] == list(preset.lora_target_modules)
    assert config.quantized is (method == "qlora")
    assert config.collator.mlm is True


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"training_config": {"LoraConfig": {"rank": 8}}}, "LoraConfig: unknown key 'rank'"),
        (
            {"training_config": {"TrainingArguments": {"learning_rat": 1e-4}}},
            "TrainingArguments: unknown key 'learning_rat'; did you mean 'learning_rate'",
        ),
        (
            {"training_config": {"QuantizationConfig": {"load_in_3bit": True}}},
            "QuantizationConfig: unknown key 'load_in_3bit'",
        ),
        (
            {"training_config": {"DatasetConfig": {"path": "x"}}},
            "DatasetConfig: unknown key 'path'",
        ),
        ({"training_config": {"DataCollator": {"mask": 1}}}, "DataCollator: unknown key 'mask'"),
        ({"training_config": {"ModelConfig": {"dtyp": "x"}}}, "ModelConfig: unknown key 'dtyp'"),
        ({"training_config": {"PeftConfig": {}}}, "unknown section 'PeftConfig'"),
        ({"config": {}}, "top-level key training_config"),
        ({"training_config": {}, "extra": 1}, "unknown top-level key 'extra'"),
        ({"training_config": {"LoraConfig": [1]}}, "LoraConfig must be a mapping"),
        (
            {"training_config": {"DatasetConfig": {"shuffle_dataset": "yes"}}},
            "DatasetConfig.shuffle_dataset: expected bool",
        ),
    ],
)
def test_malformed_configs_are_rejected_with_the_place(document: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        _parse(document)


def test_an_absent_config_file_is_a_config_error(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="no training config at"):
        training.load_config(str(tmp_path / "missing.yaml"))


def test_config_path_prefers_kaitos_variable() -> None:
    assert training.config_path({}) == "/mnt/config/training_config.yaml"
    assert training.config_path({"TRAINING_CONFIG": "/a"}) == "/a"
    assert training.config_path({"TRAINING_CONFIG": "/a", "YAML_FILE_PATH": "/b"}) == "/b"
