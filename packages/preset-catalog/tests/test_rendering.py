"""GPU requests and image references rendered from catalog data."""

from __future__ import annotations

import pytest

import preset_catalog as pc


@pytest.mark.parametrize(
    ("sku", "gpus"),
    [("Standard_NC6s_v3", "1"), ("Standard_NC24s_v3", "4"), ("p5.48xlarge", "8")],
)
def test_gpu_request_equals_limit_equals_the_nodes_gpus(sku: str, gpus: str) -> None:
    resources = pc.gpu_resource_requirements(pc.get_instance_type(sku))
    assert resources == {"requests": {"nvidia.com/gpu": gpus}, "limits": {"nvidia.com/gpu": gpus}}
    assert pc.GPU_RESOURCE_NAME == "nvidia.com/gpu"


def test_gpu_request_dicts_are_independent() -> None:
    resources = pc.gpu_resource_requirements(pc.get_instance_type("Standard_NC6s_v3"))
    resources["limits"]["cpu"] = "1"
    assert "cpu" not in resources["requests"]


def test_runtime_image_reference_joins_registry_name_and_tag() -> None:
    preset = pc.resolve_preset("phi-3-mini-128k-instruct").preset
    reference = pc.runtime_image_reference(preset, registry="ghcr.io/example/")
    assert reference == f"ghcr.io/example/model-runtime:{preset.runtime_image.tag}"


def test_runtime_image_reference_needs_a_registry() -> None:
    preset = pc.resolve_preset("phi-4").preset
    with pytest.raises(ValueError, match="registry"):
        pc.runtime_image_reference(preset, registry="/")
