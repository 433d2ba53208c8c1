"""The public surface is exactly what __init__ exports; changing it is a deliberate act."""

from __future__ import annotations

import preset_catalog

PUBLIC_API = [
    "CATALOG_VERSION",
    "GPU",
    "GPU_RESOURCE_NAME",
    "TUNING_CONFIG_KEY",
    "TUNING_CONFIG_SECTIONS",
    "Architecture",
    "ArchitectureFamily",
    "Catalog",
    "CatalogDataError",
    "CatalogError",
    "Cloud",
    "FitReport",
    "Inference",
    "InferenceRequirements",
    "InstanceType",
    "ModelSource",
    "NodeEstimate",
    "NodeEstimateError",
    "Preset",
    "PresetResolution",
    "Runtime",
    "RuntimeImage",
    "Tuning",
    "TuningDefaults",
    "TuningMemoryEstimate",
    "TuningMethod",
    "TuningRequirement",
    "UnknownNameError",
    "Violation",
    "ViolationCode",
    "VllmOptions",
    "catalog_from_configmap",
    "check_fit",
    "default_tuning_config",
    "estimate_node_count",
    "estimate_tuning_memory",
    "export_configmap",
    "get_instance_type",
    "gpu_resource_requirements",
    "load_catalog",
    "resolve_preset",
    "runtime_image_reference",
    "validate_tuning_config",
    "validate_tuning_configmap_data",
]


def test_all_is_pinned() -> None:
    assert preset_catalog.__all__ == PUBLIC_API


def test_every_exported_name_exists() -> None:
    for name in preset_catalog.__all__:
        assert hasattr(preset_catalog, name), name


def test_no_public_names_besides_all() -> None:
    public = {
        name for name in vars(preset_catalog) if not name.startswith("_") and name != "annotations"
    }
    assert public == set(PUBLIC_API)


def test_implementations_live_in_private_modules() -> None:
    for name in preset_catalog.__all__:
        obj = getattr(preset_catalog, name)
        if isinstance(obj, type) or callable(obj):
            assert obj.__module__.startswith("preset_catalog._"), (name, obj.__module__)
