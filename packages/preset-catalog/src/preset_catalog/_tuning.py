"""The fine-tuning configuration: Kaito's defaults, and Kaito's rules for a user's own.

A tuning Job reads ``training_config.yaml`` from a ConfigMap: either the default for the method
(built here from ``data/tuning_defaults.yaml``) or one the user wrote. The defaults come out as a
plain dict so a controller can dump it straight into a ConfigMap; asked for a preset and an
instance type, they also pin the LoRA targets to the model's real layer names and fall back to
float16 on GPUs without bfloat16. The validator applies the rules Kaito's webhook applies to a
user's config and returns every violation with the path of the field.
"""

from __future__ import annotations

import copy
import posixpath
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import yaml

from preset_catalog._errors import Violation, ViolationCode
from preset_catalog._loading import load_catalog, parse_yaml
from preset_catalog._schema import TUNING_CONFIG_SECTIONS, TuningMethod

if TYPE_CHECKING:
    from preset_catalog._schema import Catalog, InstanceType, Preset

__all__ = [
    "TUNING_CONFIG_KEY",
    "default_tuning_config",
    "validate_tuning_config",
    "validate_tuning_configmap_data",
]

TUNING_CONFIG_KEY = "training_config.yaml"
ROOT_KEY = "training_config"
QUANTIZATION = "QuantizationConfig"
TRAINING_ARGUMENTS = "TrainingArguments"
BIT_FLAGS = ("load_in_4bit", "load_in_8bit")
OUTPUT_ROOT = "/mnt"


def default_tuning_config(
    method: TuningMethod,
    *,
    preset: Preset | None = None,
    instance_type: InstanceType | None = None,
    catalog: Catalog | None = None,
) -> dict[str, Any]:
    """The default training config for ``method``, ready to be dumped as training_config.yaml.

    With only ``method`` this is exactly Kaito's template. ``preset`` adds
    ``LoraConfig.target_modules`` (the model's linear layer names); an ``instance_type`` whose GPUs
    lack bfloat16 switches the dtypes to float16. The result is a fresh dict the caller may modify.
    """
    defaults = (catalog or load_catalog()).tuning_defaults
    per_method = defaults.methods[method]
    layers = [defaults.sections, per_method.sections]
    if instance_type is not None and not instance_type.gpu.supports_bf16:
        layers += [defaults.without_bf16, per_method.without_bf16]
    merged: dict[str, dict[str, Any]] = {name: {} for name in TUNING_CONFIG_SECTIONS}
    for layer in layers:
        for section, values in layer.items():
            merged[section].update(copy.deepcopy(values))
    if preset is not None:
        merged["LoraConfig"]["target_modules"] = list(preset.lora_target_modules)
    return {defaults.root_key: {name: values for name, values in merged.items() if values}}


def validate_tuning_configmap_data(
    data: Mapping[str, str], *, method: str
) -> tuple[Violation, ...]:
    """Validate the ``data`` of a tuning ConfigMap: the key, the YAML, then the config itself."""
    if TUNING_CONFIG_KEY not in data:
        return (
            Violation(
                code=ViolationCode.MISSING_CONFIG_KEY,
                message=f"the ConfigMap has no {TUNING_CONFIG_KEY} key",
                field=f"data[{TUNING_CONFIG_KEY}]",
            ),
        )
    try:
        document = parse_yaml(data[TUNING_CONFIG_KEY])
    except yaml.YAMLError as error:
        return (
            Violation(
                code=ViolationCode.INVALID_YAML,
                message=f"{TUNING_CONFIG_KEY} is not valid YAML: {error}",
                field=f"data[{TUNING_CONFIG_KEY}]",
            ),
        )
    return validate_tuning_config(document, method=method)


