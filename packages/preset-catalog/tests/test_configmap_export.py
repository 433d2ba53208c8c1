"""The ConfigMap export round-trips and exposes flat, CEL-friendly keys."""

from __future__ import annotations

import re

import pytest
import yaml

import preset_catalog as pc
from preset_catalog._exporting import MIB_PER_GIB, configmap_key

CONFIGMAP_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")
CONFIGMAP_SIZE_LIMIT_BYTES = 1024 * 1024


def test_export_round_trips_through_the_manifest(catalog: pc.Catalog) -> None:
    assert pc.catalog_from_configmap(pc.export_configmap(catalog)) == catalog


def test_export_round_trips_through_yaml_text(catalog: pc.Catalog) -> None:
    text = yaml.safe_dump(pc.export_configmap(catalog))
    assert pc.catalog_from_configmap(text) == catalog
    assert pc.catalog_from_configmap(yaml.safe_load(text)) == catalog


def test_export_is_a_configmap_with_the_requested_name_and_namespace() -> None:
    manifest = pc.export_configmap(name="catalog", namespace="kaito-system")
    assert (manifest["apiVersion"], manifest["kind"]) == ("v1", "ConfigMap")
    assert manifest["metadata"]["name"] == "catalog"
    assert manifest["metadata"]["namespace"] == "kaito-system"
    assert manifest["metadata"]["labels"]["app.kubernetes.io/version"] == pc.CATALOG_VERSION


def test_export_defaults_to_the_kaito_workspace_namespace() -> None:
    metadata = pc.export_configmap()["metadata"]
    assert (metadata["name"], metadata["namespace"]) == ("preset-catalog", "kaito-workspace")


def test_every_key_is_a_valid_configmap_key_and_every_value_a_string() -> None:
    data = pc.export_configmap()["data"]
    for key, value in data.items():
        assert CONFIGMAP_KEY.match(key), key
        assert isinstance(value, str), key


def test_export_fits_in_one_configmap() -> None:
    assert len(yaml.safe_dump(pc.export_configmap()).encode()) < CONFIGMAP_SIZE_LIMIT_BYTES


def test_no_two_aliases_collapse_onto_one_key(catalog: pc.Catalog) -> None:
    data = pc.export_configmap(catalog)["data"]
    aliases = sum(len(p.aliases) for p in catalog.presets)
    assert sum(1 for key in data if key.startswith("alias.")) == aliases


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("catalog-version", pc.CATALOG_VERSION),
        ("preset.phi-3-mini-128k-instruct.tuning.qlora.gpu-memory-mib", "5632"),
        ("preset.phi-3-mini-128k-instruct.inference.total-gpu-memory-mib", "9216"),
        ("preset.phi-3-mini-128k-instruct.inference.gpu-count", "1"),
        ("preset.phi-3-mini-128k-instruct.runtimes", "vllm,transformers"),
        ("preset.deepseek-r1-distill-llama-8b.inference.total-gpu-memory-mib", "16896"),
        ("preset.phi-2.deprecated", "true"),
        ("preset.falcon-40b.distributed-inference", "false"),
        ("preset.falcon-7b.vllm.lora-adapters", "false"),
        ("preset.phi-4.vllm.lora-adapters", "true"),
        ("alias.microsoft_phi-3-mini-128k-instruct", "phi-3-mini-128k-instruct"),
        ("alias.mistral-7b-v0.3", "mistral-7b"),
        ("instance-type.Standard_NC6s_v3.gpu-memory-mib", "16384"),
        ("instance-type.Standard_NC6s_v3.total-gpu-memory-mib", "16384"),
        ("instance-type.Standard_NC6s_v3.gpu-count", "1"),
        ("instance-type.Standard_NC6s_v3.vm-family", "standardNCSv3Family"),
        ("instance-type.p5.48xlarge.cloud", "aws"),
        ("instance-type-alias.Standard_ND96asr_v4", "Standard_ND96asr_A100_v4"),
        ("preset.phi-2.replaced-by", "phi-3.5-mini-instruct"),
        ("preset.phi-3-mini-128k-instruct.tuning-methods", "qlora,lora"),
        ("preset.mistral-7b-instruct.tuning-methods", ""),
        ("preset.falcon-40b.vllm.tensor-parallel", "false"),
        ("preset.phi-4.vllm.tensor-parallel", "true"),
        ("preset.deepseek-r1-distill-llama-8b.inference.total-gpu-memory-gib", "16.5"),
        ("preset.phi-3-medium-128k-instruct.inference.total-gpu-memory-gib", "28"),
        ("preset.phi-3-medium-128k-instruct.inference.per-gpu-memory-gib", "0"),
        ("preset.phi-3-medium-128k-instruct.tuning.lora.gpu-memory-gib", "32.5"),
        ("preset-index.phi-4", "phi-4"),
        ("preset-spelling.phi-4", "phi-4"),
        ("preset-index.microsoft_phi-3-mini-128k-instruct", "phi-3-mini-128k-instruct"),
        (
            "preset-spelling.microsoft_phi-3-mini-128k-instruct",
            "microsoft/phi-3-mini-128k-instruct",
        ),
        ("preset-index.mistral-7b-v0.3", "mistral-7b"),
        ("instance-type-index.standard_nc6s_v3", "Standard_NC6s_v3"),
        ("instance-type-index.standard_nd96asr_v4", "Standard_ND96asr_A100_v4"),
        ("instance-type-index.g5.xlarge", "g5.xlarge"),
        ("instance-type.Standard_NC12s_v3.gpu-memory-gib", "16"),
        ("instance-type.Standard_NC12s_v3.total-gpu-memory-gib", "32"),
    ],
)
def test_flat_key_for_admission_policies(key: str, value: str) -> None:
    assert pc.export_configmap()["data"][key] == value


