"""check_fit: the seed fits, what cannot fit is rejected, and every reason is reported."""

from __future__ import annotations

import pytest

import preset_catalog as pc

VC = pc.ViolationCode
LORA, QLORA = pc.TuningMethod.LORA, pc.TuningMethod.QLORA
VLLM, TRANSFORMERS = pc.Runtime.VLLM, pc.Runtime.TRANSFORMERS


def fit(preset: str, sku: str, workload: pc.Inference | pc.Tuning, nodes: int = 1) -> pc.FitReport:
    return pc.check_fit(
        pc.resolve_preset(preset).preset,
        pc.get_instance_type(sku),
        workload=workload,
        node_count=nodes,
    )


def test_the_seed_qlora_phi3_mini_128k_fits_one_v100() -> None:
    report = fit("phi-3-mini-128k-instruct", "Standard_NC6s_v3", pc.Tuning(method=QLORA))
    assert report.fits
    assert report.violations == ()


def test_phi3_medium_128k_inference_does_not_fit_one_v100_and_says_why() -> None:
    report = fit("phi-3-medium-128k-instruct", "Standard_NC6s_v3", pc.Inference())
    assert not report.fits
    assert [v.code for v in report.violations] == [VC.INSUFFICIENT_TOTAL_GPU_MEMORY]
    violation = report.violations[0]
    assert violation.field == "resource.instanceType"
    assert violation.message.startswith(
        "Insufficient total GPU memory: instance type Standard_NC6s_v3 has a total of 16 GiB, "
        "but preset phi-3-medium-128k-instruct requires at least 28 GiB"
    )


FITS = [
    ("phi-3-mini-4k-instruct", "Standard_NC6s_v3", pc.Inference(), 1),
    ("phi-3-mini-128k-instruct", "Standard_NC6s_v3", pc.Tuning(method=LORA), 1),
    ("phi-3-mini-128k-instruct", "Standard_NC4as_T4_v3", pc.Tuning(method=QLORA), 1),
    ("phi-3-medium-128k-instruct", "Standard_NC6s_v3", pc.Tuning(method=QLORA), 1),
    ("phi-3-medium-128k-instruct", "Standard_NC24s_v3", pc.Inference(), 1),
    ("phi-3-medium-128k-instruct", "Standard_NC6s_v3", pc.Inference(runtime=VLLM), 2),
    ("falcon-7b", "Standard_NC6s_v3", pc.Inference(runtime=VLLM), 1),
    ("falcon-40b", "Standard_NC48ads_A100_v4", pc.Inference(), 1),
    ("falcon-40b", "Standard_NC40ads_H100_v5", pc.Tuning(method=LORA), 1),
    ("phi-4", "Standard_NV36ads_A10_v5", pc.Tuning(method=QLORA), 1),
    ("llama-3.1-8b-instruct", "g6.xlarge", pc.Inference(), 1),
    ("phi-3.5-mini-instruct", "Standard_NC6s_v3", pc.Inference(), 3),  # replicas
]


@pytest.mark.parametrize(("preset", "sku", "workload", "nodes"), FITS)
def test_combination_fits(
    preset: str, sku: str, workload: pc.Inference | pc.Tuning, nodes: int
) -> None:
    report = fit(preset, sku, workload, nodes)
    assert report.fits, report.messages


