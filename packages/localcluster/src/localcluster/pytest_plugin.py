"""pytest fixtures for tests that need the real local control plane.

Why a plugin (registered through the ``pytest11`` entry point): every package's tests and the
top-level proof tests share one session-scoped cluster, so it starts once per run (about ten
seconds) instead of once per module. The plugin must stay importable when the binaries are not
built, so nothing here touches them until a cluster fixture is requested.

Missing binaries: with ``CI=true`` the cluster fixture *fails* (a CI run that silently skipped the
cluster tier would prove nothing); otherwise it skips with the build command in the reason.

Fixtures (all function-scoped unless noted):

- ``kube_cluster`` (session) -> :class:`localcluster.ClusterInfo`
- ``kube_api_client_factory`` -> ``() -> ApiClient`` (each client closed at teardown)
- ``kube_api`` -> one ``ApiClient``
- ``kube_namespace`` -> a fresh namespace name (its ``default`` ServiceAccount exists; deleted
  at teardown)
- ``apply_yaml`` -> ``async (source, *, namespace=None) -> list[dict]``
- ``gpu_node_factory`` -> ``async (name=None, *, gpu_count=1, labels=None, taints=(), **kw)
  -> dict`` (nodes deleted at teardown)
- ``karpenter_kwok_cluster`` (module) -> :class:`localcluster.ClusterInfo` of a cluster of its
  own, for upstream Karpenter (whose CRDs replace ours and whose controllers watch every Node)
- ``karpenter_kwok_instance_types`` -> the instance-types list (override it in a test module)
- ``karpenter_kwok`` -> a running :class:`localcluster.KarpenterKwok` on that cluster; its log is
  in the test's ``tmp_path`` and its tail is printed at teardown (pytest shows it on failure)

Tests that use ``kube_cluster`` (directly or through another fixture) get the ``cluster`` marker
automatically (so do those using ``karpenter_kwok_cluster``), so ``pytest -m "not cluster"`` runs
everything else.
"""

from __future__ import annotations

import os
import re
import secrets
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from localcluster._binaries import Binaries, BinariesMissingError
from localcluster._cluster import ClusterInfo, LocalCluster
from localcluster._karpenter_kwok import KarpenterKwok, KarpenterKwokBinary, gpu_instance_type
from localcluster._kube import (
    Manifest,
    ManifestSource,
    apply_manifests,
    create_gpu_node,
    delete_object,
    get_object,
    new_api_client,
    poll_until,
)
from localcluster._kube import request as kube_request

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
    from pathlib import Path

    from kubernetes_asyncio.client import ApiClient

MARKER = "cluster"
CLUSTER_FIXTURE = "kube_cluster"
KARPENTER_CLUSTER_FIXTURE = "karpenter_kwok_cluster"


class ApplyYaml(Protocol):
    """Signature of the ``apply_yaml`` fixture."""

    async def __call__(
        self,
        source: ManifestSource,
        *,
        namespace: str | None = None,
    ) -> list[Manifest]: ...


class GpuNodeFactory(Protocol):
    """Signature of the ``gpu_node_factory`` fixture."""

    async def __call__(
        self,
        name: str | None = None,
        *,
        gpu_count: int = 1,
        labels: Mapping[str, str] | None = None,
        taints: Sequence[Mapping[str, str]] = (),
        **kwargs: Any,
    ) -> Manifest: ...


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``cluster`` marker (the suite runs with ``--strict-markers``)."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}: needs the real local control plane (built by tools/localcluster/build.sh)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that depends on the cluster fixture with ``cluster``."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if CLUSTER_FIXTURE in names or KARPENTER_CLUSTER_FIXTURE in names:
            item.add_marker(MARKER)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def _locate_or_skip() -> Binaries:
    try:
        return Binaries.locate()
    except BinariesMissingError as exc:
        if _in_ci():
            pytest.fail(f"CI=true and {exc}", pytrace=False)
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterInfo]:
    """A running cluster for the whole session (stopped at the end)."""
    binaries = _locate_or_skip()
    cluster = LocalCluster(state_dir=tmp_path_factory.mktemp("localcluster"), binaries=binaries)
    with cluster as info:
        yield info


@pytest.fixture
async def kube_api_client_factory(
    kube_cluster: ClusterInfo,
) -> AsyncIterator[Callable[[], ApiClient]]:
    """Make admin ApiClients bound to the test's event loop; all are closed at teardown."""
    clients: list[ApiClient] = []

    def make() -> ApiClient:
        client = new_api_client(kube_cluster)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def kube_api(kube_api_client_factory: Callable[[], ApiClient]) -> ApiClient:
    """One admin ApiClient (async only because aiohttp needs the running loop to build it)."""
    return kube_api_client_factory()