def validate_tuning_config(document: object, *, method: str) -> tuple[Violation, ...]:
    """Kaito's rules for a training config (the parsed training_config.yaml), every violation.

    ``method`` is the Workspace's ``tuning.method`` as written (matched case-insensitively).
    """
    found: list[Violation] = []
    parsed_method = _parse_method(method, found)
    if not isinstance(document, Mapping) or ROOT_KEY not in document:
        found.append(
            _violation(
                ViolationCode.INVALID_STRUCTURE,
                f"the config must be a mapping with the top-level key {ROOT_KEY}",
                ROOT_KEY,
            )
        )
        return tuple(found)
    for key in document:
        if key != ROOT_KEY:
            found.append(
                _violation(
                    ViolationCode.INVALID_STRUCTURE,
                    f"unexpected top-level key {key!r}: only {ROOT_KEY} is read",
                    str(key),
                )
            )
    config = document[ROOT_KEY]
    if not isinstance(config, Mapping):
        found.append(
            _violation(
                ViolationCode.INVALID_STRUCTURE,
                f"{ROOT_KEY} must be a mapping of sections",
                ROOT_KEY,
            )
        )
        return tuple(found)

    sections: dict[str, Mapping[str, Any]] = {}
    for name, value in config.items():
        path = f"{ROOT_KEY}.{name}"
        if name not in TUNING_CONFIG_SECTIONS:
            found.append(
                _violation(
                    ViolationCode.UNRECOGNIZED_SECTION,
                    f"Unrecognized section {name!r} (allowed: {', '.join(TUNING_CONFIG_SECTIONS)})",
                    path,
                )
            )
        elif value is None:
            sections[name] = {}
        elif not isinstance(value, Mapping):
            found.append(
                _violation(ViolationCode.INVALID_VALUE_TYPE, "a section must be a mapping", path)
            )
        else:
            sections[name] = value

    found += _quantization_violations(sections, parsed_method)
    found += _output_dir_violations(sections.get(TRAINING_ARGUMENTS, {}))
    return tuple(found)


def _violation(code: ViolationCode, message: str, field: str) -> Violation:
    return Violation(code=code, message=message, field=field)


def _parse_method(method: str, found: list[Violation]) -> TuningMethod | None:
    try:
        return TuningMethod(method.lower())
    except ValueError:
        found.append(
            _violation(
                ViolationCode.UNSUPPORTED_TUNING_METHOD,
                f"tuning method {method!r} is not supported (supported: {', '.join(TuningMethod)})",
                "tuning.method",
            )
        )
        return None


def _quantization_violations(
    sections: Mapping[str, Mapping[str, Any]], method: TuningMethod | None
) -> list[Violation]:
    found: list[Violation] = []
    quantization = sections.get(QUANTIZATION)
    base = f"{ROOT_KEY}.{QUANTIZATION}"
    enabled: list[str] = []
    for flag in BIT_FLAGS:
        value = (quantization or {}).get(flag)
        if value is None:
            continue
        if not isinstance(value, bool):
            found.append(
                _violation(
                    ViolationCode.INVALID_VALUE_TYPE,
                    f"{flag} must be true or false, got {value!r}",
                    f"{base}.{flag}",
                )
            )
        elif value:
            enabled.append(flag)
    if len(enabled) == len(BIT_FLAGS):
        found.append(
            _violation(
                ViolationCode.CONFLICTING_QUANTIZATION,
                "load_in_4bit and load_in_8bit cannot both be true",
                base,
            )
        )
    if method is TuningMethod.LORA:
        found += [
            _violation(
                ViolationCode.QUANTIZATION_NOT_ALLOWED,
                f"{flag} must not be true for the lora method (use qlora for a quantized base)",
                f"{base}.{flag}",
            )
            for flag in enabled
        ]
    elif method is TuningMethod.QLORA:
        if quantization is None:
            found.append(
                _violation(
                    ViolationCode.QUANTIZATION_REQUIRED,
                    f"the qlora method needs a {QUANTIZATION} section with load_in_4bit or "
                    "load_in_8bit set to true",
                    base,
                )
            )
        elif not enabled:
            found.append(
                _violation(
                    ViolationCode.QUANTIZATION_REQUIRED,
                    "the qlora method needs load_in_4bit or load_in_8bit set to true",
                    base,
                )
            )
    return found


def _output_dir_violations(training_arguments: Mapping[str, Any]) -> list[Violation]:
    if "output_dir" not in training_arguments:
        return []  # the runtime's default, /mnt/results, is fine
    value = training_arguments["output_dir"]
    field = f"{ROOT_KEY}.{TRAINING_ARGUMENTS}.output_dir"
    if not isinstance(value, str):
        return [
            _violation(
                ViolationCode.INVALID_VALUE_TYPE,
                f"output_dir must be a string, got {value!r}",
                field,
            )
        ]
    resolved = posixpath.normpath(value) if value.startswith("/") else None
    if resolved is None or not resolved.startswith(f"{OUTPUT_ROOT}/"):
        return [
            _violation(
                ViolationCode.INVALID_OUTPUT_DIR,
                f"output_dir {value!r} must be an absolute path inside {OUTPUT_ROOT}/ "
                f"(the results volume is mounted there)",
                field,
            )
        ]
    return []
