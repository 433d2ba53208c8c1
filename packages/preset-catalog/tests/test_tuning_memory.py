"""The tuning memory derivation (MEMORY.md): the seed's numbers, and how the estimate behaves."""

from __future__ import annotations

import pytest

import preset_catalog as pc

LORA, QLORA = pc.TuningMethod.LORA, pc.TuningMethod.QLORA


def seed() -> pc.Preset:
    return pc.resolve_preset("phi-3-mini-128k-instruct").preset


def test_seed_qlora_breakdown_matches_memory_md() -> None:
    estimate = pc.estimate_tuning_memory(seed(), QLORA)
    assert (estimate.batch_size, estimate.sequence_length_tokens, estimate.lora_rank) == (
        1,
        2048,
        8,
    )
    assert estimate.target_modules == ("qkv_proj", "o_proj", "gate_up_proj", "down_proj")
    assert estimate.lora_parameters == 12_582_912
    assert estimate.base_weights_gib == pytest.approx(2.47, abs=0.01)
    assert estimate.lora_state_gib == pytest.approx(0.19, abs=0.01)
    assert estimate.activations_gib == pytest.approx(1.17, abs=0.01)
    assert estimate.dequantization_gib == pytest.approx(0.19, abs=0.01)
    assert estimate.overhead_gib == pytest.approx(1.40, abs=0.01)
    assert estimate.total_gib == pytest.approx(5.42, abs=0.01)


def test_seed_qlora_leaves_room_on_a_16_gib_gpu_even_at_4096_tokens() -> None:
    assert pc.estimate_tuning_memory(seed(), QLORA, sequence_length_tokens=4096).total_gib < 16


def test_lora_holds_16_bit_weights_and_needs_no_dequantization() -> None:
    estimate = pc.estimate_tuning_memory(seed(), LORA)
    assert estimate.base_weights_gib == pytest.approx(
        seed().architecture.parameter_count * 2 / 2**30
    )
    assert estimate.dequantization_gib == 0
    assert estimate.total_gib == pytest.approx(10.32, abs=0.01)


def test_qlora_needs_less_than_lora_for_every_tunable_preset(catalog: pc.Catalog) -> None:
    for preset in catalog.presets:
        if preset.tuning:
            qlora = pc.estimate_tuning_memory(preset, QLORA).total_gib
            assert qlora < pc.estimate_tuning_memory(preset, LORA).total_gib, preset.name


def workload(batch: int = 1, tokens: int = 2048, rank: int = 8) -> pc.TuningMemoryEstimate:
    return pc.estimate_tuning_memory(
        seed(), QLORA, batch_size=batch, sequence_length_tokens=tokens, lora_rank=rank
    )


@pytest.mark.parametrize(
    "bigger",
    [{"batch": 2}, {"tokens": 4096}, {"rank": 16}],
    ids=["batch", "sequence", "rank"],
)
def test_estimate_grows_with_batch_sequence_and_rank(bigger: dict[str, int]) -> None:
    assert workload(**bigger).total_gib > workload().total_gib


def test_fewer_target_modules_train_fewer_parameters() -> None:
    only_attention = pc.estimate_tuning_memory(seed(), QLORA, target_modules=("qkv_proj", "o_proj"))
    assert only_attention.lora_parameters == 32 * 8 * ((3072 + 9216) + (3072 + 3072))


def test_unfused_names_are_not_phi3_layers() -> None:
    """Kaito's Phi-3 default (q_proj, k_proj, ...) names layers Phi3ForCausalLM does not have."""
    kaito_default = ("k_proj", "q_proj", "v_proj", "o_proj", "gate_proj", "down_proj", "up_proj")
    with pytest.raises(
        ValueError, match=r"\['k_proj', 'q_proj', 'v_proj', 'gate_proj', 'up_proj'\]"
    ):
        pc.estimate_tuning_memory(seed(), QLORA, target_modules=kaito_default)


@pytest.mark.parametrize(
    "zero", [{"batch": 0}, {"tokens": 0}, {"rank": 0}], ids=["batch", "sequence", "rank"]
)
def test_non_positive_workload_is_rejected(zero: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        workload(**zero)
