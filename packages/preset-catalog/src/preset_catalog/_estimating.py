"""How many nodes one instance of a served model needs: Kaito's node estimator.

The workspace controller computes ``status.targetNodeCount`` once and never changes it, so the
formula must be reproducible: with the transformers runtime the user's ``resource.count`` is taken
as is; with vLLM the count follows from one GPU's usable memory (vLLM's
``--gpu-memory-utilization`` share of it), a fixed per-GPU reserve (CUDA context, NCCL buffers,
CUDA graphs, plus the KV cache for ``max-model-len`` tokens spread over the node's GPUs) and the
weights, inflated by the 2 % vLLM adds when loading and a 5 % weight-proportional overhead. The GPUs
that takes, rounded up to whole nodes, is the answer; a model that would need several nodes but
cannot be split across them, or a GPU that cannot even hold the reserve, is an error.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from preset_catalog._errors import NodeEstimateError, Violation, ViolationCode
from preset_catalog._schema import Runtime

if TYPE_CHECKING:
    from preset_catalog._schema import InstanceType, Preset

__all__ = ["DEFAULT_MAX_MODEL_LEN_TOKENS", "NodeEstimate", "estimate_node_count"]

GIB = 2**30
DEFAULT_MAX_MODEL_LEN_TOKENS = 2048  # when the inference config sets no vllm max-model-len
VLLM_GPU_MEMORY_UTILIZATION = 0.84  # the share of each GPU the controller lets vLLM use
VLLM_BASE_RESERVE_GIB = 2.3  # CUDA context + NCCL (~0.6) and activations / CUDA graphs (~1.7)
WEIGHT_EXPANSION = 1.02  # loaded weights vs safetensors size
WEIGHT_OVERHEAD_FACTOR = 0.05  # activations and graphs that grow with the weights on a GPU


@dataclasses.dataclass(frozen=True, kw_only=True)
class NodeEstimate:
    node_count: int
    runtime: Runtime
    explanation: str
    min_gpus: int | None = None
    """vLLM only: the GPUs the weights need, before rounding up to whole nodes."""
    weights_per_gpu_gib: float | None = None
    """vLLM only: what one GPU can hold of the weights after the reserve."""


def estimate_node_count(
    preset: Preset,
    instance_type: InstanceType,
    *,
    runtime: Runtime | None = None,
    max_model_len_tokens: int | None = None,
    requested_node_count: int = 1,
) -> NodeEstimate:
    """Nodes of ``instance_type`` one serving instance of ``preset`` needs (Kaito's estimator).

    Raises :class:`NodeEstimateError` when no node count works.
    """
    runtime = Runtime(runtime) if runtime else preset.default_runtime
    if requested_node_count < 1:
        raise ValueError(f"requested_node_count must be at least 1, got {requested_node_count}")
    if runtime == Runtime.TRANSFORMERS:
        return NodeEstimate(
            node_count=requested_node_count,
            runtime=runtime,
            explanation="the transformers runtime uses the requested node count",
        )

    max_model_len = max_model_len_tokens or DEFAULT_MAX_MODEL_LEN_TOKENS
    if max_model_len > preset.context_window_tokens:
        raise NodeEstimateError(
            Violation(
                code=ViolationCode.MAX_MODEL_LEN_EXCEEDS_CONTEXT_WINDOW,
                message=(
                    f"max-model-len {max_model_len} exceeds the context window of preset "
                    f"{preset.name} ({preset.context_window_tokens} tokens)"
                ),
                field="inference.config",
            )
        )

    gpus_per_node = instance_type.gpu.count
    per_gpu_gib = instance_type.gpu.memory_gib
    usable_gib = per_gpu_gib * VLLM_GPU_MEMORY_UTILIZATION
    kv_cache_gib = (
        max_model_len * preset.architecture.kv_cache_bytes_per_token / gpus_per_node / GIB
    )
    reserve_gib = VLLM_BASE_RESERVE_GIB + kv_cache_gib
    if usable_gib <= reserve_gib:
        raise NodeEstimateError(
            Violation(
                code=ViolationCode.GPU_TOO_SMALL_FOR_RUNTIME,
                message=(
                    f"GPU memory of {instance_type.name} ({per_gpu_gib:g} GiB, "
                    f"{usable_gib:.1f} GiB usable by vLLM) is too small: it needs at least "
                    f"{reserve_gib:.1f} GiB of overhead ({VLLM_BASE_RESERVE_GIB:g} GiB base + "
                    f"{kv_cache_gib:.1f} GiB KV cache for {max_model_len} tokens)"
                ),
                field="resource.instanceType",
            )
        )
    weights_per_gpu = (usable_gib - reserve_gib) / (1 + WEIGHT_OVERHEAD_FACTOR)
    model_gib = preset.weights_gib * WEIGHT_EXPANSION
    # Kaito's rounding: floor + 1, which adds a GPU when the ratio is a whole number.
    min_gpus = int(model_gib / weights_per_gpu) + 1
    node_count = math.ceil(min_gpus / gpus_per_node)
    if node_count > 1 and not preset.distributed_inference:
        raise NodeEstimateError(
            Violation(
                code=ViolationCode.MULTI_NODE_NOT_SUPPORTED,
                message=(
                    f"preset {preset.name} cannot be distributed across more than one node, but "
                    f"it needs {node_count} nodes of {instance_type.name}; use an instance type "
                    "with more GPU memory"
                ),
                field="resource.instanceType",
            )
        )
    return NodeEstimate(
        node_count=node_count,
        runtime=runtime,
        min_gpus=min_gpus,
        weights_per_gpu_gib=weights_per_gpu,
        explanation=(
            f"{model_gib:.2f} GiB of weights at {weights_per_gpu:.2f} GiB per GPU need "
            f"{min_gpus} GPU(s); {instance_type.name} has {gpus_per_node} per node"
        ),
    )
