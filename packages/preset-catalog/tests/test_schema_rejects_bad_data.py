"""The schema turns mistakes in a data file into load errors, not wrong answers."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import pydantic
import pytest
import yaml

import preset_catalog as pc
from preset_catalog import _loading

if TYPE_CHECKING:
    from collections.abc import Callable

Doc = dict[str, Any]


def _set(path: str, value: object) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        *parents, leaf = path.split(".")
        for key in parents:
            doc = doc[key]
        doc[leaf] = value

    return mutate


PRESET_MUTATIONS: list[tuple[str, Callable[[Doc], None], str]] = [
    ("extra key", _set("colour", "blue"), "Extra inputs are not permitted"),
    ("extra nested key", _set("inference.gpus", 2), "Extra inputs are not permitted"),
    ("negative weights", _set("weights_gib", -1.0), "greater than 0"),
    ("negative total memory", _set("inference.total_gpu_memory_gib", -8), "greater than 0"),
    ("negative per-GPU memory", _set("inference.per_gpu_memory_gib", -1), "greater than or equal"),
    ("zero tuning memory", _set("tuning", [{"method": "lora", "gpu_memory_gib": 0}]), "than 0"),
    ("quoted number", _set("weights_gib", "1.0"), "valid number"),
    ("yes for a flag", _set("distributed_inference", "yes"), "valid boolean"),
    ("unknown runtime", _set("runtimes", ["tgi"]), "'vllm' or 'transformers'"),
    ("unknown tuning method", _set("tuning", [{"method": "dora", "gpu_memory_gib": 2}]), "lora"),
    ("short revision", _set("model.revision", "0a67737"), "String should match pattern"),
    ("repository without org", _set("model.repository", "phi-4"), "String should match pattern"),
    ("upper-case name", _set("name", "Phi-4"), "String should match pattern"),
    ("memory below weights", _set("inference.total_gpu_memory_gib", 0.5), "below weights_gib"),
    ("per-GPU above total", _set("inference.per_gpu_memory_gib", 3), "exceeds total"),
    ("fused module on llama", _set("lora_target_modules", ["qkv_proj"]), "not linear layers"),
    ("no target modules", _set("lora_target_modules", []), "not linear layers"),
    ("repeated runtime", _set("runtimes", ["vllm", "vllm"]), "without repeats"),
    ("no runtime", _set("runtimes", []), "without repeats"),
    (
        "repeated method",
        _set("tuning", [{"method": "lora", "gpu_memory_gib": 2}] * 2),
        "listed twice",
    ),
    ("alias equal to name", _set("aliases", ["tiny-llama"]), "aliases must be unique"),
    ("replacement but current", _set("replaced_by", "phi-4"), "only meaningful on a deprecated"),
    ("kv heads not dividing", _set("architecture.num_key_value_heads", 3), "multiple of"),
    ("disk below weights", _set("disk_gib", 0.5), "disk_gib is below"),
]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [pytest.param(m, e, id=i) for i, m, e in PRESET_MUTATIONS],
)
def test_preset_schema_rejects(
    preset_doc: Doc, mutate: Callable[[Doc], None], expected: str
) -> None:
    pc.Preset.model_validate(preset_doc)  # the fixture itself is valid
    mutate(preset_doc)
    with pytest.raises(pydantic.ValidationError, match=expected):
        pc.Preset.model_validate(preset_doc)


INSTANCE_TYPE_MUTATIONS: list[tuple[str, Callable[[Doc], None], str]] = [
    ("extra key", _set("price", 3.06), "Extra inputs are not permitted"),
    ("negative GPU memory", _set("gpu.memory_gib", -16), "greater than 0"),
    ("zero GPUs", _set("gpu.count", 0), "greater than 0"),
    ("total disagrees with count x per GPU", _set("total_gpu_memory_gib", 16), "!= gpu.count"),
    ("unquoted compute capability", _set("gpu.compute_capability", 7.5), "valid string"),
    ("unknown cloud", _set("cloud", "gcp"), "'azure' or 'aws'"),
    ("alias equal to name", _set("aliases", ["Standard_Test1"]), "aliases must be unique"),
]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [pytest.param(m, e, id=i) for i, m, e in INSTANCE_TYPE_MUTATIONS],
)
def test_instance_type_schema_rejects(
    instance_type_doc: Doc, mutate: Callable[[Doc], None], expected: str
) -> None:
    pc.InstanceType.model_validate(instance_type_doc)
    mutate(instance_type_doc)
    with pytest.raises(pydantic.ValidationError, match=expected):
        pc.InstanceType.model_validate(instance_type_doc)


def _catalog_doc(catalog: pc.Catalog) -> Doc:
    return catalog.model_dump(mode="json")


def test_catalog_rejects_a_name_used_twice(catalog: pc.Catalog) -> None:
    doc = _catalog_doc(catalog)
    doc["presets"].append(copy.deepcopy(doc["presets"][0]))
    with pytest.raises(pydantic.ValidationError, match="clashes with"):
        pc.Catalog.model_validate(doc)


def test_catalog_rejects_an_alias_clashing_case_insensitively(catalog: pc.Catalog) -> None:
    doc = _catalog_doc(catalog)
    doc["presets"][0]["aliases"].append(doc["presets"][1]["name"].upper())
    with pytest.raises(pydantic.ValidationError, match="case-insensitively"):
        pc.Catalog.model_validate(doc)


def test_catalog_rejects_a_replacement_that_does_not_exist(catalog: pc.Catalog) -> None:
    doc = _catalog_doc(catalog)
    deprecated = next(p for p in doc["presets"] if p["deprecated"])
    deprecated["replaced_by"] = "phi-9"
    with pytest.raises(pydantic.ValidationError, match="not a current preset"):
        pc.Catalog.model_validate(doc)


def test_tuning_defaults_reject_an_unknown_section(catalog: pc.Catalog) -> None:
    doc = catalog.tuning_defaults.model_dump(mode="json")
    doc["sections"]["OptimizerConfig"] = {"lr": 1}
    with pytest.raises(pydantic.ValidationError, match="unknown training_config sections"):
        pc.TuningDefaults.model_validate(doc)


def test_preset_file_rejects_extra_top_level_keys() -> None:
    with pytest.raises(pydantic.ValidationError, match="Extra inputs"):
        _loading.PresetFile.model_validate({"family": "x", "presets": [], "owner": "me"})


def test_instance_type_file_stamps_its_cloud_on_every_entry(instance_type_doc: Doc) -> None:
    entry = {k: v for k, v in instance_type_doc.items() if k != "cloud"}
    loaded = _loading.InstanceTypeFile.model_validate({"cloud": "aws", "instance_types": [entry]})
    assert loaded.instance_types[0].cloud is pc.Cloud.AWS


def test_yaml_with_a_repeated_key_is_rejected() -> None:
    with pytest.raises(yaml.YAMLError, match="duplicate key 'weights_gib'"):
        _loading.parse_yaml("name: x\nweights_gib: 1\nweights_gib: 2\n")
