"""Peak GPU memory of a LoRA / QLoRA fine-tuning run, from the model's shape.

Kaito has no tuning memory check at all (its per-preset tuning numbers were rough guesses, 72 GiB
for a 3.8B model). Ours must accept the seed's QLoRA phi-3-mini on one 16 GiB V100 and reject runs
that cannot fit, so the catalog's tuning figures are computed here from first principles and
stored, rounded up, in the reviewed YAML; a test keeps the two in step. MEMORY.md walks through the
terms, the assumptions about the runtime (Kaito's flow: bitsandbytes NF4, peft, trl's SFTTrainer)
and the calibration against published QLoRA measurements.

Everything is in bytes until the result, which is in GiB.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from preset_catalog._schema import TuningMethod

if TYPE_CHECKING:
    from preset_catalog._schema import Preset

__all__ = [
    "REFERENCE_BATCH_SIZE",
    "REFERENCE_LORA_RANK",
    "REFERENCE_SEQUENCE_LENGTH_TOKENS",
    "TuningMemoryEstimate",
    "estimate_tuning_memory",
    "rounded_requirement_gib",
]

GIB = 2**30

# The workload the catalog's figures are stated for: Kaito's default batch
# (per_device_train_batch_size 1) and LoRA rank (r 8), at twice trl's default truncation length
# (SFTConfig max_length 1024).
REFERENCE_BATCH_SIZE = 1
REFERENCE_SEQUENCE_LENGTH_TOKENS = 2048
REFERENCE_LORA_RANK = 8

# NF4 with double quantization: 4 bits per weight, an 8-bit scale per 64-weight block, and one fp32
# scale per 256 of those scales (QLoRA paper, "about 4.127 bits per parameter").
NF4_BYTES_PER_PARAMETER = (4 + 8 / 64 + 32 / (64 * 256)) / 8
HALF_BYTES = 2  # bfloat16 / float16
FLOAT_BYTES = 4
# A trainable LoRA parameter: fp32 weight + fp32 gradient + AdamW's two fp32 moments.
LORA_STATE_BYTES_PER_PARAMETER = 16
# Logits for the loss: 16-bit logits, their fp32 upcast and its gradient, not all alive at once.
# 8 bytes per (token x vocabulary entry) sits above the 6-7 measured in the calibration (MEMORY.md).
LOGIT_BYTES = 8
# Allocator fragmentation on top of everything that is allocated dynamically.
FRAGMENTATION = 0.10
# CUDA context, cuBLAS workspaces and the caching allocator's slack, per GPU.
CUDA_CONTEXT_GIB = 1.0
# The catalog stores requirements rounded up to this step.
ROUNDING_STEP_GIB = 0.5


@dataclasses.dataclass(frozen=True, kw_only=True)
class TuningMemoryEstimate:
    """Peak memory on one GPU for one fine-tuning process, and the terms it is made of (GiB)."""

    method: TuningMethod
    batch_size: int
    sequence_length_tokens: int
    lora_rank: int
    target_modules: tuple[str, ...]
    lora_parameters: int
    base_weights_gib: float
    """Frozen weights: 16-bit for LoRA; NF4 linear layers + fp32 embeddings for QLoRA."""
    lora_state_gib: float
    """Adapter weights, gradients and optimizer state."""
    activations_gib: float
    """Checkpointed layer inputs, one recomputed layer, and the logits for the loss."""
    dequantization_gib: float
    """QLoRA: the largest layer dequantized to 16-bit for the forward and backward matmuls."""
    overhead_gib: float
    """Fragmentation (10 % of the above) plus the CUDA context."""

    @property
    def total_gib(self) -> float:
        return (
            self.base_weights_gib
            + self.lora_state_gib
            + self.activations_gib
            + self.dequantization_gib
            + self.overhead_gib
        )


def estimate_tuning_memory(
    preset: Preset,
    method: TuningMethod,
    *,
    batch_size: int = REFERENCE_BATCH_SIZE,
    sequence_length_tokens: int = REFERENCE_SEQUENCE_LENGTH_TOKENS,
    lora_rank: int = REFERENCE_LORA_RANK,
    target_modules: tuple[str, ...] | None = None,
) -> TuningMemoryEstimate:
    """Estimate the per-GPU peak of tuning ``preset`` with ``method`` (see MEMORY.md).

    Each GPU holds a full replica (the tuning Job runs one data-parallel process per GPU), so the
    result is what every GPU of the node must have. ``target_modules`` defaults to the preset's.
    """
    method = TuningMethod(method)
    if batch_size < 1 or sequence_length_tokens < 1 or lora_rank < 1:
        raise ValueError("batch_size, sequence_length_tokens and lora_rank must be positive")
    arch = preset.architecture
    shapes = arch.linear_shapes()
    modules = preset.lora_target_modules if target_modules is None else target_modules
    unknown = [m for m in modules if m not in shapes]
    if unknown or not modules:
        raise ValueError(
            f"target modules {unknown or '[]'} are not linear layers of {preset.name} "
            f"(valid: {', '.join(shapes)})"
        )

    if method == TuningMethod.QLORA:
        # Linear layers in NF4; prepare_model_for_kbit_training upcasts everything that stayed in
        # 16-bit (embeddings, output head, norms) to fp32.
        base = (
            arch.linear_parameters * NF4_BYTES_PER_PARAMETER
            + arch.embedding_parameters * FLOAT_BYTES
        )
        largest = max(i * o for i, o in shapes.values())
        dequantization = 2 * largest * HALF_BYTES
    else:
        base = arch.parameter_count * HALF_BYTES
        dequantization = 0

    lora_parameters = arch.num_hidden_layers * sum(
        lora_rank * (shapes[m][0] + shapes[m][1]) for m in modules
    )
    lora_state = lora_parameters * LORA_STATE_BYTES_PER_PARAMETER

    tokens = batch_size * sequence_length_tokens
    h, inter = arch.hidden_size, arch.intermediate_size
    # Gradient checkpointing is on (trl's SFTConfig default; QLoRA also via
    # prepare_model_for_kbit_training): one 16-bit hidden state per layer is kept, and one layer at
    # a time is recomputed during backward. 10h + 6I per token covers attention (SDPA, no s^2 score
    # matrix), norms and either MLP shape, with margin (34h for I = 4h, as Korthikanti et al.).
    checkpoints = arch.num_hidden_layers * tokens * h * HALF_BYTES
    one_layer = tokens * (10 * h + 6 * inter) * HALF_BYTES
    logits = tokens * arch.vocab_size * LOGIT_BYTES
    activations = checkpoints + one_layer + logits

    dynamic = base + lora_state + activations + dequantization
    overhead = dynamic * FRAGMENTATION + CUDA_CONTEXT_GIB * GIB
    return TuningMemoryEstimate(
        method=method,
        batch_size=batch_size,
        sequence_length_tokens=sequence_length_tokens,
        lora_rank=lora_rank,
        target_modules=tuple(modules),
        lora_parameters=lora_parameters,
        base_weights_gib=base / GIB,
        lora_state_gib=lora_state / GIB,
        activations_gib=activations / GIB,
        dequantization_gib=dequantization / GIB,
        overhead_gib=overhead / GIB,
    )


def rounded_requirement_gib(estimate: TuningMemoryEstimate) -> float:
    """The figure the catalog stores: the estimate rounded up to the next half GiB."""
    return math.ceil(estimate.total_gib / ROUNDING_STEP_GIB) * ROUNDING_STEP_GIB
