"""admission_violations: the policy's rules in Python, answered by the catalog's own functions."""

# Table-driven: one case per line reads better than wrapped rows (as in test_cel_rules.py).
# ruff: noqa: E501

from __future__ import annotations

import copy
import pathlib
from collections.abc import Callable
from typing import Any

import pytest
import yaml

import preset_catalog
from kaito_apis.workspace import v1beta1
from workspace_controller.admission import (
    AdmissionCode,
    AdmissionRule,
    AdmissionViolation,
    admission_violations,
    rules,
)

REPO = pathlib.Path(__file__).resolve().parents[4]
EXAMPLES = sorted((REPO / "examples").rglob("*.yaml"))
VC = preset_catalog.ViolationCode
R = AdmissionRule
Doc = dict[str, Any]
Mutation = Callable[[Doc], None]


def _tuning() -> Doc:
    return {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "ws"},
        "resource": {
            "instanceType": "Standard_NC6s_v3",
            "labelSelector": {"matchLabels": {"app": "tuning"}},
        },
        "tuning": {
            "preset": {"name": "phi-3-mini-128k-instruct"},
            "method": "qlora",
            "input": {"urls": ["https://example.com/data/train.parquet"]},
            "output": {"image": "registry.example.com/adapter:0.0.1", "imagePushSecret": "push"},
        },
    }


def _inference() -> Doc:
    doc = _tuning()
    del doc["tuning"]
    doc["inference"] = {"preset": {"name": "phi-3-mini-4k-instruct"}}
    return doc


def _set(path: str, value: Any) -> Mutation:
    def mutate(doc: Doc) -> None:
        *parents, leaf = path.split(".")
        node = doc
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value

    return mutate


def _annotate(**annotations: str) -> Mutation:
    def mutate(doc: Doc) -> None:
        doc["metadata"].setdefault("annotations", {}).update(
            {f"kaito.sh/{k.replace('_', '-')}": v for k, v in annotations.items()}
        )

    return mutate


def _all(*mutations: Mutation) -> Mutation:
    def mutate(doc: Doc) -> None:
        for m in mutations:
            m(doc)

    return mutate


