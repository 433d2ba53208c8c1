"""Does a preset fit an instance type? Every reason it does not, in one answer.

This is the check behind admission (and the reconciler, when admission was bypassed): Kaito's
classic inference checks (GPU count, per-GPU memory, total memory, over ``node_count`` nodes when
the model can be split across nodes), the runtime limits (transformers never spans nodes; vLLM
without tensor parallelism needs the model on one GPU), and for tuning the checks Kaito lacks: the
method must be supported and every GPU must hold the run's peak memory (the tuning Job runs one
full replica per GPU), on a single node. All violations are returned, never just the first, so a
user fixes a manifest in one round trip.

Messages keep the wording of Kaito's webhook where Kaito has one ("Insufficient total GPU memory:
...") so the two are recognisable side by side.
"""

from __future__ import annotations

import dataclasses
import math

from preset_catalog._errors import Violation, ViolationCode
from preset_catalog._schema import InstanceType, Preset, Runtime, TuningMethod

__all__ = ["FitReport", "Inference", "Tuning", "check_fit"]

INSTANCE_TYPE_FIELD = "resource.instanceType"
COUNT_FIELD = "resource.count"
METHOD_FIELD = "tuning.method"
RUNTIME_FIELD = "metadata.annotations[kaito.sh/runtime]"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Inference:
    """Serve the preset. ``runtime`` None means the preset's default runtime."""

    runtime: Runtime | None = None
    adapter_count: int = 0
    """LoRA adapters to serve with the model (``inference.adapters``)."""

    def __post_init__(self) -> None:
        if self.runtime is not None:
            object.__setattr__(self, "runtime", Runtime(self.runtime))
        if self.adapter_count < 0:
            raise ValueError(f"adapter_count must not be negative, got {self.adapter_count}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Tuning:
    """Fine-tune the preset with ``method``."""

    method: TuningMethod

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", TuningMethod(self.method))


@dataclasses.dataclass(frozen=True, kw_only=True)
class FitReport:
    preset: Preset
    instance_type: InstanceType
    workload: Inference | Tuning
    node_count: int
    violations: tuple[Violation, ...]

    @property
    def fits(self) -> bool:
        return not self.violations

    @property
    def messages(self) -> tuple[str, ...]:
        return tuple(v.message for v in self.violations)


def check_fit(
    preset: Preset,
    instance_type: InstanceType,
    *,
    workload: Inference | Tuning,
    node_count: int = 1,
) -> FitReport:
    """Check ``preset`` against ``node_count`` nodes of ``instance_type`` for ``workload``."""
    if node_count < 1:
        raise ValueError(f"node_count must be at least 1, got {node_count}")
    violations: list[Violation] = []
    if preset.deprecated:
        replacement = f"; use {preset.replaced_by} instead" if preset.replaced_by else ""
        violations.append(
            Violation(
                code=ViolationCode.PRESET_DEPRECATED,
                message=f"Model {preset.name} is deprecated and no longer supported{replacement}",
                field=_preset_field(workload),
            )
        )
    if isinstance(workload, Tuning):
        violations += _tuning_violations(preset, instance_type, workload.method, node_count)
    else:
        runtime = workload.runtime or preset.default_runtime
        violations += _inference_violations(preset, instance_type, runtime, node_count)
        if workload.adapter_count and runtime == Runtime.VLLM and not preset.vllm.lora_adapters:
            violations.append(
                Violation(
                    code=ViolationCode.ADAPTERS_NOT_SUPPORTED,
                    message=(
                        f"vLLM cannot serve LoRA adapters for preset {preset.name}; use the "
                        "transformers runtime or no adapters"
                    ),
                    field="inference.adapters",
                )
            )
    return FitReport(
        preset=preset,
        instance_type=instance_type,
        workload=workload,
        node_count=node_count,
        violations=tuple(violations),
    )


def _preset_field(workload: Inference | Tuning) -> str:
    return "tuning.preset.name" if isinstance(workload, Tuning) else "inference.preset.name"


def _gib(value: float) -> str:
    return f"{value:g} GiB"


def _tuning_violations(
    preset: Preset, sku: InstanceType, method: TuningMethod, node_count: int
) -> list[Violation]:
    found: list[Violation] = []
    requirement = preset.tuning_requirement(method)
    if requirement is None:
        supported = ", ".join(preset.tuning_methods) or "none, this preset is not tunable"
        found.append(
            Violation(
                code=ViolationCode.TUNING_METHOD_NOT_SUPPORTED,
                message=(
                    f"Tuning method {method} is not supported by preset {preset.name} "
                    f"(supported: {supported})"
                ),
                field=METHOD_FIELD,
            )
        )
    if node_count > 1:
        found.append(
            Violation(
                code=ViolationCode.MULTI_NODE_NOT_SUPPORTED,
                message=(
                    "Tuning does not currently support multinode configurations: "
                    f"node count is {node_count}, it must be 1"
                ),
                field=COUNT_FIELD,
            )
        )
    if requirement is not None and sku.gpu.memory_gib < requirement.gpu_memory_gib:
        found.append(
            Violation(
                code=ViolationCode.INSUFFICIENT_PER_GPU_MEMORY,
                message=(
                    f"Insufficient per GPU memory: instance type {sku.name} has "
                    f"{_gib(sku.gpu.memory_gib)} per GPU, but {method} tuning of preset "
                    f"{preset.name} needs {_gib(requirement.gpu_memory_gib)} on every GPU "
                    "(each GPU trains a full replica)"
                ),
                field=INSTANCE_TYPE_FIELD,
            )
        )
    return found


def _inference_violations(
    preset: Preset, sku: InstanceType, runtime: Runtime, node_count: int
) -> list[Violation]:
    found: list[Violation] = []
    need = preset.inference
    if runtime not in preset.runtimes:
        found.append(
            Violation(
                code=ViolationCode.RUNTIME_NOT_SUPPORTED,
                message=(
                    f"Runtime {runtime} is not supported by preset {preset.name} "
                    f"(supported: {', '.join(preset.runtimes)})"
                ),
                field=RUNTIME_FIELD,
            )
        )

    fits_one_node = (
        sku.total_gpu_memory_gib >= need.total_gpu_memory_gib and sku.gpu.count >= need.gpu_count
    )
    splits_across_nodes = runtime == Runtime.VLLM and preset.distributed_inference
    usable_nodes = node_count if splits_across_nodes else 1
    if node_count > 1 and not fits_one_node and not splits_across_nodes:
        reason = (
            "with Huggingface Transformers runtime"
            if runtime == Runtime.TRANSFORMERS and preset.distributed_inference
            else f"for preset {preset.name}"
        )
        found.append(
            Violation(
                code=ViolationCode.MULTI_NODE_NOT_SUPPORTED,
                message=(
                    f"Multi-node distributed inference is not supported {reason}: one "
                    f"{sku.name} node has {_gib(sku.total_gpu_memory_gib)} of GPU memory, "
                    f"the model needs {_gib(need.total_gpu_memory_gib)}; choose a larger "
                    "instance type"
                ),
                field=COUNT_FIELD,
            )
        )

    available_gpus = usable_nodes * sku.gpu.count
    if available_gpus < need.gpu_count:
        found.append(
            Violation(
                code=ViolationCode.INSUFFICIENT_GPU_COUNT,
                message=(
                    f"Insufficient number of GPUs: instance type {sku.name} provides "
                    f"{available_gpus} GPU(s) to one instance of the model, but preset "
                    f"{preset.name} requires at least {need.gpu_count}"
                ),
                field=INSTANCE_TYPE_FIELD,
            )
        )

    per_gpu = need.per_gpu_memory_gib
    per_gpu_reason = ""
    if runtime == Runtime.VLLM and not preset.vllm.tensor_parallel:
        per_gpu = need.total_gpu_memory_gib
        per_gpu_reason = " (vLLM cannot split this model across GPUs)"
    if per_gpu > 0 and sku.gpu.memory_gib < per_gpu:
        found.append(
            Violation(
                code=ViolationCode.INSUFFICIENT_PER_GPU_MEMORY,
                message=(
                    f"Insufficient per GPU memory: instance type {sku.name} has "
                    f"{_gib(sku.gpu.memory_gib)} per GPU, but preset {preset.name} requires at "
                    f"least {_gib(per_gpu)} per GPU{per_gpu_reason}"
                ),
                field=INSTANCE_TYPE_FIELD,
            )
        )

    available_gib = usable_nodes * sku.total_gpu_memory_gib
    if available_gib < need.total_gpu_memory_gib:
        has = (
            f"instance type {sku.name} has a total of {_gib(sku.total_gpu_memory_gib)}"
            if usable_nodes == 1
            else f"{usable_nodes} nodes of instance type {sku.name} have a total of "
            f"{_gib(available_gib)}"
        )
        hint = ""
        if splits_across_nodes:
            nodes = math.ceil(need.total_gpu_memory_gib / sku.total_gpu_memory_gib)
            hint = f"; preset {preset.name} can be split across nodes, {nodes} would fit it"
        found.append(
            Violation(
                code=ViolationCode.INSUFFICIENT_TOTAL_GPU_MEMORY,
                message=(
                    f"Insufficient total GPU memory: {has}, but preset {preset.name} requires "
                    f"at least {_gib(need.total_gpu_memory_gib)}{hint}"
                ),
                field=INSTANCE_TYPE_FIELD,
            )
        )
    return found