def _namespace_name(node_name: str) -> str:
    stem = re.sub(r"[^a-z0-9-]+", "-", node_name.lower()).strip("-")[:40].strip("-")
    return f"t-{stem}-{secrets.token_hex(3)}"


@pytest.fixture
async def kube_namespace(request: pytest.FixtureRequest, kube_api: ApiClient) -> AsyncIterator[str]:
    """A fresh namespace, ready for pods (its ``default`` ServiceAccount exists)."""
    name = _namespace_name(request.node.name)
    await kube_request(kube_api, "POST", "/api/v1/namespaces", body={"metadata": {"name": name}})

    async def default_service_account() -> Manifest | None:
        return await get_object(kube_api, "v1", "ServiceAccount", "default", namespace=name)

    await poll_until(default_service_account, description=f"ServiceAccount {name}/default created")
    yield name
    await delete_object(kube_api, "v1", "Namespace", name)


@pytest.fixture
def apply_yaml(kube_api: ApiClient) -> ApplyYaml:
    """Server-side apply YAML text, a file, or parsed documents (see ``apply_manifests``)."""

    async def apply(
        source: ManifestSource,
        *,
        namespace: str | None = None,
    ) -> list[Manifest]:
        return await apply_manifests(kube_api, source, namespace=namespace)

    return apply


@pytest.fixture
async def gpu_node_factory(kube_api: ApiClient) -> AsyncIterator[GpuNodeFactory]:
    """Create kwok-managed GPU Nodes (Ready before returned); they are deleted at teardown."""
    created: list[str] = []

    async def make(
        name: str | None = None,
        *,
        gpu_count: int = 1,
        labels: Mapping[str, str] | None = None,
        taints: Sequence[Mapping[str, str]] = (),
        **kwargs: Any,
    ) -> Manifest:
        node_name = name or f"kwok-gpu-{secrets.token_hex(3)}"
        node = await create_gpu_node(
            kube_api, node_name, gpu_count=gpu_count, labels=labels, taints=taints, **kwargs
        )
        created.append(node_name)
        return node

    yield make
    for node_name in created:
        await delete_object(kube_api, "v1", "Node", node_name)


@pytest.fixture(scope="module")
def karpenter_kwok_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterInfo]:
    """A cluster of its own (per test module) for upstream Karpenter's kwok provider.

    Not the session cluster: upstream's ``nodeclaims.karpenter.sh`` CRD would replace ours for
    every later test, and its controllers act on every Node and Pod they see.
    """
    binaries = _locate_or_skip()
    try:
        KarpenterKwokBinary.locate()
    except BinariesMissingError as exc:
        if _in_ci():
            pytest.fail(f"CI=true and {exc}", pytrace=False)
        pytest.skip(str(exc))
    state_dir = tmp_path_factory.mktemp("karpenter-cluster")
    cluster = LocalCluster(state_dir=state_dir, binaries=binaries)
    with cluster as info:
        yield info


@pytest.fixture
def karpenter_kwok_instance_types() -> list[dict[str, Any]]:
    """What the provider offers: Azure GPU look-alikes (override the fixture to offer others)."""
    return [
        gpu_instance_type("Standard_NC6s_v3", vcpus=6, memory_gib=112, gpus=1),
        gpu_instance_type("Standard_NC24ads_A100_v4", vcpus=24, memory_gib=220, gpus=1),
    ]


@pytest.fixture
async def karpenter_kwok(
    karpenter_kwok_cluster: ClusterInfo,
    karpenter_kwok_instance_types: list[dict[str, Any]],
    tmp_path: Path,
) -> AsyncIterator[KarpenterKwok]:
    """Upstream Karpenter (kwok provider) running against ``karpenter_kwok_cluster``, with its
    CRDs and the KWOKNodeClass ``default`` installed; stopped at teardown."""
    karpenter = KarpenterKwok(
        karpenter_kwok_cluster,
        work_dir=tmp_path / "karpenter-kwok",
        instance_types=karpenter_kwok_instance_types,
    )
    try:
        async with karpenter:
            yield karpenter
    finally:
        # Captured output is shown for failing tests only.
        print(f"--- {karpenter.log_path} (tail) ---\n{karpenter.log_tail()}")


__all__ = [
    "ApplyYaml",
    "GpuNodeFactory",
    "apply_yaml",
    "gpu_node_factory",
    "karpenter_kwok",
    "karpenter_kwok_cluster",
    "karpenter_kwok_instance_types",
    "kube_api",
    "kube_api_client_factory",
    "kube_cluster",
    "kube_namespace",
]
