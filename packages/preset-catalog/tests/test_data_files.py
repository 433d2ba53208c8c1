"""Every reviewed data file loads, and the numbers in it agree with each other."""

from __future__ import annotations

import math
import re

import pytest

import preset_catalog as pc
from preset_catalog import _loading, _memory

REQUIRED_PRESETS = [
    "phi-3-mini-4k-instruct",
    "phi-3-mini-128k-instruct",
    "phi-3-medium-4k-instruct",
    "phi-3-medium-128k-instruct",
    "phi-3.5-mini-instruct",
    "phi-4",
    "phi-4-mini-instruct",
    "mistral-7b",
    "mistral-7b-instruct",
    "falcon-7b",
    "falcon-7b-instruct",
    "falcon-40b",
    "falcon-40b-instruct",
    "llama-3.1-8b-instruct",
    "qwen2.5-coder-7b-instruct",
    "deepseek-r1-distill-llama-8b",
    "deepseek-r1-distill-qwen-14b",
]

REQUIRED_INSTANCE_TYPES = [
    *("Standard_NC6s_v3", "Standard_NC12s_v3", "Standard_NC24s_v3", "Standard_NC24rs_v3"),
    *("Standard_NC4as_T4_v3", "Standard_NC8as_T4_v3", "Standard_NC16as_T4_v3"),
    "Standard_NC64as_T4_v3",
    *("Standard_NV36ads_A10_v5", "Standard_NV72ads_A10_v5"),
    *("Standard_NC24ads_A100_v4", "Standard_NC48ads_A100_v4", "Standard_NC96ads_A100_v4"),
    *("Standard_ND96asr_A100_v4", "Standard_ND96amsr_A100_v4"),
    *("Standard_NC40ads_H100_v5", "Standard_NC80adis_H100_v5", "Standard_ND96isr_H100_v5"),
    "Standard_ND96isr_H200_v5",
    *("p4d.24xlarge", "p4de.24xlarge", "p5.48xlarge"),
    *(f"g5.{size}" for size in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")),
    *(f"g5.{size}" for size in ("12xlarge", "24xlarge", "48xlarge")),
    *(f"g6.{size}" for size in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")),
    *(f"g6.{size}" for size in ("12xlarge", "24xlarge", "48xlarge")),
]


@pytest.mark.parametrize("path", _loading.data_files())
def test_data_file_loads_and_validates(path: str) -> None:
    _loading.load_data_file(path)


def test_data_files_cover_presets_instance_types_and_tuning_defaults() -> None:
    files = _loading.data_files()
    assert "tuning_defaults.yaml" in files
    assert any(f.startswith("presets/") for f in files)
    assert {"instance_types/azure.yaml", "instance_types/aws.yaml"} <= set(files)


def test_catalog_is_loaded_once_and_shared() -> None:
    assert pc.load_catalog() is pc.load_catalog()


@pytest.mark.parametrize("name", REQUIRED_PRESETS)
def test_required_preset_is_present_under_its_canonical_name(name: str) -> None:
    assert pc.resolve_preset(name).preset.name == name


@pytest.mark.parametrize("name", REQUIRED_INSTANCE_TYPES)
def test_required_instance_type_is_present(name: str) -> None:
    assert pc.get_instance_type(name).name == name


def test_parameter_count_from_the_architecture_matches_the_weights(catalog: pc.Catalog) -> None:
    """A typo in a config.json number shows up as a weights mismatch (16-bit: 2 bytes/param)."""
    for preset in catalog.presets:
        computed_gib = preset.architecture.parameter_count * 2 / 2**30
        assert computed_gib == pytest.approx(preset.weights_gib, rel=0.01), preset.name


def test_tuning_figures_are_the_rounded_up_derivation(catalog: pc.Catalog) -> None:
    for preset in catalog.presets:
        for tuning in preset.tuning:
            estimate = pc.estimate_tuning_memory(preset, tuning.method)
            expected = _memory.rounded_requirement_gib(estimate)
            assert tuning.gpu_memory_gib == expected, (
                f"{preset.name} {tuning.method}: store gpu_memory_gib {expected:g} "
                f"(estimate {estimate.total_gib:.2f} GiB)"
            )


def test_readiness_timeouts_follow_kaitos_rule(catalog: pc.Catalog) -> None:
    """15 min + 18 s per GiB of weights, clamped to 30..180 min, in whole minutes."""
    for preset in catalog.presets:
        minutes = min(max(math.ceil(15 + 18 * preset.weights_gib / 60), 30), 180)
        assert preset.readiness_timeout_seconds == minutes * 60, preset.name


def test_phi3_presets_target_the_fused_phi3_layers(catalog: pc.Catalog) -> None:
    for preset in catalog.presets:
        if preset.architecture.family is pc.ArchitectureFamily.PHI3:
            assert preset.lora_target_modules == ("qkv_proj", "o_proj", "gate_up_proj", "down_proj")


def test_revisions_are_pinned_commits(catalog: pc.Catalog) -> None:
    for preset in catalog.presets:
        assert re.fullmatch(r"[0-9a-f]{40}", preset.model.revision), preset.name


def test_instruct_variants_are_not_tunable_as_in_kaito(catalog: pc.Catalog) -> None:
    for name in ("mistral-7b-instruct", "falcon-7b-instruct", "falcon-40b-instruct"):
        assert catalog.preset_index[name].tuning == ()


def test_azure_vm_families_look_like_compute_usage_names(catalog: pc.Catalog) -> None:
    for sku in catalog.instance_types:
        if sku.cloud is pc.Cloud.AZURE:
            assert re.fullmatch(r"[Ss]tandard[A-Za-z0-9_]+Family", sku.vm_family), sku.name


def test_seed_instance_type_is_one_v100_without_bfloat16() -> None:
    nc6 = pc.get_instance_type("Standard_NC6s_v3")
    assert (nc6.gpu.model, nc6.gpu.count, nc6.gpu.memory_gib) == ("NVIDIA V100", 1, 16)
    assert nc6.vm_family == "standardNCSv3Family"
    assert not nc6.gpu.supports_bf16
