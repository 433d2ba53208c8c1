"""estimate_node_count follows Kaito's estimator: vLLM sizes from GPU memory, transformers obeys."""

from __future__ import annotations

import pytest

import preset_catalog as pc

VLLM, TRANSFORMERS = pc.Runtime.VLLM, pc.Runtime.TRANSFORMERS


def estimate(
    preset: str,
    sku: str,
    *,
    runtime: pc.Runtime | None = None,
    max_model_len: int | None = None,
    requested: int = 1,
) -> pc.NodeEstimate:
    return pc.estimate_node_count(
        pc.resolve_preset(preset).preset,
        pc.get_instance_type(sku),
        runtime=runtime,
        max_model_len_tokens=max_model_len,
        requested_node_count=requested,
    )


# Worked by hand: usable = 0.84 x GiB per GPU; reserve = 2.3 + max_model_len x KV bytes per token /
# GPUs per node; per GPU = (usable - reserve) / 1.05; GPUs = floor(1.02 x weights / per GPU) + 1.
ESTIMATES = [
    # 13.44 usable, 3.05 reserve, 9.90/GPU; 7.26 GiB of weights -> 1 GPU
    ("phi-3-mini-4k-instruct", "Standard_NC6s_v3", None, 1, 1),
    # 13.44 usable, 2.55 reserve, 10.37/GPU; 13.77 GiB -> 2 GPUs -> 2 one-GPU nodes
    ("mistral-7b", "Standard_NC6s_v3", None, 2, 2),
    # 2.69 reserve, 10.24/GPU; 26.52 GiB -> 3 GPUs
    ("phi-3-medium-128k-instruct", "Standard_NC6s_v3", None, 3, 3),
    # the same 3 GPUs fit one 4-GPU node
    ("phi-3-medium-128k-instruct", "Standard_NC24s_v3", None, 3, 1),
    # 67.2 usable; 16k tokens of KV cache (6 GiB) still leave room for 7.26 GiB -> 1 GPU
    ("phi-3-mini-128k-instruct", "Standard_NC24ads_A100_v4", 16384, 1, 1),
    ("llama-3.1-8b-instruct", "Standard_NC24ads_A100_v4", None, 1, 1),
    # 20.16 usable, 2.55 reserve, 16.77/GPU; 15.26 GiB -> 1 GPU
    ("llama-3.1-8b-instruct", "g5.xlarge", None, 1, 1),
]


@pytest.mark.parametrize(("preset", "sku", "max_model_len", "min_gpus", "nodes"), ESTIMATES)
def test_vllm_node_count(
    preset: str, sku: str, max_model_len: int | None, min_gpus: int, nodes: int
) -> None:
    result = estimate(preset, sku, runtime=VLLM, max_model_len=max_model_len)
    assert (result.min_gpus, result.node_count) == (min_gpus, nodes)
    assert result.runtime is VLLM


def test_default_runtime_is_the_presets_first() -> None:
    assert estimate("phi-4", "Standard_NC24ads_A100_v4").runtime is VLLM
    assert estimate("falcon-40b", "Standard_NC24ads_A100_v4").runtime is TRANSFORMERS


@pytest.mark.parametrize("requested", [1, 2, 5])
def test_transformers_runtime_takes_the_requested_count(requested: int) -> None:
    result = estimate("falcon-40b", "Standard_NC6s_v3", runtime=TRANSFORMERS, requested=requested)
    assert result.node_count == requested
    assert result.min_gpus is None


def test_model_that_needs_nodes_but_cannot_span_them_is_an_error() -> None:
    with pytest.raises(pc.NodeEstimateError) as raised:
        estimate("falcon-40b", "Standard_NC24ads_A100_v4", runtime=VLLM)
    assert raised.value.violation.code is pc.ViolationCode.MULTI_NODE_NOT_SUPPORTED
    assert "cannot be distributed across more than one node" in str(raised.value)


def test_gpu_that_cannot_hold_the_kv_cache_is_an_error() -> None:
    # 131072 tokens x 384 KiB = 48 GiB of KV cache on a 16 GiB GPU
    with pytest.raises(pc.NodeEstimateError) as raised:
        estimate("phi-3-mini-128k-instruct", "Standard_NC6s_v3", max_model_len=131072)
    assert raised.value.violation.code is pc.ViolationCode.GPU_TOO_SMALL_FOR_RUNTIME


def test_max_model_len_beyond_the_context_window_is_an_error() -> None:
    with pytest.raises(pc.NodeEstimateError) as raised:
        estimate("phi-3-mini-4k-instruct", "Standard_NC24ads_A100_v4", max_model_len=8192)
    assert raised.value.violation.code is pc.ViolationCode.MAX_MODEL_LEN_EXCEEDS_CONTEXT_WINDOW


def test_requested_count_below_one_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="requested_node_count"):
        estimate("phi-4", "Standard_NC6s_v3", requested=0)


def test_kv_cache_bytes_per_token_from_the_architecture() -> None:
    """2 (K and V) x layers x KV heads x head dim x 2 bytes."""
    arch = pc.resolve_preset("phi-3-mini-4k-instruct").preset.architecture
    assert arch.kv_cache_bytes_per_token == 2 * 32 * 32 * 96 * 2
    arch = pc.resolve_preset("llama-3.1-8b-instruct").preset.architecture
    assert arch.kv_cache_bytes_per_token == 2 * 32 * 8 * 128 * 2