def _check(base: Callable[[], Doc], *mutations: Mutation) -> list[AdmissionViolation]:
    doc = base()
    for m in mutations:
        m(doc)
    return admission_violations(v1beta1.Workspace.model_validate(doc))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_is_admissible(path: pathlib.Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        doc["apiVersion"] = "kaito.sh/v1beta1"  # the controller reads the stored version
        assert admission_violations(v1beta1.Workspace.model_validate(doc)) == []


def test_the_seed_tuning_manifest_is_admissible() -> None:
    assert "kaito_workspace_tuning_phi_3.yaml" in [p.name for p in EXAMPLES]
    assert _check(_tuning) == []


# (id, base, mutation, rule, code, field, message)
REJECTED: list[tuple[str, Callable[[], Doc], Mutation, R, Any, str, str]] = [
    ("runtime-annotation", _inference, _annotate(runtime="tgi"), R.ANNOTATION_VALUES, AdmissionCode.INVALID_ANNOTATION, "metadata.annotations[kaito.sh/runtime]", 'unsupported value "tgi", must be one of vllm, transformers'),
    ("image-family", _inference, _annotate(node_image_family="windows"), R.ANNOTATION_VALUES, AdmissionCode.INVALID_ANNOTATION, "metadata.annotations[kaito.sh/node-image-family]", "must be one of ubuntu, azurelinux"),
    ("performance-mode", _inference, _annotate(performance_mode="fast"), R.ANNOTATION_VALUES, AdmissionCode.INVALID_ANNOTATION, "metadata.annotations[kaito.sh/performance-mode]", "must be one of balanced, interactivity, throughput"),
    ("local-weights", _inference, _annotate(use_local_weights="True"), R.ANNOTATION_VALUES, AdmissionCode.INVALID_ANNOTATION, "metadata.annotations[kaito.sh/use-local-weights]", "must be one of true, false"),
    ("unknown-preset", _inference, _set("inference.preset.name", "phi-5-mini"), R.PRESET_KNOWN, AdmissionCode.UNKNOWN_PRESET, "inference.preset.name", 'Unsupported preset name "phi-5-mini"; did you mean'),
    ("unknown-far-off", _inference, _set("inference.preset.name", "zzzzzz"), R.PRESET_KNOWN, AdmissionCode.UNKNOWN_PRESET, "inference.preset.name", 'Unsupported preset name "zzzzzz"; `python -m preset_catalog list` shows every preset'),
    ("unknown-model-id", _inference, _set("inference.preset.name", "someorg/somemodel"), R.PRESET_KNOWN, AdmissionCode.UNKNOWN_PRESET, "inference.preset.name", "Hugging Face model ids are accepted only where the catalog lists them as an alias"),
    ("model-id-underscore", _inference, _set("inference.preset.name", "microsoft_phi-4"), R.PRESET_KNOWN, AdmissionCode.UNKNOWN_PRESET, "inference.preset.name", 'Unsupported preset name "microsoft_phi-4"'),
    ("non-ascii", _inference, _set("inference.preset.name", "phi-3-mini-4\u212a-instruct"), R.PRESET_KNOWN, AdmissionCode.UNKNOWN_PRESET, "inference.preset.name", "Unsupported preset name"),
    ("unknown-tuning-preset", _tuning, _set("tuning.preset.name", "phi-5"), R.PRESET_KNOWN, AdmissionCode.UNKNOWN_PRESET, "tuning.preset.name", 'Unsupported preset name "phi-5"'),
    ("deprecated", _inference, _set("inference.preset.name", "phi-2"), R.PRESET_NOT_DEPRECATED, VC.PRESET_DEPRECATED, "inference.preset.name", "Model phi-2 is deprecated and no longer supported; use phi-3.5-mini-instruct instead"),
    ("deprecated-alias", _tuning, _set("tuning.preset.name", "microsoft/phi-2"), R.PRESET_NOT_DEPRECATED, VC.PRESET_DEPRECATED, "tuning.preset.name", "Model phi-2 is deprecated"),
    ("unknown-sku", _inference, _set("resource.instanceType", "Standard_NC6"), R.INSTANCE_TYPE_KNOWN, AdmissionCode.UNKNOWN_INSTANCE_TYPE, "resource.instanceType", 'Unsupported instance type "Standard_NC6": preset catalog 0.1.0 does not list it; did you mean'),
    ("no-azure-leniency", _inference, _set("resource.instanceType", "Standard_NV999zzz"), R.INSTANCE_TYPE_KNOWN, AdmissionCode.UNKNOWN_INSTANCE_TYPE, "resource.instanceType", 'Unsupported instance type "Standard_NV999zzz": preset catalog 0.1.0 does not list it'),
    ("method", _tuning, _set("tuning.preset.name", "mistral-7b-instruct"), R.TUNING_METHOD_SUPPORTED, VC.TUNING_METHOD_NOT_SUPPORTED, "tuning.method", "Tuning method qlora is not supported by preset mistral-7b-instruct (supported: none, this preset is not tunable)"),
    ("runtime", _inference, _all(_set("inference.preset.name", "phi-4-mini-instruct"), _annotate(runtime="transformers")), R.RUNTIME_SUPPORTED, VC.RUNTIME_NOT_SUPPORTED, "metadata.annotations[kaito.sh/runtime]", "Runtime transformers is not supported by preset phi-4-mini-instruct (supported: vllm)"),
    ("adapters", _inference, _all(_set("inference.preset.name", "falcon-7b"), _set("inference.adapters", [{"source": {"name": "a", "image": "r.example.com/a:1"}}])), R.ADAPTERS_SUPPORTED, VC.ADAPTERS_NOT_SUPPORTED, "inference.adapters", "vLLM cannot serve LoRA adapters for preset falcon-7b"),
    ("reserved-selector", _inference, _set("resource.labelSelector", {"matchLabels": {"kaito.sh/workspace": "ws"}}), R.SELECTOR_NOT_RESERVED, AdmissionCode.RESERVED_SELECTOR_LABELS, "resource.labelSelector.matchLabels", "every key is reserved for the controller"),
    ("inference-memory", _inference, _set("inference.preset.name", "phi-3-medium-128k-instruct"), R.GPU_FIT, VC.INSUFFICIENT_TOTAL_GPU_MEMORY, "resource.instanceType", "Insufficient total GPU memory: instance type Standard_NC6s_v3 has a total of 16 GiB, but preset phi-3-medium-128k-instruct requires at least 28 GiB"),
    ("tuning-memory", _tuning, _all(_set("tuning.preset.name", "phi-3-medium-128k-instruct"), _set("tuning.method", "LoRA")), R.GPU_FIT, VC.INSUFFICIENT_PER_GPU_MEMORY, "resource.instanceType", "Insufficient per GPU memory: instance type Standard_NC6s_v3 has 16 GiB per GPU, but lora tuning of preset phi-3-medium-128k-instruct needs 32.5 GiB on every GPU (each GPU trains a full replica)"),
    ("sku-lower-case-undersized", _inference, _all(_set("inference.preset.name", "phi-3-medium-128k-instruct"), _set("resource.instanceType", "standard_nc6s_v3")), R.GPU_FIT, VC.INSUFFICIENT_TOTAL_GPU_MEMORY, "resource.instanceType", "instance type Standard_NC6s_v3 has a total of 16 GiB"),
    ("sku-look-alike", _inference, _set("resource.instanceType", "Standard_NC6\u0455_v3"), R.INSTANCE_TYPE_KNOWN, AdmissionCode.UNKNOWN_INSTANCE_TYPE, "resource.instanceType", 'Unsupported instance type "Standard_NC6\u0455_v3"'),
    ("node-count", _inference, _set("resource.count", 11), R.NODE_COUNT_LIMIT, AdmissionCode.TOO_MANY_NODES, "resource.count", "11 nodes requested, more than the 10 a Workspace may use here; a cluster administrator sets this limit"),
    ("huge-annotation", _inference, _annotate(runtime="x" * 200_000), R.ANNOTATION_VALUES, AdmissionCode.INVALID_ANNOTATION, "metadata.annotations[kaito.sh/runtime]", 'unsupported value "' + "x" * 64 + '…", must be one of vllm, transformers'),
    ("multi-line-annotation", _inference, _annotate(performance_mode="fast\nslow\r"), R.ANNOTATION_VALUES, AdmissionCode.INVALID_ANNOTATION, "metadata.annotations[kaito.sh/performance-mode]", 'unsupported value "fast slow ", must be one of'),
    ("long-preset-name", _inference, _set("inference.preset.name", "\u00e9" * 253), R.PRESET_KNOWN, AdmissionCode.UNKNOWN_PRESET, "inference.preset.name", 'Unsupported preset name "' + "\u00e9" * 64 + '…"'),
    ("multi-line-sku", _inference, _set("resource.instanceType", "Standard_NC6s_v3\n"), R.INSTANCE_TYPE_KNOWN, AdmissionCode.UNKNOWN_INSTANCE_TYPE, "resource.instanceType", 'Unsupported instance type "Standard_NC6s_v3 "'),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "base", "mutate", "rule", "code", "field", "message"),
    REJECTED,
    ids=[c[0] for c in REJECTED],
)
def test_rule_rejects_its_bad_case(
    case: str,
    base: Callable[[], Doc],
    mutate: Mutation,
    rule: R,
    code: Any,
    field: str,
    message: str,
) -> None:
    del case
    violations = _check(base, mutate)
    assert violations, "admitted"
    first = violations[0]
    assert (first.rule, first.code, first.field) == (rule, code, field)
    assert message in first.message
    assert str(first) == f"{field}: {first.message}"


