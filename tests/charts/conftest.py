"""Shared helper for the chart tests: the pinned helm binary, ``helm template`` as data."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from localcluster import Binaries, BinariesMissingError, find_repo_root

ROOT = find_repo_root(Path(__file__))


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


REQUIRED_VALUES: dict[str, dict[str, Any]] = {
    "gpu-provisioner": {
        "azure": {
            "subscriptionId": "00000000-0000-0000-0000-000000000000",
            "resourceGroup": "chart-test-rg",
            "clusterName": "chart-test-aks",
            "location": "westus2",
        }
    }
}
"""Values a chart requires to render with a running controller (replicaCount > 0); the tests'
renders start from them (``required=False`` renders without, to see that they are required)."""


class Helm:
    """``helm template`` and ``helm lint`` of the charts under charts/, plus small helpers."""

    root = ROOT
    charts = ROOT / "charts"
    chart_names = ("workspace-controller", "gpu-provisioner")
    namespace = "chart-test-ns"
    required_values = REQUIRED_VALUES

    def __init__(self, binary: Path) -> None:
        self.binary = binary

    def values(self, chart: str) -> dict[str, Any]:
        """The chart's values.yaml."""
        values: dict[str, Any] = yaml.safe_load((self.charts / chart / "values.yaml").read_text())
        return values

    @staticmethod
    def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
        return _deep_merge(base, override)

    @staticmethod
    def find(
        docs: list[dict[str, Any]], kind: str, name: str | None = None
    ) -> list[dict[str, Any]]:
        return [
            d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
        ]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.binary), *args], capture_output=True, text=True, check=False, timeout=120
        )
        if check and result.returncode != 0:
            pytest.fail(f"helm {' '.join(args)} failed:\n{result.stderr}", pytrace=False)
        return result

    def template_text(
        self,
        chart: str,
        values: dict[str, Any] | None = None,
        *,
        namespace: str | None = None,
        check: bool = True,
        required: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """``helm template <chart>`` with ``values`` (over the chart's REQUIRED_VALUES unless
        ``required`` is false) as a values file."""
        base = REQUIRED_VALUES.get(chart, {}) if required else {}
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
            yaml.safe_dump(_deep_merge(base, values or {}), handle)
        try:
            return self.run(
                "template",
                chart,
                str(self.charts / chart),
                "--namespace",
                namespace or self.namespace,
                "--values",
                handle.name,
                check=check,
            )
        finally:
            os.unlink(handle.name)

    def template(
        self, chart: str, values: dict[str, Any] | None = None, *, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        """The rendered objects."""
        text = self.template_text(chart, values, namespace=namespace).stdout
        return [doc for doc in yaml.safe_load_all(text) if doc]


@pytest.fixture(scope="session")
def helm() -> Helm:
    try:
        binaries = Binaries.locate()
    except BinariesMissingError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {exc}", pytrace=False)
        pytest.skip(str(exc))
    return Helm(binaries.helm)
