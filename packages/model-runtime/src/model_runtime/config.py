"""The training config: ``training_config.yaml`` with Kaito's six sections, checked key by key.

The document is ``{"training_config": {Section: {key: value}}}`` with the sections
``ModelConfig``, ``QuantizationConfig``, ``LoraConfig``, ``TrainingArguments``,
``DatasetConfig`` and ``DataCollator``. Three of them are keyword arguments of a library class
(``transformers.BitsAndBytesConfig``, ``peft.LoraConfig``, ``trl.SFTConfig``) and are checked
against that class's parameters; the other three are ours (below). Every key must be known: Kaito
dropped unknown keys silently, so a typo (``learning_rat``) trained with the default. The error
names the section and the key.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, TypeVar

__all__ = [
    "SECTIONS",
    "ConfigError",
    "DataCollatorConfig",
    "DatasetConfig",
    "ModelConfig",
    "TrainingConfig",
    "parse_training_config",
]

ROOT_KEY: Final = "training_config"
SECTIONS: Final = (
    "ModelConfig",
    "QuantizationConfig",
    "LoraConfig",
    "TrainingArguments",
    "DatasetConfig",
    "DataCollator",
)


class ConfigError(ValueError):
    """The training config is malformed; the message says where."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """How the base model and its tokenizer are loaded (``from_pretrained`` keyword arguments)."""

    pretrained_model_name_or_path: str | None = None
    """A local directory; default: ``$MODEL_DIR``. Never a hub id: the runtime loads local files."""
    torch_dtype: str = "auto"
    """``auto``, ``bfloat16``, ``float16`` or ``float32`` (``dtype`` is accepted too)."""
    dtype: str | None = None
    device_map: str | None = "auto"
    local_files_only: bool = True
    trust_remote_code: bool = False
    revision: str | None = None
    attn_implementation: str | None = None
    chat_template: str | None = None
    """A template shipped with the runtime (by name), a file path, or inline Jinja."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class DatasetConfig:
    """Which files under ``$DATASET_FOLDER_PATH`` to train on, and how to split them."""

    dataset_path: str | None = None
    """A file or directory, absolute or relative to the data folder; default: the whole folder."""
    dataset_extension: str | None = None
    """``parquet``, ``json``, ``jsonl`` or ``csv``; default: the one format found."""
    shuffle_dataset: bool = True
    shuffle_seed: int = 42
    train_test_split: float = 1.0
    """The training share (1 = no evaluation split)."""
    messages_column: str = "messages"
    instruction_column: str | None = None
    """With ``response_column``: rows are turned into user/assistant ``messages``."""
    context_column: str | None = None
    response_column: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class DataCollatorConfig:
    """Kaito's ``DataCollator`` section, accepted for compatibility.

    Kaito handed ``transformers.DataCollatorForLanguageModeling`` to the trainer, which breaks on
    conversational data and masks the end-of-sequence token out of the loss when it doubles as
    padding. The runtime lets trl choose its collator; only ``pad_to_multiple_of`` is used.
    ``mlm`` (masked language modelling) makes no sense for a causal model and is ignored.
    """

    mlm: bool = False
    mlm_probability: float = 0.15
    pad_to_multiple_of: int | None = None
    return_tensors: str = "pt"
    seed: int | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainingConfig:
    """The parsed config: our three sections typed, the library sections as checked dicts."""

    model: ModelConfig
    quantization: Mapping[str, Any]
    lora: Mapping[str, Any]
    training: Mapping[str, Any]
    dataset: DatasetConfig
    collator: DataCollatorConfig

    @property
    def quantized(self) -> bool:
        """Whether the config asks for a 4- or 8-bit base model (QLoRA)."""
        return bool(self.quantization.get("load_in_4bit") or self.quantization.get("load_in_8bit"))


KeySource = Callable[[], Iterable[str]]
_T = TypeVar("_T")


def parse_training_config(
    document: object,
    *,
    quantization_keys: KeySource,
    lora_keys: KeySource,
    training_keys: KeySource,
) -> TrainingConfig:
    """Check ``document`` (the parsed YAML) and split it into its sections.

    The ``*_keys`` callables list the parameters of the library classes; they are called only
    when their section is present, so a config without quantization never imports bitsandbytes'
    config class.
    """
    if not isinstance(document, Mapping) or ROOT_KEY not in document:
        raise ConfigError(
            f"the training config must be a mapping with the top-level key {ROOT_KEY}"
        )
    extra = [str(k) for k in document if k != ROOT_KEY]
    if extra:
        raise ConfigError(f"unknown top-level key {extra[0]!r}: only {ROOT_KEY} is read")
    root = document[ROOT_KEY]
    if root is None:
        root = {}
    if not isinstance(root, Mapping):
        raise ConfigError(f"{ROOT_KEY} must be a mapping of sections")
    unknown = [str(k) for k in root if k not in SECTIONS]
    if unknown:
        raise ConfigError(
            f"{ROOT_KEY}: unknown section {unknown[0]!r} (known: {', '.join(SECTIONS)})"
        )
    sections = {name: _section(root, name) for name in SECTIONS}
    return TrainingConfig(
        model=_dataclass_section(ModelConfig, "ModelConfig", sections["ModelConfig"]),
        quantization=_checked(
            "QuantizationConfig", sections["QuantizationConfig"], quantization_keys
        ),
        lora=_checked("LoraConfig", sections["LoraConfig"], lora_keys),
        training=_checked("TrainingArguments", sections["TrainingArguments"], training_keys),
        dataset=_dataclass_section(DatasetConfig, "DatasetConfig", sections["DatasetConfig"]),
        collator=_dataclass_section(DataCollatorConfig, "DataCollator", sections["DataCollator"]),
    )


def init_parameters(cls: type) -> list[str]:
    """The named keyword parameters of ``cls.__init__`` (``**kwargs`` catch-alls excluded)."""
    parameters = inspect.signature(cls).parameters.values()
    return [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _section(root: Mapping[str, Any], name: str) -> dict[str, Any]:
    section = root.get(name)
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"{ROOT_KEY}.{name} must be a mapping, not {type(section).__name__}")
    return {str(k): v for k, v in section.items()}


def _checked(name: str, section: dict[str, Any], keys: KeySource) -> dict[str, Any]:
    if not section:
        return {}
    _reject_unknown(name, section, set(keys()))
    return section


def _dataclass_section(cls: type[_T], name: str, section: dict[str, Any]) -> _T:
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    _reject_unknown(name, section, set(known))
    for key, value in section.items():
        _check_type(name, key, value, known[key].type)
    return cls(**section)


def _reject_unknown(name: str, section: Mapping[str, Any], known: set[str]) -> None:
    for key in section:
        if key not in known:
            close = [k for k in sorted(known) if k.startswith(key[:4])][:3]
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise ConfigError(f"{ROOT_KEY}.{name}: unknown key {key!r}{hint}")


_SCALARS: Final = {"str": (str,), "bool": (bool,), "int": (int,), "float": (int, float)}


def _check_type(name: str, key: str, value: object, annotation: object) -> None:
    """Reject a value of the wrong scalar type (annotations are strings: ``str | None``)."""
    options = [t.strip() for t in str(annotation).split("|")]
    if value is None:
        if "None" in options:
            return
    else:
        for option in options:
            accepted = _SCALARS.get(option)
            if accepted and isinstance(value, accepted):
                if option in ("int", "float") and isinstance(value, bool):
                    continue
                return
    raise ConfigError(f"{ROOT_KEY}.{name}.{key}: expected {' or '.join(options)}, got {value!r}")
