"""The package version is the catalog version, and it is valid semver."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import preset_catalog as pc

SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"
)
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_catalog_version_is_semver() -> None:
    assert SEMVER.match(pc.CATALOG_VERSION)


def test_catalog_version_equals_the_pyproject_version() -> None:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    assert project["version"] == pc.CATALOG_VERSION


def test_catalog_version_equals_the_installed_distribution_version() -> None:
    assert importlib.metadata.version("preset-catalog") == pc.CATALOG_VERSION


def test_loaded_catalog_carries_the_version(catalog: pc.Catalog) -> None:
    assert catalog.version == pc.CATALOG_VERSION


def test_every_preset_names_its_runtime_image_and_tag(catalog: pc.Catalog) -> None:
    for preset in catalog.presets:
        assert preset.runtime_image.name
        assert preset.runtime_image.tag
