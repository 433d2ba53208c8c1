"""Preset catalog: which models we serve and tune, which GPU machines exist, and whether one fits
the other.

Contract: pure data and pure functions. Nothing here talks to Kubernetes, a cloud or the network;
the only thing read is this package's own data files (``data/**.yaml``), once, on first use. Both
controllers, the admission policy (through :func:`export_configmap`) and the command line
(``python -m preset_catalog``) take their answers from here, so the same question gets the same
answer everywhere.

The catalog is versioned as a whole: :data:`CATALOG_VERSION` is the package version, and each
preset carries its own runtime image tag.

This module is the only import path; everything else is private (``_*.py``).
"""

from __future__ import annotations

from preset_catalog._errors import (
    CatalogDataError,
    CatalogError,
    NodeEstimateError,
    UnknownNameError,
    Violation,
    ViolationCode,
)
from preset_catalog._estimating import NodeEstimate, estimate_node_count
from preset_catalog._exporting import catalog_from_configmap, export_configmap
from preset_catalog._fitting import FitReport, Inference, Tuning, check_fit
from preset_catalog._loading import load_catalog
from preset_catalog._memory import TuningMemoryEstimate, estimate_tuning_memory
from preset_catalog._rendering import (
    GPU_RESOURCE_NAME,
    gpu_resource_requirements,
    runtime_image_reference,
)
from preset_catalog._resolving import PresetResolution, get_instance_type, resolve_preset
from preset_catalog._schema import (
    GPU,
    TUNING_CONFIG_SECTIONS,
    Architecture,
    ArchitectureFamily,
    Catalog,
    Cloud,
    InferenceRequirements,
    InstanceType,
    ModelSource,
    Preset,
    Runtime,
    RuntimeImage,
    TuningDefaults,
    TuningMethod,
    TuningRequirement,
    VllmOptions,
)
from preset_catalog._tuning import (
    TUNING_CONFIG_KEY,
    default_tuning_config,
    validate_tuning_config,
    validate_tuning_configmap_data,
)
from preset_catalog._version import CATALOG_VERSION

__all__ = [
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
