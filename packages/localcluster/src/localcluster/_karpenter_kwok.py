"""Upstream Karpenter with its kwok cloud provider, run against a local cluster.

Why: the workspace controller must work with *any* Karpenter provider, not only with our
gpu-provisioner. ``sigs.k8s.io/karpenter/kwok`` is upstream Karpenter's own test provider: the
real lifecycle controllers (launch, registration, initialization, termination) over a fake cloud
that creates Nodes directly, which the cluster's kwok then keeps Ready. ``build.sh`` compiles it
into ``<cache>/bin/karpenter-kwok-<version>/`` together with the CRDs from its module zip.

:class:`KarpenterKwok` installs those CRDs and a KWOKNodeClass, writes an instance-types file
(:func:`gpu_instance_type` makes Azure GPU look-alikes), and starts the binary with free ports,
no leader election and short batch windows. Its log stays in ``work_dir``.

Upstream's CRDs replace ours (``nodeclaims.karpenter.sh`` has the same name) and its controllers
watch every Node and Pod, so give it a cluster of its own rather than a shared test session's.

Karpenter's kwok provider writes the instance type's resources into the Node's *allocatable*
only; its capacity is the claim's requests. On a real GPU node the NVIDIA device plugin reports
``nvidia.com/gpu`` in both, and Kaito (like our workspace controller) reads capacity. So while
running, :class:`KarpenterKwok` also plays that device plugin for the Nodes the provider created
(providerID ``kwok://``): it copies the extended resources of allocatable into capacity.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import time
from typing import TYPE_CHECKING, Any, Final

import structlog

from controller_kit import Informer, resources
from localcluster._binaries import (
    VERSIONS_RELPATH,
    BinariesMissingError,
    default_cache_dir,
    find_repo_root,
    read_versions,
)
from localcluster._cluster import free_ports
from localcluster._kube import GPU_RESOURCE, apply_manifests, new_api_client
from localcluster._processes import ProcessRecord, log_tail, spawn, stop, wait_healthy

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Mapping, Sequence
    from pathlib import Path
    from types import TracebackType

    from kubernetes_asyncio.client import ApiClient

    from localcluster._cluster import ClusterInfo

_log = structlog.get_logger("localcluster.karpenter_kwok")

NODE_CLASS_GROUP: Final = "karpenter.kwok.sh"
NODE_CLASS_KIND: Final = "KWOKNodeClass"
NODE_CLASS_API_VERSION: Final = f"{NODE_CLASS_GROUP}/v1alpha1"
PROVIDER_ID_PREFIX: Final = "kwok://"
"""Every Node the kwok provider creates has providerID ``kwok://<node name>``."""
DEFAULT_ZONE: Final = "test-zone-a"
INSTANCE_TYPES_FILE: Final = "instance-types.json"
LOG_FILE: Final = "karpenter-kwok.log"


@dataclasses.dataclass(frozen=True, kw_only=True)
class KarpenterKwokBinary:
    """The built ``karpenter-kwok`` executable and the upstream CRDs next to it."""

    executable: Path
    crds: tuple[Path, ...]
    version: str

    @classmethod
    def locate(
        cls, *, cache_dir: Path | None = None, repo_root: Path | None = None
    ) -> KarpenterKwokBinary:
        """Find the build of the pinned ``KARPENTER_VERSION``, or raise
        :class:`BinariesMissingError` naming the build command."""
        root = repo_root or find_repo_root()
        version = read_versions(root / VERSIONS_RELPATH)["KARPENTER_VERSION"]
        directory = (cache_dir or default_cache_dir(root)) / "bin" / f"karpenter-kwok-{version}"
        crds = tuple(sorted((directory / "crds").glob("*.yaml")))
        if not (directory / ".stamp").is_file() or not crds:
            raise BinariesMissingError(
                "Karpenter's kwok provider is not built (run `make localcluster-build` or "
                f"tools/localcluster/build.sh); missing: {directory}"
            )
        return cls(executable=directory / "karpenter-kwok", crds=crds, version=version)


