"""Schema of the catalog data: what a preset, an instance type and the tuning defaults are.

Every YAML file under ``data/`` is validated against these models when the catalog loads. A typo in
a reviewed data file therefore fails the load (unknown keys are rejected, numbers have bounds,
names must be unique, a LoRA target must be a real layer of the model's architecture) instead of
turning into a wrong sizing decision inside a controller. The models are frozen because the loaded
catalog is cached and shared by every caller.

Units are in the field names: ``*_gib`` is GiB (2**30 bytes), ``*_seconds`` seconds, ``*_tokens``
tokens. GPU memory figures are the vendor's nominal size per GPU, the same convention Kaito's SKU
tables use (a "16 GB" V100 is 16 GiB here).
"""

from __future__ import annotations

import enum
import functools
from typing import TYPE_CHECKING, Annotated

import pydantic
from pydantic import ConfigDict, Field

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "GPU",
    "LINEAR_MODULES",
    "TUNING_CONFIG_SECTIONS",
    "Architecture",
    "ArchitectureFamily",
    "Catalog",
    "Cloud",
    "InferenceRequirements",
    "InstanceType",
    "ModelSource",
    "Preset",
    "Runtime",
    "RuntimeImage",
    "TuningDefaults",
    "TuningMethod",
    "TuningMethodDefaults",
    "TuningRequirement",
    "VllmOptions",
]


class _Frozen(pydantic.BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# Strict scalars: a quoted "16" or a YAML "yes" in a data file is an error, not a silent coercion.
GiB = Annotated[float, pydantic.Strict(), Field(gt=0, allow_inf_nan=False)]
NonNegativeGiB = Annotated[float, pydantic.Strict(), Field(ge=0, allow_inf_nan=False)]
Count = Annotated[int, pydantic.Strict(), Field(gt=0)]
Flag = Annotated[bool, pydantic.Strict()]
PresetName = Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$", max_length=63)]
InstanceTypeName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=63)]


class Runtime(enum.StrEnum):
    """Inference engine that serves a preset (Kaito's ``kaito.sh/runtime`` annotation values)."""

    VLLM = "vllm"
    TRANSFORMERS = "transformers"


class TuningMethod(enum.StrEnum):
    """Parameter-efficient fine-tuning method (Kaito's ``tuning.method``)."""

    LORA = "lora"
    QLORA = "qlora"


class Cloud(enum.StrEnum):
    AZURE = "azure"
    AWS = "aws"


class ArchitectureFamily(enum.StrEnum):
    """Hugging Face model class family; decides the names and shapes of the linear layers."""

    PHI = "phi"  # PhiForCausalLM (phi-2)
    PHI3 = "phi3"  # Phi3ForCausalLM (Phi-3, Phi-3.5, Phi-4): fused qkv_proj and gate_up_proj
    LLAMA = "llama"  # LlamaForCausalLM
    MISTRAL = "mistral"  # MistralForCausalLM
    QWEN2 = "qwen2"  # Qwen2ForCausalLM
    FALCON = "falcon"  # FalconForCausalLM: fused query_key_value, plain (non-gated) MLP


# The linear layers of one decoder block, by the module names Hugging Face transformers gives them.
# These are the only valid LoRA targets; a preset's default targets must be a subset.
LINEAR_MODULES: Mapping[ArchitectureFamily, tuple[str, ...]] = {
    ArchitectureFamily.PHI: ("q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"),
    ArchitectureFamily.PHI3: ("qkv_proj", "o_proj", "gate_up_proj", "down_proj"),
    ArchitectureFamily.LLAMA: (
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    ),
    ArchitectureFamily.MISTRAL: (
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    ),
    ArchitectureFamily.QWEN2: (
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    ),
    ArchitectureFamily.FALCON: ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"),
}

# Kaito's training_config sections, in the order its templates write them.
TUNING_CONFIG_SECTIONS: tuple[str, ...] = (
    "ModelConfig",
    "QuantizationConfig",
    "LoraConfig",
    "TrainingArguments",
    "DataCollator",
    "DatasetConfig",
)


