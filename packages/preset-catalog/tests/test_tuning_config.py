"""Default training configs are Kaito's templates; user configs are held to Kaito's rules."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

import preset_catalog as pc

VC = pc.ViolationCode
LORA, QLORA = pc.TuningMethod.LORA, pc.TuningMethod.QLORA

KAITO_QLORA_TEMPLATE = {
    "training_config": {
        "ModelConfig": {"torch_dtype": "bfloat16", "local_files_only": True, "device_map": "auto"},
        "QuantizationConfig": {
            "load_in_4bit": True,
            "bnb_4bit_quant_type": "nf4",
            "bnb_4bit_compute_dtype": "bfloat16",
            "bnb_4bit_use_double_quant": True,
        },
        "LoraConfig": {"r": 8, "lora_alpha": 8, "lora_dropout": 0.0},
        "TrainingArguments": {
            "output_dir": "/mnt/results",
            "ddp_find_unused_parameters": False,
            "save_strategy": "no",
            "per_device_train_batch_size": 1,
        },
        "DataCollator": {"mlm": True},
        "DatasetConfig": {"shuffle_dataset": True, "train_test_split": 1},
    }
}


def test_default_qlora_config_is_kaitos_template() -> None:
    assert pc.default_tuning_config(QLORA) == KAITO_QLORA_TEMPLATE


def test_default_lora_config_differs_only_in_quantization() -> None:
    expected = yaml.safe_load(yaml.safe_dump(KAITO_QLORA_TEMPLATE))
    expected["training_config"]["QuantizationConfig"] = {"load_in_4bit": False}
    assert pc.default_tuning_config(LORA) == expected


def test_default_config_has_the_six_sections_in_kaitos_order() -> None:
    for method in pc.TuningMethod:
        sections = tuple(pc.default_tuning_config(method)["training_config"])
        assert sections == pc.TUNING_CONFIG_SECTIONS


@pytest.mark.parametrize("method", list(pc.TuningMethod))
def test_default_config_passes_the_validator(method: pc.TuningMethod) -> None:
    assert pc.validate_tuning_config(pc.default_tuning_config(method), method=method) == ()


def test_default_config_survives_a_yaml_round_trip() -> None:
    config = pc.default_tuning_config(QLORA)
    assert yaml.safe_load(yaml.safe_dump(config)) == config


def test_preset_pins_the_models_real_lora_targets() -> None:
    preset = pc.resolve_preset("phi-3-mini-128k-instruct").preset
    config = pc.default_tuning_config(QLORA, preset=preset)
    targets = config["training_config"]["LoraConfig"]["target_modules"]
    assert targets == ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]


def test_gpu_without_bfloat16_switches_to_float16() -> None:
    config = pc.default_tuning_config(
        QLORA, instance_type=pc.get_instance_type("Standard_NC6s_v3")
    )["training_config"]
    assert config["ModelConfig"]["torch_dtype"] == "float16"
    assert config["QuantizationConfig"]["bnb_4bit_compute_dtype"] == "float16"
    assert (config["TrainingArguments"]["fp16"], config["TrainingArguments"]["bf16"]) == (
        True,
        False,
    )


def test_lora_on_a_t4_gets_float16_but_no_quantization_keys() -> None:
    config = pc.default_tuning_config(
        LORA, instance_type=pc.get_instance_type("Standard_NC4as_T4_v3")
    )["training_config"]
    assert config["ModelConfig"]["torch_dtype"] == "float16"
    assert config["QuantizationConfig"] == {"load_in_4bit": False}


def test_gpu_with_bfloat16_keeps_kaitos_dtypes() -> None:
    a100 = pc.get_instance_type("Standard_NC24ads_A100_v4")
    assert pc.default_tuning_config(QLORA, instance_type=a100) == KAITO_QLORA_TEMPLATE


def test_default_config_is_a_fresh_dict_every_time() -> None:
    first = pc.default_tuning_config(QLORA)
    first["training_config"]["LoraConfig"]["r"] = 64
    assert pc.default_tuning_config(QLORA)["training_config"]["LoraConfig"]["r"] == 8


def config(**sections: Any) -> dict[str, Any]:
    return {"training_config": sections}


VALIDATION_TABLE = [
    pytest.param(
        config(),
        "qlora",
        [(VC.QUANTIZATION_REQUIRED, "training_config.QuantizationConfig")],
        id="qlora-without-quantization-section",
    ),
    pytest.param(config(), "lora", [], id="lora-empty-config"),
    pytest.param(config(), "LoRA", [], id="method-is-case-insensitive"),
    pytest.param(
        config(), "", [(VC.UNSUPPORTED_TUNING_METHOD, "tuning.method")], id="empty-method"
    ),
    pytest.param(
        config(), "dora", [(VC.UNSUPPORTED_TUNING_METHOD, "tuning.method")], id="unknown-method"
    ),
    pytest.param(
        config(QuantizationConfig={"load_in_4bit": False}),
        "qlora",
        [(VC.QUANTIZATION_REQUIRED, "training_config.QuantizationConfig")],
        id="qlora-with-quantization-off",
    ),
    pytest.param(config(QuantizationConfig={"load_in_8bit": True}), "qlora", [], id="qlora-8bit"),
    pytest.param(
        config(QuantizationConfig={"load_in_4bit": True}),
        "lora",
        [(VC.QUANTIZATION_NOT_ALLOWED, "training_config.QuantizationConfig.load_in_4bit")],
        id="lora-with-4bit",
    ),
    pytest.param(
        config(QuantizationConfig={"load_in_4bit": True, "load_in_8bit": True}),
        "qlora",
        [(VC.CONFLICTING_QUANTIZATION, "training_config.QuantizationConfig")],
        id="both-bit-widths",
    ),
    pytest.param(
        config(QuantizationConfig={"load_in_4bit": "true"}),
        "qlora",
        [
            (VC.INVALID_VALUE_TYPE, "training_config.QuantizationConfig.load_in_4bit"),
            (VC.QUANTIZATION_REQUIRED, "training_config.QuantizationConfig"),
        ],
        id="string-instead-of-bool",
    ),
    pytest.param(
        config(OptimizerConfig={"lr": 1}),
        "lora",
        [(VC.UNRECOGNIZED_SECTION, "training_config.OptimizerConfig")],
        id="unknown-section",
    ),
    pytest.param(
        config(LoraConfig=[8]),
        "lora",
        [(VC.INVALID_VALUE_TYPE, "training_config.LoraConfig")],
        id="section-not-a-mapping",
    ),
    pytest.param(config(LoraConfig=None), "lora", [], id="empty-section"),
    pytest.param(
        config(TrainingArguments={"output_dir": "/mnt/out"}), "lora", [], id="output-under-mnt"
    ),
    pytest.param(
        config(TrainingArguments={"output_dir": "/mnt/a/../b/"}),
        "lora",
        [],
        id="output-normalised-under-mnt",
    ),
    *[
        pytest.param(
            config(TrainingArguments={"output_dir": bad}),
            "lora",
            [(VC.INVALID_OUTPUT_DIR, "training_config.TrainingArguments.output_dir")],
            id=f"output-{bad}",
        )
        for bad in ["/mnt", "/mnt/", "/mnt/../etc", "/tmp/results", "results", "/mntx/a", ""]
    ],
    pytest.param(
        config(TrainingArguments={"output_dir": 7}),
        "lora",
        [(VC.INVALID_VALUE_TYPE, "training_config.TrainingArguments.output_dir")],
        id="output-not-a-string",
    ),
    pytest.param(
        {"training_config": {}, "extra": 1},
        "lora",
        [(VC.INVALID_STRUCTURE, "extra")],
        id="extra-top-level-key",
    ),
    pytest.param(
        {"ModelConfig": {}}, "lora", [(VC.INVALID_STRUCTURE, "training_config")], id="no-root-key"
    ),
    pytest.param(
        ["training_config"], "lora", [(VC.INVALID_STRUCTURE, "training_config")], id="not-a-mapping"
    ),
    pytest.param(
        {"training_config": "x"},
        "lora",
        [(VC.INVALID_STRUCTURE, "training_config")],
        id="root-not-a-mapping",
    ),
    pytest.param(
        config(
            Bogus={},
            QuantizationConfig={"load_in_4bit": True, "load_in_8bit": True},
            TrainingArguments={"output_dir": "/etc"},
        ),
        "lora",
        [
            (VC.UNRECOGNIZED_SECTION, "training_config.Bogus"),
            (VC.CONFLICTING_QUANTIZATION, "training_config.QuantizationConfig"),
            (VC.QUANTIZATION_NOT_ALLOWED, "training_config.QuantizationConfig.load_in_4bit"),
            (VC.QUANTIZATION_NOT_ALLOWED, "training_config.QuantizationConfig.load_in_8bit"),
            (VC.INVALID_OUTPUT_DIR, "training_config.TrainingArguments.output_dir"),
        ],
        id="every-violation-at-once",
    ),
]


@pytest.mark.parametrize(("document", "method", "expected"), VALIDATION_TABLE)
def test_tuning_config_validation(
    document: object, method: str, expected: list[tuple[pc.ViolationCode, str]]
) -> None:
    violations = pc.validate_tuning_config(document, method=method)
    assert [(v.code, v.field) for v in violations] == expected
    assert all(v.message for v in violations)


def test_configmap_data_without_the_key_is_rejected() -> None:
    violations = pc.validate_tuning_configmap_data({"config.yaml": ""}, method="lora")
    assert [(v.code, v.field) for v in violations] == [
        (VC.MISSING_CONFIG_KEY, "data[training_config.yaml]")
    ]


def test_configmap_data_with_broken_yaml_is_rejected() -> None:
    violations = pc.validate_tuning_configmap_data(
        {pc.TUNING_CONFIG_KEY: "training_config: [unclosed"}, method="lora"
    )
    assert [v.code for v in violations] == [VC.INVALID_YAML]


def test_configmap_data_with_a_repeated_key_is_rejected() -> None:
    text = "training_config:\n  LoraConfig: {}\n  LoraConfig: {}\n"
    violations = pc.validate_tuning_configmap_data({pc.TUNING_CONFIG_KEY: text}, method="lora")
    assert [v.code for v in violations] == [VC.INVALID_YAML]


def test_configmap_data_holding_the_default_config_is_valid() -> None:
    text = yaml.safe_dump(pc.default_tuning_config(QLORA))
    assert pc.validate_tuning_configmap_data({pc.TUNING_CONFIG_KEY: text}, method="qlora") == ()
