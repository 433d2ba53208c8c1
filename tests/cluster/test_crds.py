"""Every generated CRD under crds/ installs on the real API server and becomes Established.

Why: structural-schema errors, invalid CEL and bad printer columns are rejected (or leave the CRD
NonStructural / not Established) only by a real apiserver; a YAML lint would not see them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from localcluster import condition_status, find_repo_root, get_object, load_manifests, resolve

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

    from localcluster.pytest_plugin import ApplyYaml

pytestmark = pytest.mark.cluster

CRD_FILES = sorted((find_repo_root(Path(__file__)) / "crds").glob("*.yaml"))


@pytest.mark.parametrize("path", CRD_FILES, ids=[p.name for p in CRD_FILES])
async def test_crd_installs_and_is_established(
    path: Path, apply_yaml: ApplyYaml, kube_api: ApiClient
) -> None:
    docs = load_manifests(path)
    assert docs, f"{path} holds no documents"
    assert all(d["kind"] == "CustomResourceDefinition" for d in docs)

    applied = await apply_yaml(path)  # waits for Established

    for crd in applied:
        stored = await get_object(
            kube_api, "apiextensions.k8s.io/v1", "CustomResourceDefinition", crd["metadata"]["name"]
        )
        assert condition_status(stored, "Established") == "True"
        assert condition_status(stored, "NamesAccepted") == "True"
        assert condition_status(stored, "NonStructuralSchema") in (None, "False")
        spec = crd["spec"]
        for version in spec["versions"]:
            if version.get("served"):
                ref = await resolve(
                    kube_api, f"{spec['group']}/{version['name']}", spec["names"]["kind"]
                )
                assert ref.plural == spec["names"]["plural"]
