"""The catalog as a Kubernetes ConfigMap, for admission policies and for users.

The preferred admission design is a ValidatingAdmissionPolicy whose parameter object is this
ConfigMap, so the catalog reaches the API server without a webhook. CEL cannot parse YAML or JSON,
so besides the full catalog document (``catalog.yaml``, which round-trips through
:func:`catalog_from_configmap`) the ConfigMap carries flat keys a CEL expression can look up
directly, with memory as integer MiB (requirements rounded up, capacities rounded down) so it can
be compared with ``int(...)``::

    catalog-version                                   "0.1.0"
    presets / instance-types                          comma-separated canonical names
    alias.<alias>                                     canonical preset name
    preset.<name>.deprecated                          "true" | "false"
    preset.<name>.runtimes                            "vllm,transformers" (default first)
    preset.<name>.distributed-inference               "true" | "false"
    preset.<name>.vllm.lora-adapters                  "true" | "false"
    preset.<name>.inference.gpu-count                 "1"
    preset.<name>.inference.total-gpu-memory-mib      "9216"
    preset.<name>.inference.per-gpu-memory-mib        "0"
    preset.<name>.tuning.<method>.gpu-memory-mib      only for supported methods
    instance-type-alias.<alias>                       canonical instance type name
    instance-type.<name>.gpu-count | .gpu-memory-mib | .total-gpu-memory-mib | .cloud | .vm-family

ConfigMap keys may not contain ``/``: aliases are lower-cased and any other character outside
``[-._a-zA-Z0-9]`` becomes ``_`` (``alias.microsoft_phi-3-mini-4k-instruct``); a CEL rule applies
the same ``lowerAscii().replace('/', '_')``.

A second group of keys lets an admission policy give exactly the answers of
:func:`resolve_preset`, :func:`get_instance_type` and :func:`check_fit`, messages included::

    preset-index.<key>                                canonical preset name, for the name itself
    preset-spelling.<key>                             and every alias; ``<key>`` is the lower-cased
                                                      spelling made key-safe, ``preset-spelling``
                                                      holds that lower-cased spelling, so a rule can
                                                      tell ``org/model`` from ``org_model``
    instance-type-index.<lower-cased name or alias>   canonical instance type name
    preset.<name>.replaced-by                         only for a deprecated preset with a successor
    preset.<name>.tuning-methods                      "qlora,lora" ("" when not tunable)
    preset.<name>.vllm.tensor-parallel                "true" | "false"
    preset.<name>.inference.total-gpu-memory-gib      "28"   (GiB for messages, as check_fit
    preset.<name>.inference.per-gpu-memory-gib        "0"     writes them: ``{:g}``)
    preset.<name>.tuning.<method>.gpu-memory-gib      "32.5"
    instance-type.<name>.gpu-memory-gib | .total-gpu-memory-gib

Instance types are matched case-insensitively (as Azure treats VM sizes), hence the lower-cased
index; the ``*-mib`` figures are whole MiB for every instance type (a test holds the data to it), so
integer comparisons in a policy agree with check_fit's float comparisons exactly.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

import pydantic
import yaml

from preset_catalog._errors import CatalogDataError
from preset_catalog._loading import load_catalog, parse_yaml
from preset_catalog._schema import Catalog

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CATALOG_DOCUMENT_KEY",
    "DEFAULT_CONFIGMAP_NAME",
    "DEFAULT_CONFIGMAP_NAMESPACE",
    "catalog_from_configmap",
    "configmap_key",
    "export_configmap",
]

CATALOG_DOCUMENT_KEY = "catalog.yaml"
VERSION_KEY = "catalog-version"
DEFAULT_CONFIGMAP_NAME = "preset-catalog"
DEFAULT_CONFIGMAP_NAMESPACE = "kaito-workspace"
MIB_PER_GIB = 1024


def configmap_key(name: str) -> str:
    """``name`` made safe for a ConfigMap key: lower-cased, odd characters replaced by ``_``."""
    return re.sub(r"[^-._a-z0-9]", "_", name.lower())


def export_configmap(
    catalog: Catalog | None = None,
    *,
    name: str = DEFAULT_CONFIGMAP_NAME,
    namespace: str = DEFAULT_CONFIGMAP_NAMESPACE,
) -> dict[str, Any]:
    """The catalog as a ConfigMap manifest (a plain dict; dump it with ``yaml.safe_dump``)."""
    catalog = catalog or load_catalog()
    data: dict[str, str] = {
        VERSION_KEY: catalog.version,
        CATALOG_DOCUMENT_KEY: yaml.safe_dump(
            catalog.model_dump(mode="json"), sort_keys=False, width=100
        ),
        "presets": ",".join(p.name for p in catalog.presets),
        "instance-types": ",".join(t.name for t in catalog.instance_types),
    }
    for preset in catalog.presets:
        for alias in preset.aliases:
            data[f"alias.{configmap_key(alias)}"] = preset.name
        key = f"preset.{preset.name}"
        need = preset.inference
        data |= {
            f"{key}.deprecated": _flag(preset.deprecated),
            f"{key}.runtimes": ",".join(preset.runtimes),
            f"{key}.distributed-inference": _flag(preset.distributed_inference),
            f"{key}.vllm.lora-adapters": _flag(preset.vllm.lora_adapters),
            f"{key}.inference.gpu-count": str(need.gpu_count),
            f"{key}.inference.total-gpu-memory-mib": _mib_up(need.total_gpu_memory_gib),
            f"{key}.inference.per-gpu-memory-mib": _mib_up(need.per_gpu_memory_gib),
        }
        for tuning in preset.tuning:
            data[f"{key}.tuning.{tuning.method}.gpu-memory-mib"] = _mib_up(tuning.gpu_memory_gib)
            data[f"{key}.tuning.{tuning.method}.gpu-memory-gib"] = _gib(tuning.gpu_memory_gib)
        data |= {
            f"{key}.tuning-methods": ",".join(preset.tuning_methods),
            f"{key}.vllm.tensor-parallel": _flag(preset.vllm.tensor_parallel),
            f"{key}.inference.total-gpu-memory-gib": _gib(need.total_gpu_memory_gib),
            f"{key}.inference.per-gpu-memory-gib": _gib(need.per_gpu_memory_gib),
        }
        if preset.replaced_by is not None:
            data[f"{key}.replaced-by"] = preset.replaced_by
        for spelling in (preset.name, *preset.aliases):
            index_key = configmap_key(spelling)
            data[f"preset-index.{index_key}"] = preset.name
            data[f"preset-spelling.{index_key}"] = spelling.lower()
    for sku in catalog.instance_types:
        for alias in sku.aliases:
            data[f"instance-type-alias.{alias}"] = sku.name
        key = f"instance-type.{sku.name}"
        data |= {
            f"{key}.cloud": str(sku.cloud),
            f"{key}.vm-family": sku.vm_family,
            f"{key}.gpu-count": str(sku.gpu.count),
            f"{key}.gpu-memory-mib": _mib_down(sku.gpu.memory_gib),
            f"{key}.total-gpu-memory-mib": _mib_down(sku.total_gpu_memory_gib),
            f"{key}.gpu-memory-gib": _gib(sku.gpu.memory_gib),
            f"{key}.total-gpu-memory-gib": _gib(sku.total_gpu_memory_gib),
        }
        for spelling in (sku.name, *sku.aliases):
            data[f"instance-type-index.{spelling.lower()}"] = sku.name
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/name": "preset-catalog",
                "app.kubernetes.io/version": catalog.version,
            },
        },
        "data": data,
    }


def catalog_from_configmap(manifest: Mapping[str, Any] | str) -> Catalog:
    """Read a catalog back from an exported ConfigMap (the manifest dict, or its YAML text)."""
    if isinstance(manifest, str):
        manifest = parse_yaml(manifest)
    data = manifest.get("data") if isinstance(manifest, dict) else None
    if not isinstance(data, dict) or CATALOG_DOCUMENT_KEY not in data:
        raise CatalogDataError(f"not an exported catalog: no data[{CATALOG_DOCUMENT_KEY!r}]")
    try:
        catalog = Catalog.model_validate(parse_yaml(data[CATALOG_DOCUMENT_KEY]))
    except (yaml.YAMLError, pydantic.ValidationError) as error:
        raise CatalogDataError(f"data[{CATALOG_DOCUMENT_KEY!r}]: {error}") from error
    if data.get(VERSION_KEY) != catalog.version:
        raise CatalogDataError(
            f"data[{VERSION_KEY!r}] is {data.get(VERSION_KEY)!r} but the catalog document says "
            f"{catalog.version!r}"
        )
    return catalog


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _gib(value: float) -> str:
    """GiB as check_fit writes them in its messages (``16``, ``32.5``)."""
    return f"{value:g}"


def _mib_up(gib: float) -> str:
    return str(math.ceil(round(gib * MIB_PER_GIB, 6)))


def _mib_down(gib: float) -> str:
    return str(math.floor(round(gib * MIB_PER_GIB, 6)))
