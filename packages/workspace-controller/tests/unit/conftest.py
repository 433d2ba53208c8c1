"""Shared fixtures of the manifest-builder unit tests: the seed's Workspaces, as the controller
sees them (namespace and uid set, parsed as v1beta1)."""

from __future__ import annotations

import copy
import pathlib
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from kaito_apis.workspace import v1alpha1, v1beta1

ToWorkspace = Callable[[dict[str, Any]], v1beta1.Workspace]

EXAMPLES = pathlib.Path(__file__).resolve().parents[4] / "examples"
SEED = EXAMPLES / "fine-tuning/kaito_workspace_tuning_phi_3.yaml"
UID = "6f1c2a9e-0d4b-4c55-9a51-3c1f0e8b7a21"


def _to_workspace(doc: dict[str, Any]) -> v1beta1.Workspace:
    """``doc`` as the controller gets it: namespace and uid set, parsed as v1beta1."""
    doc = copy.deepcopy(doc)
    doc["metadata"] = {"namespace": "default", "uid": UID, **doc.get("metadata", {})}
    if doc["apiVersion"] == v1alpha1.API_VERSION:
        wire = v1alpha1.Workspace.model_validate(doc).to_wire()
        doc = {**wire, "apiVersion": v1beta1.API_VERSION}
    return v1beta1.Workspace.model_validate(doc)


@pytest.fixture
def to_workspace() -> ToWorkspace:
    return _to_workspace


@pytest.fixture
def seed_doc() -> dict[str, Any]:
    """The seed's tuning Workspace (v1alpha1, URL input, image output), as a fresh dict."""
    doc: dict[str, Any] = yaml.safe_load(SEED.read_text())
    return doc


@pytest.fixture
def seed(seed_doc: dict[str, Any]) -> v1beta1.Workspace:
    return _to_workspace(seed_doc)


@pytest.fixture
def inference_doc() -> dict[str, Any]:
    """The seed's phi-3 inference quick start, as v1beta1."""
    return {
        "apiVersion": v1beta1.API_VERSION,
        "kind": "Workspace",
        "metadata": {"name": "workspace-phi-3-mini"},
        "resource": {
            "instanceType": "Standard_NC6s_v3",
            "labelSelector": {"matchLabels": {"apps": "phi-3"}},
        },
        "inference": {"preset": {"name": "phi-3-mini-4k-instruct"}},
    }