def test_untunable_preset_has_no_tuning_keys() -> None:
    data = pc.export_configmap()["data"]
    assert not [k for k in data if k.startswith("preset.mistral-7b-instruct.tuning.")]


def test_name_lists_cover_the_catalog(catalog: pc.Catalog) -> None:
    data = pc.export_configmap(catalog)["data"]
    assert data["presets"].split(",") == [p.name for p in catalog.presets]
    assert data["instance-types"].split(",") == [t.name for t in catalog.instance_types]


def test_reading_a_configmap_without_the_catalog_document_fails() -> None:
    with pytest.raises(pc.CatalogDataError, match="not an exported catalog"):
        pc.catalog_from_configmap({"kind": "ConfigMap", "data": {}})


def test_reading_a_configmap_whose_version_key_disagrees_fails() -> None:
    manifest = pc.export_configmap()
    manifest["data"]["catalog-version"] = "9.9.9"
    with pytest.raises(pc.CatalogDataError, match="catalog-version"):
        pc.catalog_from_configmap(manifest)


def test_reading_a_tampered_catalog_document_fails() -> None:
    manifest = pc.export_configmap()
    manifest["data"]["catalog.yaml"] = manifest["data"]["catalog.yaml"].replace(
        "weights_gib: 7.12", "weights_gib: -7.12", 1
    )
    with pytest.raises(pc.CatalogDataError, match="greater than 0"):
        pc.catalog_from_configmap(manifest)


def test_preset_index_covers_every_name_and_alias(catalog: pc.Catalog) -> None:
    data = pc.export_configmap(catalog)["data"]
    index = {
        k.removeprefix("preset-index."): v for k, v in data.items() if k.startswith("preset-index.")
    }
    spellings = {
        k.removeprefix("preset-spelling."): v
        for k, v in data.items()
        if k.startswith("preset-spelling.")
    }
    assert {spellings[key]: index[key] for key in index} == {
        spelling: preset.name for spelling, preset in catalog.preset_index.items()
    }


def test_preset_spellings_need_only_slash_replaced_to_become_keys(catalog: pc.Catalog) -> None:
    """A CEL rule can only do ``lowerAscii().replace('/', '_')``: that must equal configmap_key."""
    for spelling in catalog.preset_index:
        assert spelling.isascii(), spelling
        assert configmap_key(spelling) == spelling.replace("/", "_"), spelling


def test_instance_type_index_is_the_case_insensitive_lookup(catalog: pc.Catalog) -> None:
    data = pc.export_configmap(catalog)["data"]
    prefix = "instance-type-index."
    index = {k.removeprefix(prefix): v for k, v in data.items() if k.startswith(prefix)}
    assert index == {key: sku.name for key, sku in catalog.instance_type_index.items()}


def test_instance_type_gpu_memory_is_whole_mib(catalog: pc.Catalog) -> None:
    """So a policy's integer MiB comparisons agree exactly with check_fit's float ones."""
    for sku in catalog.instance_types:
        for gib in (sku.gpu.memory_gib, sku.total_gpu_memory_gib):
            assert (gib * MIB_PER_GIB).is_integer(), (sku.name, gib)


def test_gib_figures_are_written_as_check_fit_writes_them(catalog: pc.Catalog) -> None:
    data = pc.export_configmap(catalog)["data"]
    for preset in catalog.presets:
        need = preset.inference
        key = f"preset.{preset.name}"
        assert data[f"{key}.inference.total-gpu-memory-gib"] == f"{need.total_gpu_memory_gib:g}"
        for tuning in preset.tuning:
            assert (
                data[f"{key}.tuning.{tuning.method}.gpu-memory-gib"] == f"{tuning.gpu_memory_gib:g}"
            )
