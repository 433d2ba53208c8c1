"""Karpenter's kwok provider launcher: binary lookup and the instance-types file, no cluster."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from localcluster import BinariesMissingError, KarpenterKwokBinary, gpu_instance_type
from localcluster._binaries import VERSIONS_RELPATH

if TYPE_CHECKING:
    from pathlib import Path


def _fake_repo(tmp_path: Path) -> Path:
    versions = tmp_path / VERSIONS_RELPATH
    versions.parent.mkdir(parents=True)
    versions.write_text("KARPENTER_VERSION=v9.9.9\n")
    return tmp_path


def test_unbuilt_provider_names_the_build_command(tmp_path: Path) -> None:
    repo = _fake_repo(tmp_path)
    with pytest.raises(BinariesMissingError, match="make localcluster-build") as caught:
        KarpenterKwokBinary.locate(repo_root=repo, cache_dir=tmp_path / "cache")
    assert "karpenter-kwok-v9.9.9" in str(caught.value)


def test_a_build_without_its_crds_counts_as_missing(tmp_path: Path) -> None:
    repo = _fake_repo(tmp_path)
    built = tmp_path / "cache/bin/karpenter-kwok-v9.9.9"
    built.mkdir(parents=True)
    (built / ".stamp").write_text("v9.9.9 0\n")
    with pytest.raises(BinariesMissingError):
        KarpenterKwokBinary.locate(repo_root=repo, cache_dir=tmp_path / "cache")
    (built / "crds").mkdir()
    (built / "crds/karpenter.sh_nodeclaims.yaml").write_text("{}\n")
    found = KarpenterKwokBinary.locate(repo_root=repo, cache_dir=tmp_path / "cache")
    assert found.executable == built / "karpenter-kwok"
    assert found.crds == (built / "crds/karpenter.sh_nodeclaims.yaml",)
    assert found.version == "v9.9.9"


def test_gpu_instance_type_is_an_on_demand_offering_with_gpus_and_labels() -> None:
    entry = gpu_instance_type(
        "Standard_NC12s_v3",
        vcpus=12,
        memory_gib=224,
        gpus=2,
        zone="zone-b",
        labels={"karpenter.azure.com/sku-name": "Standard_NC12s_v3"},
    )
    assert json.loads(json.dumps(entry)) == entry, "plain JSON"
    assert entry["resources"] == {
        "cpu": "12",
        "memory": "229376Mi",
        "pods": "110",
        "nvidia.com/gpu": "2",
    }
    [offering] = entry["offerings"]
    requirements = {r["key"]: (r["operator"], r["values"]) for r in offering["Requirements"]}
    assert requirements == {
        "karpenter.sh/capacity-type": ("In", ["on-demand"]),
        "topology.kubernetes.io/zone": ("In", ["zone-b"]),
        "karpenter.azure.com/sku-name": ("In", ["Standard_NC12s_v3"]),
    }
    assert offering["Available"] is True
    assert (entry["architecture"], entry["operatingSystems"]) == ("amd64", ["linux"])
