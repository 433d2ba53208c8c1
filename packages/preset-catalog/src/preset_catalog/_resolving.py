"""Turning the names users write into catalog entries.

Users write preset names in many spellings: Kaito's names (``phi-3-mini-4k-instruct``), Hugging
Face ids (``microsoft/Phi-3-mini-4k-instruct``), Kaito's older runtime-table keys
(``mistral-7b-v0.3``). Matching is case-insensitive, aliases resolve to the canonical preset with a
deprecation message (so manifests converge on one spelling), and an unknown name fails with the
closest known names, because the usual cause is a typo.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import TYPE_CHECKING

from preset_catalog._errors import UnknownNameError
from preset_catalog._loading import load_catalog

if TYPE_CHECKING:
    from collections.abc import Mapping

    from preset_catalog._schema import Catalog, InstanceType, Preset

__all__ = ["PresetResolution", "get_instance_type", "resolve_preset", "suggest"]

MAX_SUGGESTIONS = 3
SUGGESTION_CUTOFF = 0.6


@dataclasses.dataclass(frozen=True, kw_only=True)
class PresetResolution:
    """A preset found by name, and what the caller should tell the user about the name used."""

    preset: Preset
    requested_name: str
    deprecations: tuple[str, ...]
    """Messages for the user: the name was an alias, or the preset itself is deprecated."""

    @property
    def via_alias(self) -> bool:
        return self.requested_name != self.preset.name


def resolve_preset(name: str, *, catalog: Catalog | None = None) -> PresetResolution:
    """Find a preset by canonical name or alias (case-insensitive).

    Raises :class:`UnknownNameError` with up to three did-you-mean suggestions.
    """
    catalog = catalog or load_catalog()
    preset = catalog.preset_index.get(name.lower())
    if preset is None:
        raise UnknownNameError(
            kind="preset",
            name=name,
            suggestions=suggest(name, catalog.preset_index),
        )
    deprecations: list[str] = []
    if name.lower() == preset.name and name != preset.name:
        deprecations.append(f"preset names are lower-case; use {preset.name!r}")
    elif name != preset.name:
        deprecations.append(
            f"preset name {name!r} is an alias of {preset.name!r}; aliases are deprecated, "
            f"use {preset.name!r}"
        )
    if preset.deprecated:
        replacement = f"; use {preset.replaced_by!r} instead" if preset.replaced_by else ""
        deprecations.append(
            f"preset {preset.name!r} is deprecated and no longer supported{replacement}"
        )
    return PresetResolution(preset=preset, requested_name=name, deprecations=tuple(deprecations))


def get_instance_type(name: str, *, catalog: Catalog | None = None) -> InstanceType:
    """Find an instance type by name or alias (case-insensitive, as Azure treats VM sizes).

    Raises :class:`UnknownNameError` with up to three did-you-mean suggestions.
    """
    catalog = catalog or load_catalog()
    found = catalog.instance_type_index.get(name.lower())
    if found is None:
        raise UnknownNameError(
            kind="instance type",
            name=name,
            suggestions=suggest(name, catalog.instance_type_index),
        )
    return found


def suggest(name: str, index: Mapping[str, Preset | InstanceType]) -> tuple[str, ...]:
    """Closest canonical names, matching the typo against names and aliases alike."""
    close = difflib.get_close_matches(
        name.lower(), list(index), n=MAX_SUGGESTIONS * 2, cutoff=SUGGESTION_CUTOFF
    )
    return tuple(dict.fromkeys(index[key].name for key in close))[:MAX_SUGGESTIONS]
