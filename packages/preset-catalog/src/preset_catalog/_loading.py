"""Reading the packaged data files into one validated, cached :class:`Catalog`.

The catalog is data shipped inside the package (``data/**.yaml``, reviewed like code), read through
``importlib.resources`` so it works from a wheel as well as from a checkout. It is parsed and
validated once per process: every caller shares the same frozen objects, and a broken data file
fails the first load with the file name in the message rather than at some later lookup.

The YAML loader refuses duplicate mapping keys, which plain ``yaml.safe_load`` silently resolves
to the last one: in a reviewed data file that would hide an edit.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import pydantic
import yaml

from preset_catalog._errors import CatalogDataError
from preset_catalog._schema import Catalog, Cloud, InstanceType, Preset, TuningDefaults, _Frozen
from preset_catalog._version import CATALOG_VERSION

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = ["data_files", "load_catalog", "load_data_file", "parse_yaml"]

PRESETS_DIR = "presets"
INSTANCE_TYPES_DIR = "instance_types"
TUNING_DEFAULTS_FILE = "tuning_defaults.yaml"


class PresetFile(_Frozen):
    """One ``presets/<family>.yaml``: a family label and its presets."""

    family: str
    presets: tuple[Preset, ...]


class InstanceTypeFile(_Frozen):
    """One ``instance_types/<cloud>.yaml``; the file's cloud is stamped on every entry."""

    cloud: Cloud
    instance_types: tuple[InstanceType, ...]

    @pydantic.model_validator(mode="before")
    @classmethod
    def _stamp_cloud(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("instance_types"), list):
            cloud = data.get("cloud")
            data = {
                **data,
                "instance_types": [
                    {"cloud": cloud, **entry} if isinstance(entry, dict) else entry
                    for entry in data["instance_types"]
                ],
            }
        return data


class _StrictLoader(yaml.SafeLoader):
    """``SafeLoader`` that rejects a key repeated within one mapping."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str) -> Any:
    """Parse YAML safely, refusing duplicate keys."""
    return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass


def _data_root() -> Traversable:
    from importlib.resources import files  # noqa: PLC0415 - only needed on first load

    return files("preset_catalog").joinpath("data")


def data_files() -> tuple[str, ...]:
    """Every data file, as a path relative to the package's ``data`` directory, sorted."""
    root = _data_root()
    found = [TUNING_DEFAULTS_FILE] if root.joinpath(TUNING_DEFAULTS_FILE).is_file() else []
    for directory in (PRESETS_DIR, INSTANCE_TYPES_DIR):
        found += [
            f"{directory}/{entry.name}"
            for entry in root.joinpath(directory).iterdir()
            if entry.name.endswith(".yaml")
        ]
    return tuple(sorted(found))


def load_data_file(relative_path: str) -> PresetFile | InstanceTypeFile | TuningDefaults:
    """Read and validate one data file; the schema is chosen by the file's directory."""
    model: type[PresetFile | InstanceTypeFile | TuningDefaults]
    if relative_path.startswith(f"{PRESETS_DIR}/"):
        model = PresetFile
    elif relative_path.startswith(f"{INSTANCE_TYPES_DIR}/"):
        model = InstanceTypeFile
    elif relative_path == TUNING_DEFAULTS_FILE:
        model = TuningDefaults
    else:
        raise CatalogDataError(f"{relative_path}: not a catalog data file")
    text = _data_root().joinpath(relative_path).read_text(encoding="utf-8")
    try:
        return model.model_validate(parse_yaml(text))
    except (yaml.YAMLError, pydantic.ValidationError) as error:
        raise CatalogDataError(f"data/{relative_path}: {error}") from error


@functools.cache
def load_catalog() -> Catalog:
    """The packaged catalog, loaded and validated on first use and shared afterwards."""
    presets: list[Preset] = []
    instance_types: list[InstanceType] = []
    tuning_defaults: TuningDefaults | None = None
    for path in data_files():
        loaded = load_data_file(path)
        if isinstance(loaded, PresetFile):
            presets += loaded.presets
        elif isinstance(loaded, InstanceTypeFile):
            instance_types += loaded.instance_types
        else:
            tuning_defaults = loaded
    if tuning_defaults is None:
        raise CatalogDataError(f"data/{TUNING_DEFAULTS_FILE} is missing")
    try:
        return Catalog(
            version=CATALOG_VERSION,
            presets=tuple(sorted(presets, key=lambda p: p.name)),
            instance_types=tuple(instance_types),
            tuning_defaults=tuning_defaults,
        )
    except pydantic.ValidationError as error:
        raise CatalogDataError(f"data/: {error}") from error
