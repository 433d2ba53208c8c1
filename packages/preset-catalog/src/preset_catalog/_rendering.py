"""Small pieces of manifests that follow from catalog data alone.

The manifest builders in the controllers should not each know that a GPU is requested as
``nvidia.com/gpu`` equal to the instance type's GPU count (request = limit, as Kaito does: the pod
takes the whole node's GPUs), or how a preset's runtime image reference is spelled. These helpers
return plain dicts and strings, ready to be placed into a pod spec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from preset_catalog._schema import InstanceType, Preset

__all__ = ["GPU_RESOURCE_NAME", "gpu_resource_requirements", "runtime_image_reference"]

GPU_RESOURCE_NAME = "nvidia.com/gpu"


def gpu_resource_requirements(instance_type: InstanceType) -> dict[str, dict[str, str]]:
    """Container ``resources`` claiming every GPU of one node of ``instance_type``."""
    quantity = {GPU_RESOURCE_NAME: str(instance_type.gpu.count)}
    return {"requests": dict(quantity), "limits": dict(quantity)}


def runtime_image_reference(preset: Preset, *, registry: str) -> str:
    """``<registry>/<image name>:<tag>`` for the preset's runtime image.

    The catalog records the image name and tag per preset; the registry is a deployment choice
    (Kaito's ``PRESET_REGISTRY_NAME``).
    """
    registry = registry.rstrip("/")
    if not registry:
        raise ValueError("registry must not be empty")
    image = preset.runtime_image
    return f"{registry}/{image.name}:{image.tag}"