class ModelSource(_Frozen):
    """Where the weights come from: a Hugging Face repository pinned to a revision."""

    repository: Annotated[str, Field(pattern=r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")]
    revision: Annotated[str, Field(pattern=r"^([0-9a-f]{40}|main)$")]
    """A 40-hex commit id, or ``main`` (unpinned, documented as such next to the preset)."""
    download_auth_required: Flag = False
    """The repository is gated: the workload needs an ``HF_TOKEN`` (Kaito's modelAccessSecret)."""


class Architecture(_Frozen):
    """The few ``config.json`` numbers that sizing needs (names as Hugging Face spells them)."""

    family: ArchitectureFamily
    hidden_size: Count
    intermediate_size: Count
    num_hidden_layers: Count
    num_attention_heads: Count
    num_key_value_heads: Count
    vocab_size: Count
    tie_word_embeddings: Flag

    @pydantic.model_validator(mode="after")
    def _heads_divide(self) -> Architecture:
        if self.hidden_size % self.num_attention_heads:
            raise ValueError("hidden_size must be a multiple of num_attention_heads")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")
        return self

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in_features, out_features) of each linear layer of one decoder block."""
        h, inter, d = self.hidden_size, self.intermediate_size, self.head_dim
        q, kv = self.num_attention_heads * d, self.num_key_value_heads * d
        shapes = {
            "q_proj": (h, q),
            "k_proj": (h, kv),
            "v_proj": (h, kv),
            "o_proj": (q, h),
            "dense": (q, h),
            "qkv_proj": (h, q + 2 * kv),
            "query_key_value": (h, q + 2 * kv),
            "gate_proj": (h, inter),
            "up_proj": (h, inter),
            "gate_up_proj": (h, 2 * inter),
            "fc1": (h, inter),
            "dense_h_to_4h": (h, inter),
            "down_proj": (inter, h),
            "fc2": (inter, h),
            "dense_4h_to_h": (inter, h),
        }
        return {name: shapes[name] for name in LINEAR_MODULES[self.family]}

    @property
    def linear_parameters(self) -> int:
        """Weights of all decoder-block linear layers: what 4-bit quantization applies to."""
        per_layer = sum(i * o for i, o in self.linear_shapes().values())
        return per_layer * self.num_hidden_layers

    @property
    def embedding_parameters(self) -> int:
        """Input embedding plus the output head (one matrix when they are tied)."""
        one = self.vocab_size * self.hidden_size
        return one if self.tie_word_embeddings else 2 * one

    @property
    def parameter_count(self) -> int:
        """Approximate total (biases and norms, well under 0.1 %, are left out)."""
        return self.linear_parameters + self.embedding_parameters

    @property
    def kv_cache_bytes_per_token(self) -> int:
        """Key + value, every layer, 16-bit: what one token of context costs in the KV cache."""
        return 2 * self.num_hidden_layers * self.num_key_value_heads * self.head_dim * 2


class InferenceRequirements(_Frozen):
    """Kaito's classic (v0.4) inference requirements for one serving instance."""

    gpu_count: Count
    total_gpu_memory_gib: GiB
    per_gpu_memory_gib: NonNegativeGiB = 0.0
    """0 means the weights may be split across the GPUs of a node: only the total counts."""

    @pydantic.model_validator(mode="after")
    def _per_gpu_within_total(self) -> InferenceRequirements:
        if self.per_gpu_memory_gib > self.total_gpu_memory_gib:
            raise ValueError("per_gpu_memory_gib exceeds total_gpu_memory_gib")
        return self


class TuningRequirement(_Frozen):
    """A supported tuning method and the peak GPU memory it needs on every GPU of the node."""

    method: TuningMethod
    gpu_memory_gib: GiB
    """Peak per GPU at batch 1 x 2048 tokens, LoRA r 8; derived in MEMORY.md, rounded up."""


class VllmOptions(_Frozen):
    """Per-model limits of the vLLM runtime (Kaito's DisallowLoRA / DisableTensorParallelism)."""

    lora_adapters: Flag = True
    tensor_parallel: Flag = True


class RuntimeImage(_Frozen):
    """Runtime container image, without the registry (deployments choose the registry)."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9]+([._/-][a-z0-9]+)*$")]
    tag: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]


class Preset(_Frozen):
    """One servable (and possibly tunable) model, everything a controller needs to size it."""

    name: PresetName
    aliases: tuple[str, ...] = ()
    """Other names that resolve to this preset; using one yields a deprecation message."""
    deprecated: Flag = False
    replaced_by: PresetName | None = None
    model: ModelSource
    architecture: Architecture
    weights_gib: GiB
    """Size of the 16-bit safetensors as published."""
    disk_gib: GiB
    """Node storage to request (weights, runtime image, scratch); Kaito's DiskStorageRequirement."""
    context_window_tokens: Count
    inference: InferenceRequirements
    distributed_inference: Flag
    """May be split across nodes (vLLM pipeline parallelism over Ray). Never with transformers."""
    runtimes: tuple[Runtime, ...]
    """Supported runtimes; the first one is the default."""
    vllm: VllmOptions = VllmOptions()
    tuning: tuple[TuningRequirement, ...] = ()
    runtime_image: RuntimeImage
    lora_target_modules: tuple[str, ...]
    chat_template: str | None = None
    """Name of a template shipped in the runtime image; None = the tokenizer's own template."""
    readiness_timeout_seconds: Count

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> Preset:
        problems: list[str] = []
        if len(set(self.aliases)) != len(self.aliases) or self.name in self.aliases:
            problems.append("aliases must be unique and differ from the name")
        if self.replaced_by is not None and not self.deprecated:
            problems.append("replaced_by is only meaningful on a deprecated preset")
        if self.inference.total_gpu_memory_gib < self.weights_gib:
            problems.append("inference.total_gpu_memory_gib is below weights_gib")
        if self.disk_gib < self.weights_gib:
            problems.append("disk_gib is below weights_gib")
        if not self.runtimes or len(set(self.runtimes)) != len(self.runtimes):
            problems.append("runtimes must be a non-empty list without repeats")
        methods = [t.method for t in self.tuning]
        if len(set(methods)) != len(methods):
            problems.append("a tuning method is listed twice")
        allowed = LINEAR_MODULES[self.architecture.family]
        unknown = [m for m in self.lora_target_modules if m not in allowed]
        if unknown or not self.lora_target_modules:
            problems.append(
                f"lora_target_modules {unknown or '[]'} are not linear layers of a "
                f"{self.architecture.family} model (valid: {', '.join(allowed)})"
            )
        if len(set(self.lora_target_modules)) != len(self.lora_target_modules):
            problems.append("lora_target_modules has repeats")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def default_runtime(self) -> Runtime:
        return self.runtimes[0]

    def tuning_requirement(self, method: TuningMethod) -> TuningRequirement | None:
        return next((t for t in self.tuning if t.method == method), None)

    @property
    def tuning_methods(self) -> tuple[TuningMethod, ...]:
        return tuple(t.method for t in self.tuning)


class GPU(_Frozen):
    model: Annotated[str, Field(min_length=1)]
    count: Count
    memory_gib: GiB
    """Per GPU."""
    compute_capability: Annotated[str, Field(pattern=r"^\d+\.\d$")]

    @property
    def supports_bf16(self) -> bool:
        """bfloat16 math needs compute capability 8.0 (Ampere) or newer; V100 and T4 lack it."""
        return int(self.compute_capability.split(".")[0]) >= 8


class InstanceType(_Frozen):
    """A GPU virtual machine size, as the cloud names it."""

    name: InstanceTypeName
    aliases: tuple[InstanceTypeName, ...] = ()
    cloud: Cloud
    gpu: GPU
    total_gpu_memory_gib: GiB
    vcpus: Count
    memory_gib: GiB
    vm_family: Annotated[str, Field(min_length=1)]
    """The quota bucket: on Azure the compute usages API name (compare case-insensitively, Azure
    itself is inconsistent), on AWS the Service Quotas name of the vCPU quota."""
    nvme: Flag
    """Local NVMe disks usable for model weights (Kaito's NVMeDiskEnabled)."""

    @pydantic.model_validator(mode="after")
    def _total_matches(self) -> InstanceType:
        expected = self.gpu.count * self.gpu.memory_gib
        if abs(expected - self.total_gpu_memory_gib) > 0.01:
            raise ValueError(
                f"total_gpu_memory_gib {self.total_gpu_memory_gib} != gpu.count x gpu.memory_gib "
                f"({expected:g})"
            )
        if self.name in self.aliases or len(set(self.aliases)) != len(self.aliases):
            raise ValueError("aliases must be unique and differ from the name")
        return self


ConfigValue = str | int | float | bool | None | list[str]
ConfigSections = dict[str, dict[str, ConfigValue]]


def _check_section_names(sections: ConfigSections) -> ConfigSections:
    unknown = sorted(set(sections) - set(TUNING_CONFIG_SECTIONS))
    if unknown:
        raise ValueError(f"unknown training_config sections {unknown}")
    return sections


Sections = Annotated[ConfigSections, pydantic.AfterValidator(_check_section_names)]


class TuningMethodDefaults(_Frozen):
    sections: Sections
    without_bf16: Sections = {}


class TuningDefaults(_Frozen):
    """Kaito's lora/qlora training_config templates, plus our fp16 fallback for pre-Ampere GPUs."""

    root_key: Annotated[str, Field(min_length=1)]
    sections: Sections
    methods: dict[TuningMethod, TuningMethodDefaults]
    without_bf16: Sections = {}

    @pydantic.model_validator(mode="after")
    def _every_method(self) -> TuningDefaults:
        missing = set(TuningMethod) - set(self.methods)
        if missing:
            raise ValueError(f"defaults missing for methods {sorted(missing)}")
        return self


class Catalog(_Frozen):
    """The whole catalog: what loading the data files (or an exported ConfigMap) yields."""

    version: Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")]
    presets: tuple[Preset, ...]
    instance_types: tuple[InstanceType, ...]
    tuning_defaults: TuningDefaults

    @pydantic.model_validator(mode="after")
    def _names_unique(self) -> Catalog:
        _unique_names("preset", ((p.name, p.aliases) for p in self.presets))
        _unique_names("instance type", ((t.name, t.aliases) for t in self.instance_types))
        names = {p.name: p for p in self.presets}
        for preset in self.presets:
            target = preset.replaced_by
            if target is not None and (target not in names or names[target].deprecated):
                raise ValueError(
                    f"preset {preset.name}: replaced_by {target!r} is not a current preset"
                )
        return self

    @functools.cached_property
    def preset_index(self) -> Mapping[str, Preset]:
        """Lower-cased name or alias -> preset."""
        return {
            key.lower(): p for p in self.presets for key in (p.name, *p.aliases)
        }  # uniqueness checked at validation

    @functools.cached_property
    def instance_type_index(self) -> Mapping[str, InstanceType]:
        """Lower-cased name or alias -> instance type."""
        return {key.lower(): t for t in self.instance_types for key in (t.name, *t.aliases)}


def _unique_names(kind: str, entries: Iterable[tuple[str, tuple[str, ...]]]) -> None:
    seen: dict[str, str] = {}
    for name, aliases in entries:
        for key in (name, *aliases):
            folded = key.lower()
            if folded in seen:
                raise ValueError(
                    f"{kind} name {key!r} (of {name}) clashes with {seen[folded]!r} "
                    "(names are matched case-insensitively)"
                )
            seen[folded] = name
