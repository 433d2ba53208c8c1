"""A stand-in Karpenter provider for tests and benchmarks of Karpenter clients.

For each Machine (karpenter.sh/v1alpha5) or NodeClaim (karpenter.sh/v1) it sees, it creates a
kwok-managed GPU Node named after the claim, carrying the claim's labels, taints and instance
type, then marks every lifecycle condition True with the node's name and a ``kwok://`` provider
ID, as a real provider would once the instance joined. It is deliberately not the real
gpu-provisioner: it lets the workspace controller be tested without any cloud and without the
provisioner's own behaviour in the way. ``fail_launch`` makes claims of an instance type report
Launched=False instead (a quota or capacity error), and a deleted claim's Node is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from typing import TYPE_CHECKING, Any, Literal

import structlog
from kubernetes_asyncio.client.exceptions import ApiException

from controller_kit import Informer, Resource, conditions, resources
from localcluster._kube import create_gpu_node, delete_object

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from kubernetes_asyncio.client import ApiClient

_log = structlog.get_logger("localcluster.fake_karpenter")
ClaimKind = Literal["machine", "nodeclaim"]
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"

CLAIM_RESOURCES: Mapping[ClaimKind, Resource] = {
    "nodeclaim": Resource(
        group="karpenter.sh", version="v1", plural="nodeclaims", kind="NodeClaim", namespaced=False
    ),
    "machine": Resource(
        group="karpenter.sh",
        version="v1alpha5",
        plural="machines",
        kind="Machine",
        namespaced=False,
    ),
}
LIFECYCLE: Mapping[ClaimKind, tuple[str, str, str, str]] = {
    "nodeclaim": ("Launched", "Registered", "Initialized", "Ready"),
    "machine": ("MachineLaunched", "MachineRegistered", "MachineInitialized", "Ready"),
}


class FakeKarpenterProvider:
    """Serves claims of one kind until cancelled; ``nodes`` lists the Nodes it created."""

    def __init__(
        self,
        api: ApiClient,
        kind: ClaimKind,
        *,
        gpu_count_of: Callable[[str], int] = lambda _instance_type: 1,
        fail_launch: Mapping[str, tuple[str, str]] | None = None,
        concurrency: int = 32,
    ) -> None:
        self._api = api
        self._kind = kind
        self._resource = CLAIM_RESOURCES[kind]
        self._gpu_count_of = gpu_count_of
        self._fail_launch = dict(fail_launch or {})
        self._slots = asyncio.Semaphore(concurrency)
        self._busy: set[str] = set()
        self.nodes: list[str] = []

    async def run(self) -> None:
        informer = Informer(self._api, self._resource)
        queue: asyncio.Queue[str] = asyncio.Queue()
        informer.add_handler(
            lambda _event, _old, new: queue.put_nowait(new["metadata"]["name"]) if new else None
        )
        async with asyncio.TaskGroup() as group:
            group.create_task(informer.run(), name="fake-karpenter-informer")
            while True:
                name = await queue.get()
                claim = informer.get(name)
                if claim is None or name in self._busy:
                    continue
                self._busy.add(name)
                group.create_task(self._serve_one(claim), name=f"fake-karpenter-{name}")

    async def _serve_one(self, claim: Mapping[str, Any]) -> None:
        # One odd claim (another test's leftover, a hand-written one) must not stop the provider.
        try:
            async with self._slots:
                await self._serve(claim)
        except Exception as exc:
            _log.warning("could not serve claim", claim=claim["metadata"]["name"], error=repr(exc))
        finally:
            self._busy.discard(claim["metadata"]["name"])

    async def _serve(self, claim: Mapping[str, Any]) -> None:
        meta = claim["metadata"]
        name = meta["name"]
        if meta.get("deletionTimestamp"):
            await delete_object(self._api, "v1", "Node", name)
            return
        types = LIFECYCLE[self._kind]
        if conditions.is_true((claim.get("status") or {}).get("conditions"), types[3]):
            return
        instance_type = next(
            (r["values"][0] for r in claim["spec"].get("requirements") or []
             if r["key"] == INSTANCE_TYPE_LABEL and r.get("values")),
            None,
        )  # fmt: skip
        if instance_type is None:
            return  # not a claim this stand-in can serve
        now = conditions.rfc3339(datetime.datetime.now(datetime.UTC))
        try:
            gpus = self._gpu_count_of(instance_type)
        except LookupError:
            self._fail_launch.setdefault(
                instance_type, ("UnknownInstanceType", f"unknown instance type {instance_type}")
            )
            gpus = 0
        if instance_type in self._fail_launch:
            reason, message = self._fail_launch[instance_type]
            failed = {"type": types[0], "status": "False", "reason": reason,
                      "message": message, "lastTransitionTime": now}  # fmt: skip
            await self._patch_status({"conditions": [failed]}, name)
            return
        labels = {**(meta.get("labels") or {}), INSTANCE_TYPE_LABEL: instance_type}
        with contextlib.suppress(ApiException):  # 409: created on an earlier event
            await create_gpu_node(
                self._api,
                name,
                gpu_count=gpus,
                labels=labels,
                taints=claim["spec"].get("taints") or [],
                timeout_seconds=120,
            )
            self.nodes.append(name)
        ready = [
            {"type": t, "status": "True", "reason": t, "message": "", "lastTransitionTime": now}
            for t in types
        ]
        await self._patch_status(
            {"nodeName": name, "providerID": f"kwok://{name}", "conditions": ready}, name
        )

    async def _patch_status(self, status: Mapping[str, Any], name: str) -> None:
        await resources.patch(
            self._api, self._resource, name, {"status": dict(status)}, subresource="status"
        )
