"""Shared fixtures: the packaged catalog, and a valid preset document to break in schema tests."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import preset_catalog as pc

VALID_PRESET: dict[str, Any] = {
    "name": "tiny-llama",
    "model": {"repository": "example/tiny-llama", "revision": "main"},
    "architecture": {
        "family": "llama",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 256,
        "tie_word_embeddings": False,
    },
    "weights_gib": 1.0,
    "disk_gib": 10,
    "context_window_tokens": 2048,
    "inference": {"gpu_count": 1, "total_gpu_memory_gib": 2},
    "distributed_inference": False,
    "runtimes": ["vllm"],
    "tuning": [{"method": "qlora", "gpu_memory_gib": 1.5}],
    "runtime_image": {"name": "model-runtime", "tag": "0.1.0"},
    "lora_target_modules": ["q_proj", "v_proj"],
    "readiness_timeout_seconds": 1800,
}

VALID_INSTANCE_TYPE: dict[str, Any] = {
    "name": "Standard_Test1",
    "cloud": "azure",
    "gpu": {"model": "NVIDIA T4", "count": 2, "memory_gib": 16, "compute_capability": "7.5"},
    "total_gpu_memory_gib": 32,
    "vcpus": 8,
    "memory_gib": 56,
    "vm_family": "standardTestFamily",
    "nvme": False,
}


@pytest.fixture(scope="session")
def catalog() -> pc.Catalog:
    return pc.load_catalog()


@pytest.fixture
def preset_doc() -> dict[str, Any]:
    return copy.deepcopy(VALID_PRESET)


@pytest.fixture
def instance_type_doc() -> dict[str, Any]:
    return copy.deepcopy(VALID_INSTANCE_TYPE)
