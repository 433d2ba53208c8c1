"""versions.env parsing and binary lookup, without any built binaries."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from localcluster import Binaries, BinariesMissingError, find_repo_root
from localcluster._binaries import VERSIONS_RELPATH, read_versions

if TYPE_CHECKING:
    from pathlib import Path


def _fake_repo(tmp_path: Path) -> Path:
    versions = tmp_path / VERSIONS_RELPATH
    versions.parent.mkdir(parents=True)
    versions.write_text(
        "# comment\n\nK8S_VERSION=v1.36.3\nETCD_VERSION=v3.6.16\nKWOK_VERSION=v0.8.0\n"
        "HELM_VERSION=v3.22.0\nKUBECTL_VERSION=1.36.4\n"
    )
    return tmp_path


def test_real_versions_file_pins_every_component() -> None:
    versions = read_versions(find_repo_root() / VERSIONS_RELPATH)
    assert set(versions) == {
        "K8S_VERSION",
        "ETCD_VERSION",
        "KWOK_VERSION",
        "KARPENTER_VERSION",
        "HELM_VERSION",
        "KUBECTL_VERSION",
    }
    assert versions["K8S_VERSION"].startswith("v1.")


def test_bad_line_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "versions.env"
    path.write_text("K8S_VERSION v1.36.3\n")
    with pytest.raises(ValueError, match="not a KEY=value line"):
        read_versions(path)


def test_missing_binaries_are_named(tmp_path: Path) -> None:
    repo = _fake_repo(tmp_path)
    with pytest.raises(BinariesMissingError, match=r"kubernetes-v1\.36\.3.*etcd-v3\.6\.16"):
        Binaries.locate(repo_root=repo, cache_dir=tmp_path / "cache")


def test_a_component_counts_only_with_its_stamp(tmp_path: Path) -> None:
    repo = _fake_repo(tmp_path)
    bin_dir = tmp_path / "cache" / "bin"
    for name in ("kubernetes-v1.36.3", "etcd-v3.6.16", "kwok-v0.8.0", "helm-v3.22.0"):
        (bin_dir / name).mkdir(parents=True)
        (bin_dir / name / ".stamp").write_text("x\n")
    (bin_dir / "kubectl-1.36.4").mkdir()  # a build interrupted before its stamp
    with pytest.raises(BinariesMissingError, match=r"kubectl-1\.36\.4") as excinfo:
        Binaries.locate(repo_root=repo, cache_dir=tmp_path / "cache")
    assert "etcd" not in str(excinfo.value).split("missing:")[1]

    (bin_dir / "kubectl-1.36.4" / ".stamp").write_text("x\n")
    found = Binaries.locate(repo_root=repo, cache_dir=tmp_path / "cache")
    assert found.kube_apiserver == bin_dir / "kubernetes-v1.36.3" / "kube-apiserver"
    assert found.kwok_stages == bin_dir / "kwok-v0.8.0" / "stages.yaml"
    assert found.kubernetes_version == "v1.36.3"


def test_cache_dir_follows_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _fake_repo(tmp_path)
    monkeypatch.setenv("LOCALCLUSTER_CACHE", str(tmp_path / "elsewhere"))
    with pytest.raises(BinariesMissingError, match="elsewhere"):
        Binaries.locate(repo_root=repo)