def test_tuning_memory_case_is_really_about_lora_on_a_v100() -> None:
    # qlora of the same preset fits the seed's V100: the method makes the difference.
    medium = _set("tuning.preset.name", "phi-3-medium-128k-instruct")
    assert _check(_tuning, medium) == []
    assert _check(_tuning, medium, _set("tuning.method", "lora")) != []


# Accepted variants, beyond the examples.
ACCEPTED: list[tuple[str, Callable[[], Doc], Mutation]] = [
    ("preset-any-case", _inference, _set("inference.preset.name", "Phi-3-Mini-4K-Instruct")),
    ("model-id-alias", _inference, _set("inference.preset.name", "microsoft/Phi-3-mini-4k-instruct")),
    ("legacy-alias", _tuning, _set("tuning.preset.name", "mistral-7b-v0.3")),
    ("sku-any-case", _inference, _set("resource.instanceType", "standard_nc6S_V3")),
    ("sku-lower-case", _tuning, _set("resource.instanceType", "standard_nc6s_v3")),
    ("nodes-at-the-cap", _inference, _all(_set("inference.preset.name", "phi-3-medium-128k-instruct"), _set("resource.count", 10))),
    ("sku-alias", _inference, _set("resource.instanceType", "Standard_ND96asr_v4")),
    ("no-instance-type", _inference, _set("resource.instanceType", "")),
    ("template", _inference, _set("inference", {"template": {"spec": {"containers": []}}})),
    ("split-across-nodes", _inference, _all(_set("inference.preset.name", "phi-3-medium-128k-instruct"), _set("resource.count", 2))),
    ("own-label-beside-reserved", _inference, _set("resource.labelSelector", {"matchLabels": {"kaito.sh/workspace": "ws", "app": "a"}})),
    ("annotation-values", _inference, _annotate(runtime="transformers", node_image_family="azurelinux", performance_mode="throughput", use_local_weights="false")),
    ("unknown-annotations-ignored", _inference, _annotate(enablelb="True", disable_benchmark="yes")),
    ("adapters-with-transformers", _inference, _all(_set("inference.preset.name", "falcon-7b"), _annotate(runtime="transformers"), _set("inference.adapters", [{"source": {"name": "a", "image": "r.example.com/a:1"}}]))),
]  # fmt: skip