DOES_NOT_FIT = [
    pytest.param(
        "phi-3-medium-128k-instruct",
        "Standard_NC6s_v3",
        pc.Tuning(method=LORA),
        1,
        [VC.INSUFFICIENT_PER_GPU_MEMORY],
        "needs 32.5 GiB on every GPU",
        id="lora of a 14B model on a 16 GiB GPU",
    ),
    pytest.param(
        "phi-3-medium-128k-instruct",
        "Standard_NC12s_v3",
        pc.Tuning(method=LORA),
        1,
        [VC.INSUFFICIENT_PER_GPU_MEMORY],
        "each GPU trains a full replica",
        id="two small GPUs do not add up for tuning",
    ),
    pytest.param(
        "phi-4",
        "Standard_NC6s_v3",
        pc.Tuning(method=QLORA),
        1,
        [VC.INSUFFICIENT_PER_GPU_MEMORY],
        "qlora tuning of preset phi-4 needs 17 GiB",
        id="qlora of phi-4 on a V100",
    ),
    pytest.param(
        "mistral-7b-instruct",
        "Standard_NC24ads_A100_v4",
        pc.Tuning(method=LORA),
        1,
        [VC.TUNING_METHOD_NOT_SUPPORTED],
        "(supported: none, this preset is not tunable)",
        id="instruct variant is not tunable",
    ),
    pytest.param(
        "phi-3-mini-128k-instruct",
        "Standard_NC6s_v3",
        pc.Tuning(method=QLORA),
        2,
        [VC.MULTI_NODE_NOT_SUPPORTED],
        "Tuning does not currently support multinode configurations",
        id="tuning on two nodes",
    ),
    pytest.param(
        "falcon-40b",
        "Standard_NC24ads_A100_v4",
        pc.Inference(),
        2,
        [
            VC.MULTI_NODE_NOT_SUPPORTED,
            VC.INSUFFICIENT_GPU_COUNT,
            VC.INSUFFICIENT_TOTAL_GPU_MEMORY,
        ],
        "Multi-node distributed inference is not supported for preset falcon-40b",
        id="falcon-40b cannot span nodes",
    ),
    pytest.param(
        "phi-3-medium-128k-instruct",
        "Standard_NC6s_v3",
        pc.Inference(runtime=TRANSFORMERS),
        2,
        [VC.MULTI_NODE_NOT_SUPPORTED, VC.INSUFFICIENT_TOTAL_GPU_MEMORY],
        "not supported with Huggingface Transformers runtime",
        id="transformers never spans nodes",
    ),
    pytest.param(
        "falcon-40b",
        "Standard_NC48ads_A100_v4",
        pc.Inference(runtime=VLLM),
        1,
        [VC.INSUFFICIENT_PER_GPU_MEMORY],
        "vLLM cannot split this model across GPUs",
        id="vllm without tensor parallelism needs one big GPU",
    ),
    pytest.param(
        "phi-4-mini-instruct",
        "Standard_NC24ads_A100_v4",
        pc.Inference(runtime=TRANSFORMERS),
        1,
        [VC.RUNTIME_NOT_SUPPORTED],
        "Runtime transformers is not supported by preset phi-4-mini-instruct",
        id="runtime the preset lacks",
    ),
    pytest.param(
        "phi-2",
        "Standard_NC6s_v3",
        pc.Inference(),
        1,
        [VC.PRESET_DEPRECATED],
        "Model phi-2 is deprecated and no longer supported",
        id="deprecated preset",
    ),
    pytest.param(
        "falcon-40b-instruct",
        "Standard_NC6s_v3",
        pc.Tuning(method=QLORA),
        3,
        [VC.TUNING_METHOD_NOT_SUPPORTED, VC.MULTI_NODE_NOT_SUPPORTED],
        "Tuning method qlora is not supported by preset falcon-40b-instruct",
        id="every violation at once",
    ),
]


@pytest.mark.parametrize(("preset", "sku", "workload", "nodes", "codes", "message"), DOES_NOT_FIT)
def test_combination_does_not_fit(
    preset: str,
    sku: str,
    workload: pc.Inference | pc.Tuning,
    nodes: int,
    codes: list[pc.ViolationCode],
    message: str,
) -> None:
    report = fit(preset, sku, workload, nodes)
    assert not report.fits
    assert [v.code for v in report.violations] == codes
    assert any(message in m for m in report.messages), report.messages


def test_insufficient_memory_hint_names_the_node_count_that_would_fit() -> None:
    report = fit("phi-3-medium-128k-instruct", "Standard_NC6s_v3", pc.Inference())
    assert "can be split across nodes, 2 would fit it" in report.messages[0]


def test_violations_name_the_workspace_field() -> None:
    report = fit("falcon-40b-instruct", "Standard_NC6s_v3", pc.Tuning(method=QLORA), 3)
    assert [v.field for v in report.violations] == ["tuning.method", "resource.count"]


def test_node_count_below_one_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="node_count"):
        fit("phi-4", "Standard_NC6s_v3", pc.Inference(), 0)


def test_tuning_fit_follows_the_per_gpu_figure_for_every_combination(catalog: pc.Catalog) -> None:
    """Over the whole catalog: tuning fits exactly when one GPU holds the stated peak."""
    for preset in catalog.presets:
        if preset.deprecated:
            continue
        for requirement in preset.tuning:
            for sku in catalog.instance_types:
                report = pc.check_fit(preset, sku, workload=pc.Tuning(method=requirement.method))
                expected = sku.gpu.memory_gib >= requirement.gpu_memory_gib
                assert report.fits is expected, (preset.name, requirement.method, sku.name)


def test_violation_str_shows_field_and_message() -> None:
    violation = fit("phi-2", "Standard_NC6s_v3", pc.Inference()).violations[0]
    assert str(violation) == f"inference.preset.name: {violation.message}"


@pytest.mark.parametrize(
    ("runtime", "codes"),
    [(VLLM, [VC.ADAPTERS_NOT_SUPPORTED]), (TRANSFORMERS, [])],
)
def test_adapters_on_a_model_vllm_cannot_adapt(
    runtime: pc.Runtime, codes: list[pc.ViolationCode]
) -> None:
    report = fit(
        "falcon-7b", "Standard_NC24ads_A100_v4", pc.Inference(runtime=runtime, adapter_count=1)
    )
    assert [v.code for v in report.violations] == codes


def test_adapters_are_fine_where_vllm_supports_lora() -> None:
    assert fit("phi-4", "Standard_NC24ads_A100_v4", pc.Inference(adapter_count=10)).fits


def test_workloads_accept_plain_strings_and_store_enums() -> None:
    assert pc.Tuning(method="qlora").method is QLORA  # type: ignore[arg-type]
    assert pc.Inference(runtime="transformers").runtime is TRANSFORMERS  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dora"):
        pc.Tuning(method="dora")  # type: ignore[arg-type]


def test_negative_adapter_count_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="adapter_count"):
        pc.Inference(adapter_count=-1)
