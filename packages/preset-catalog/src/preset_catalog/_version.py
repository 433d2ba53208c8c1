"""The catalog version.

The distribution version and the catalog version are one number on purpose: a consumer that pins
``preset-catalog==X`` gets exactly the presets, instance types and tuning defaults of catalog X, and
an exported ConfigMap names the version it came from. Bump it (semver) in this file and in
``pyproject.toml`` together whenever a data file changes; a test keeps the two equal.
"""

from __future__ import annotations

__all__ = ["CATALOG_VERSION"]

CATALOG_VERSION = "0.1.0"
