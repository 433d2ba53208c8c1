"""``instance.garbagecollection``: instances without claims, claims without instances, and
Nodes without claims.

Two leaks upstream needed the first two for: a claim deleted while its create was still running
after a restart leaves a pool (Azure/gpu-provisioner#181), and a pool deleted out of band leaves a
claim that will never become Ready again. Every ``interval`` this compares ``CloudProvider.list()``
(which only returns instances this provisioner created, by its ownership tag) with the claim
caches. Both sides get a grace period, so a pool whose claim is still being written, or a claim
launched while the list was in flight, is left alone.

The third: a Node registered for a claim (our ``karpenter.sh/termination`` finalizer and an owner
reference) whose claim is gone would stay Terminating forever, since only the claim's termination
releases it. A Node is ours to collect when it carries the finalizer, an owner reference to a
claim kind served here, and the labels of the instance this provisioner would create for that
claim (its agent pool's), and when the API server confirms no claim of that name exists. Then the
instance is deleted (waiting for NotFound across passes) and the Node released.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

import structlog
from kubernetes_asyncio.client.exceptions import ApiException

from controller_kit import conditions, error_message, resources
from gpu_provisioner import metrics
from gpu_provisioner.cloudprovider.types import Claim, NodeClaimNotFoundError, TransientError
from gpu_provisioner.controllers.kinds import nodepool_of
from gpu_provisioner.controllers.lifecycle import FINALIZER, release_node

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from kubernetes_asyncio.client import ApiClient

    from controller_kit import Clock, Informer
    from gpu_provisioner.cloudprovider.types import CloudProvider
    from gpu_provisioner.controllers.kinds import ClaimKind, Selection

_log = structlog.get_logger("instance.garbagecollection")
Object = dict[str, Any]


class GarbageCollector:
    def __init__(
        self,
        *,
        api: ApiClient,
        provider: CloudProvider,
        claims: Mapping[str, tuple[ClaimKind, Informer]],
        selection: Selection,
        clock: Clock,
        interval_seconds: float,
        grace_seconds: float,
        nodes: Informer | None = None,
        instance_node_labels: Mapping[str, Callable[[Object], Sequence[tuple[str, str]]]]
        | None = None,
    ) -> None:
        self._api = api
        self._provider = provider
        self._claims = claims
        self._selection = selection
        self._nodes = nodes
        self._instance_node_labels = instance_node_labels or {}
        self._clock = clock
        self._interval = interval_seconds
        self._grace = datetime.timedelta(seconds=grace_seconds)

    async def run(self) -> None:
        for _, informer in self._claims.values():
            await informer.synced.wait()
        if self._nodes is not None:
            await self._nodes.synced.wait()
        while True:
            with structlog.contextvars.bound_contextvars(controller="instance.garbagecollection"):
                try:
                    await self.collect()
                except Exception as exc:  # a failed pass is retried at the next interval
                    _log.warning("garbage collection failed", error=error_message(exc))
            await self._clock.sleep(self._interval)

    async def collect(self) -> None:
        """One pass."""
        started = self._clock.now()
        instances = await self._provider.list()
        for instance in instances:
            entry = self._claims.get(instance.claim_kind)
            if entry is None or instance.state.lower() == "deleting":
                continue
            if entry[1].get(instance.claim_name) is not None:
                continue
            if instance.created_at is not None and started - instance.created_at < self._grace:
                continue
            _log.info("deleting leaked instance", instance=instance.name, claim=instance.claim_name)
            try:
                await self._provider.delete(
                    Claim(kind=instance.claim_kind, name=instance.claim_name, uid="")
                )
            except (NodeClaimNotFoundError, TransientError):
                continue
        present = {(i.claim_kind, i.claim_name) for i in instances}
        for kind, informer in self._claims.values():
            for obj in informer:
                meta = obj["metadata"]
                if meta.get("deletionTimestamp") or not self._selection.manages(obj):
                    continue
                if (kind.kind, meta["name"]) in present:
                    continue
                launched = conditions.find(
                    (obj.get("status") or {}).get("conditions"), kind.launched
                )
                if launched is None or launched.get("status") != "True":
                    continue
                since = datetime.datetime.fromisoformat(
                    str(launched["lastTransitionTime"]).replace("Z", "+00:00")
                )
                if started - since < self._grace:
                    continue
                _log.info("deleting claim whose instance is gone", claim=meta["name"])
                metrics.NODECLAIMS_DISRUPTED.labels(
                    "garbage_collected", nodepool_of(obj), "on-demand"
                ).inc()
                try:
                    await resources.delete(
                        self._api, kind.resource, meta["name"], preconditions_uid=meta["uid"]
                    )
                except ApiException as exc:
                    if exc.status not in (404, 409):
                        raise
        await self._collect_nodes()

    async def _collect_nodes(self) -> None:
        """Nodes registered for claims that are gone: instance deleted, then Node released."""
        if self._nodes is None:
            return
        for node in list(self._nodes):
            owner = self._orphan_owner(node)
            if owner is None or not await self._claim_gone(*owner):
                continue
            kind, name = owner
            node_name = node["metadata"]["name"]
            try:
                await self._provider.delete(Claim(kind=kind.kind, name=name, uid=""))
            except NodeClaimNotFoundError:
                pass
            except TransientError as exc:
                _log.info("orphaned node waits for its instance", node=node_name, reason=str(exc))
                continue
            else:
                _log.info("deleting the instance of an orphaned node", node=node_name, claim=name)
                continue  # deletion under way: a later pass sees NotFound
            _log.info("releasing orphaned node", node=node_name, claim=name)
            await release_node(self._api, self._nodes.get(node_name) or node)

    def _orphan_owner(self, node: Object) -> tuple[ClaimKind, str] | None:
        """The (kind, name) of the claim a Node of ours was registered for, if no claim of that
        kind and name is in the caches; None for a Node that is not ours or not orphaned."""
        meta = node["metadata"]
        if FINALIZER not in (meta.get("finalizers") or []):
            return None
        for ref in meta.get("ownerReferences") or []:
            entry = self._claims.get(ref.get("kind") or "")
            labels = self._instance_node_labels.get(ref.get("kind") or "")
            if entry is None or labels is None:
                continue
            if not str(ref.get("apiVersion") or "").startswith(f"{entry[0].resource.group}/"):
                continue
            name = str(ref.get("name") or "")
            if not name or entry[1].get(name) is not None:
                return None  # a live claim of that name: its lifecycle handles the Node
            node_labels = meta.get("labels") or {}
            pairs = labels({"metadata": {"name": name}})
            if any(node_labels.get(key) == value for key, value in pairs):
                return entry[0], name
        return None

    async def _claim_gone(self, kind: ClaimKind, name: str) -> bool:
        """Asked of the API server: a claim missing from the cache may only be late there."""
        try:
            await resources.call(self._api, "GET", kind.resource.path(name=name))
        except ApiException as exc:
            if exc.status == 404:
                return True
            raise
        return False
