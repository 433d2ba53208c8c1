"""Every example manifest under examples/ is accepted by the real API server.

Why: the examples are what users copy; schema defaults, enums and CEL rules of our CRDs must
accept every one of them. All CRDs are installed first, then each example is server-side applied
into a fresh namespace and read back.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from localcluster import find_repo_root, get_object

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

    from localcluster.pytest_plugin import ApplyYaml

pytestmark = pytest.mark.cluster

ROOT = find_repo_root(Path(__file__))
EXAMPLES = sorted((ROOT / "examples").rglob("*.yaml"))


@pytest.mark.parametrize(
    "path", EXAMPLES, ids=[str(p.relative_to(ROOT / "examples")) for p in EXAMPLES]
)
async def test_example_applies(
    path: Path, apply_yaml: ApplyYaml, kube_api: ApiClient, kube_namespace: str
) -> None:
    for crd in sorted((ROOT / "crds").glob("*.yaml")):
        await apply_yaml(crd)

    applied = await apply_yaml(path, namespace=kube_namespace)

    assert applied, f"{path} holds no documents"
    for obj in applied:
        meta = obj["metadata"]
        assert meta.get("uid"), obj
        stored = await get_object(
            kube_api, obj["apiVersion"], obj["kind"], meta["name"], namespace=meta.get("namespace")
        )
        assert stored is not None
        assert stored["metadata"]["uid"] == meta["uid"]