def gpu_instance_type(
    name: str,
    *,
    vcpus: int,
    memory_gib: float,
    gpus: int,
    price: float = 1.0,
    zone: str = DEFAULT_ZONE,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One entry of the kwok provider's instance-types file: a linux/amd64 GPU VM size with one
    on-demand offering in ``zone``. ``labels`` become single-value offering requirements, so the
    provider treats them as well-known and puts them on the Node (e.g. Azure's
    ``karpenter.azure.com/sku-name``)."""
    requirements = [
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [zone]},
        *({"key": k, "operator": "In", "values": [v]} for k, v in (labels or {}).items()),
    ]
    return {
        "name": name,
        "offerings": [{"Price": price, "Available": True, "Requirements": requirements}],
        "architecture": "amd64",
        "operatingSystems": ["linux"],
        "resources": {
            "cpu": str(vcpus),
            "memory": f"{round(memory_gib * 1024)}Mi",
            "pods": "110",
            GPU_RESOURCE: str(gpus),
        },
    }


class KarpenterKwok:
    """Upstream Karpenter's kwok provider serving one cluster.

    ``async with KarpenterKwok(info, work_dir=..., instance_types=[...]) as karpenter:`` installs
    the CRDs and the KWOKNodeClass ``node_class_name``, starts the process, waits for its
    ``/readyz``, and on exit stops it (SIGTERM, then SIGKILL). :meth:`log_tail` is for failure
    messages.
    """

    def __init__(
        self,
        cluster: ClusterInfo,
        *,
        work_dir: Path,
        instance_types: Sequence[Mapping[str, Any]],
        node_class_name: str = "default",
        binary: KarpenterKwokBinary | None = None,
        log_level: str = "debug",
        startup_timeout_seconds: float = 90.0,
    ) -> None:
        self.cluster = cluster
        self.work_dir = work_dir
        self.instance_types = [dict(t) for t in instance_types]
        self.node_class_name = node_class_name
        self.binary = binary or KarpenterKwokBinary.locate()
        self.log_level = log_level
        self.startup_timeout_seconds = startup_timeout_seconds
        self.log_path = work_dir / LOG_FILE
        self._process: subprocess.Popen[bytes] | None = None
        self._record: ProcessRecord | None = None
        self._device_plugin: asyncio.Task[None] | None = None
        self._api: ApiClient | None = None

    @property
    def node_class_ref(self) -> dict[str, str]:
        """The ``nodeClassRef`` a NodeClaim needs for this provider to manage it."""
        return {"group": NODE_CLASS_GROUP, "kind": NODE_CLASS_KIND, "name": self.node_class_name}

    async def install(self, api: ApiClient) -> None:
        """Apply the upstream CRDs (waiting until Established) and the KWOKNodeClass."""
        await apply_manifests(api, list(self.binary.crds))
        node_class = {
            "apiVersion": NODE_CLASS_API_VERSION,
            "kind": NODE_CLASS_KIND,
            "metadata": {"name": self.node_class_name},
            "spec": {},
        }
        await apply_manifests(api, [node_class])

    async def start(self, api: ApiClient) -> None:
        """Start the process (CRDs must be installed) and the device-plugin stand-in."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        types_file = self.work_dir / INSTANCE_TYPES_FILE
        types_file.write_text(json.dumps(self.instance_types, indent=2), encoding="utf-8")
        metrics_port, health_port = free_ports(2)
        env = {
            **os.environ,
            "KUBECONFIG": str(self.cluster.kubeconfig),
            "DISABLE_LEADER_ELECTION": "true",
            "METRICS_PORT": str(metrics_port),
            "HEALTH_PROBE_PORT": str(health_port),
            "INSTANCE_TYPES_FILE_PATH": str(types_file),
            "BATCH_IDLE_DURATION": "100ms",
            "BATCH_MAX_DURATION": "1s",
            "LOG_LEVEL": self.log_level,
        }
        argv = [str(self.binary.executable)]
        self._process, self._record = spawn(
            "karpenter-kwok", argv, log_path=self.log_path, attached=True, env=env
        )
        # wait_healthy polls with time.sleep; keep the event loop (and other tasks) running.
        await asyncio.to_thread(
            wait_healthy,
            name="karpenter-kwok",
            url=f"http://127.0.0.1:{health_port}/readyz",
            process=self._process,
            record=self._record,
            deadline=time.monotonic() + self.startup_timeout_seconds,
        )
        self._device_plugin = asyncio.create_task(
            report_gpu_capacity(api), name="karpenter-kwok-device-plugin"
        )

    async def stop(self) -> None:
        """Stop the device-plugin stand-in and the process; idempotent."""
        if self._device_plugin is not None:
            self._device_plugin.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._device_plugin
            self._device_plugin = None
        if self._record is not None and self._process is not None:
            record, process = self._record, self._process
            await asyncio.to_thread(stop, [record], children={process.pid: process})
            self._record = self._process = None

    def log_tail(self, lines: int = 60) -> str:
        """The last ``lines`` of the provider's log."""
        return log_tail(self.log_path, lines=lines)

    async def __aenter__(self) -> KarpenterKwok:
        self._api = api = new_api_client(self.cluster)
        try:
            await self.install(api)
            await self.start(api)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.stop()
        finally:
            if self._api is not None:
                await self._api.close()
                self._api = None


async def report_gpu_capacity(api: ApiClient, *, resource: str = GPU_RESOURCE) -> None:
    """Until cancelled: for every Node with a ``kwok://`` providerID whose allocatable has
    ``resource`` but whose capacity does not, add it to capacity (what the NVIDIA device plugin
    reports on a real node)."""
    informer = Informer(api, resources.NODES)
    queue: asyncio.Queue[str] = asyncio.Queue()
    informer.add_handler(
        lambda _event, _old, new: queue.put_nowait(new["metadata"]["name"]) if new else None
    )
    async with asyncio.TaskGroup() as group:
        group.create_task(informer.run(), name="device-plugin-informer")
        while True:
            node = informer.get(await queue.get())
            if node is None or node["metadata"].get("deletionTimestamp"):
                continue
            if not str((node.get("spec") or {}).get("providerID", "")).startswith(
                PROVIDER_ID_PREFIX
            ):
                continue
            status = node.get("status") or {}
            allocatable = (status.get("allocatable") or {}).get(resource)
            if allocatable is None or resource in (status.get("capacity") or {}):
                continue
            try:
                await resources.patch(
                    api,
                    resources.NODES,
                    node["metadata"]["name"],
                    {"status": {"capacity": {resource: allocatable}}},
                    subresource="status",
                )
            except Exception as exc:  # a Node deleted meanwhile; the next event retries
                _log.warning(
                    "could not report GPU capacity", node=node["metadata"]["name"], error=repr(exc)
                )


__all__ = [
    "DEFAULT_ZONE",
    "NODE_CLASS_API_VERSION",
    "NODE_CLASS_GROUP",
    "NODE_CLASS_KIND",
    "PROVIDER_ID_PREFIX",
    "KarpenterKwok",
    "KarpenterKwokBinary",
    "gpu_instance_type",
    "report_gpu_capacity",
]