@pytest.mark.parametrize(("case", "base", "mutate"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_valid_variant_is_admissible(case: str, base: Callable[[], Doc], mutate: Mutation) -> None:
    del case
    assert _check(base, mutate) == []


def test_bypass_annotation_lets_an_undersized_workspace_through() -> None:
    undersized = _set("inference.preset.name", "phi-3-medium-128k-instruct")
    assert [v.rule for v in _check(_inference, undersized)] == [R.GPU_FIT]
    assert _check(_inference, undersized, _annotate(bypass_resource_checks="")) == []
    lora = _all(_set("tuning.preset.name", "phi-4"), _set("tuning.method", "lora"))
    assert [v.rule for v in _check(_tuning, lora)] == [R.GPU_FIT]
    assert _check(_tuning, lora, _annotate(bypass_resource_checks="true")) == []


def test_bypass_annotation_does_not_bypass_the_other_rules() -> None:
    violations = _check(
        _inference, _set("inference.preset.name", "phi-2"), _annotate(bypass_resource_checks="")
    )
    assert [v.code for v in violations] == [VC.PRESET_DEPRECATED]
    assert not violations[0].bypassable


def test_node_count_cap_is_a_parameter() -> None:
    doc = _with_count(_inference(), 25)
    ws = v1beta1.Workspace.model_validate(doc)
    assert admission_violations(ws, max_nodes_per_workspace=25) == []
    (violation,) = admission_violations(ws, max_nodes_per_workspace=24)
    assert violation.rule is R.NODE_COUNT_LIMIT
    assert str(violation).startswith("resource.count: 25 nodes requested, more than the 24 ")


def _with_count(doc: Doc, count: int) -> Doc:
    doc["resource"]["count"] = count
    doc["inference"]["preset"]["name"] = "phi-3-medium-128k-instruct"  # splits across nodes
    return doc


@pytest.mark.parametrize(
    "text", ["", "a", "x" * 64, "x" * 65, "\u00e9" * 100, "a\nb\r\nc", "\U0001f600" * 70]
)
def test_echo_is_short_and_on_one_line(text: str) -> None:
    echoed = rules.echo(text)
    assert "\n" not in echoed
    assert "\r" not in echoed
    assert len(echoed) <= rules.ECHO_LIMIT + 1
    assert echoed == text.replace("\n", " ").replace("\r", " ") or echoed.endswith("\u2026")


def test_only_gpu_fit_is_bypassable() -> None:
    (violation,) = _check(_inference, _set("inference.preset.name", "phi-3-medium-128k-instruct"))
    assert violation.bypassable


def test_every_violation_is_reported_in_the_policys_rule_order() -> None:
    violations = _check(
        _inference,
        _set("inference.preset.name", "falcon-40b"),
        _set("resource.count", 3),
        _set("resource.labelSelector", {"matchLabels": {"kaito.sh/workspace": "ws"}}),
        _annotate(runtime="vllm", performance_mode="fast"),
    )
    assert [v.rule for v in violations] == [
        R.ANNOTATION_VALUES,
        R.SELECTOR_NOT_RESERVED,
        R.GPU_FIT,
        R.GPU_FIT,
        R.GPU_FIT,
        R.GPU_FIT,
    ]
    assert [v.code for v in violations[2:]] == [
        VC.MULTI_NODE_NOT_SUPPORTED,
        VC.INSUFFICIENT_GPU_COUNT,
        VC.INSUFFICIENT_PER_GPU_MEMORY,
        VC.INSUFFICIENT_TOTAL_GPU_MEMORY,
    ]


def test_deprecation_is_reported_without_an_instance_type() -> None:
    violations = _check(
        _inference, _set("inference.preset.name", "phi-2"), _set("resource.instanceType", "")
    )
    assert [v.code for v in violations] == [VC.PRESET_DEPRECATED]


def test_unknown_names_skip_the_fit_check() -> None:
    violations = _check(
        _inference,
        _set("inference.preset.name", "falcon-40b"),
        _set("resource.instanceType", "Standard_NC6"),
    )
    assert [v.rule for v in violations] == [R.INSTANCE_TYPE_KNOWN]
    assert [v.rule for v in _check(_inference, _set("inference.preset.name", "nope"))] == [
        R.PRESET_KNOWN
    ]


def test_gpu_fit_follows_check_fit_over_the_whole_catalog() -> None:
    """Every preset on every instance type, served and tuned: GPU_FIT == check_fit's capacity."""
    catalog = preset_catalog.load_catalog()
    capacity = {
        VC.INSUFFICIENT_GPU_COUNT,
        VC.INSUFFICIENT_PER_GPU_MEMORY,
        VC.INSUFFICIENT_TOTAL_GPU_MEMORY,
        VC.MULTI_NODE_NOT_SUPPORTED,
    }
    for preset in catalog.presets:
        for sku in catalog.instance_types:
            workloads: list[tuple[Mutation, preset_catalog.Inference | preset_catalog.Tuning]] = [
                (_set("inference.preset.name", preset.name), preset_catalog.Inference())
            ]
            workloads += [
                (
                    _all(_set("tuning.preset.name", preset.name), _set("tuning.method", m)),
                    preset_catalog.Tuning(method=m),
                )
                for m in preset.tuning_methods
            ]
            for mutate, workload in workloads:
                base = _tuning if isinstance(workload, preset_catalog.Tuning) else _inference
                doc = copy.deepcopy(base())
                mutate(doc)
                doc["resource"]["instanceType"] = sku.name
                found = admission_violations(v1beta1.Workspace.model_validate(doc))
                expected = [
                    v
                    for v in preset_catalog.check_fit(preset, sku, workload=workload).violations
                    if v.code in capacity
                ]
                assert [(v.code, v.message) for v in found if v.rule is R.GPU_FIT] == [
                    (v.code, v.message) for v in expected
                ], (preset.name, sku.name, workload)
