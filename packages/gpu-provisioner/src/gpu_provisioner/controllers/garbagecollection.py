"""``instance.garbagecollection``: instances without claims, and claims without instances.

Two leaks upstream needed this for: a claim deleted while its create was still running after a
restart leaves a pool (Azure/gpu-provisioner#181), and a pool deleted out of band leaves a claim
that will never become Ready again. Every ``interval`` this compares ``CloudProvider.list()``
(which only returns instances this provisioner created, by its ownership tag) with the claim
caches. Both sides get a grace period, so a pool whose claim is still being written, or a claim
launched while the list was in flight, is left alone.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

import structlog
from kubernetes_asyncio.client.exceptions import ApiException

from controller_kit import conditions, resources
from gpu_provisioner import metrics
from gpu_provisioner.cloudprovider.types import Claim, NodeClaimNotFoundError, TransientError
from gpu_provisioner.controllers.kinds import nodepool_of

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kubernetes_asyncio.client import ApiClient

    from controller_kit import Clock, Informer
    from gpu_provisioner.cloudprovider.types import CloudProvider
    from gpu_provisioner.controllers.kinds import ClaimKind, Selection

_log = structlog.get_logger("instance.garbagecollection")


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
    ) -> None:
        self._api = api
        self._provider = provider
        self._claims = claims
        self._selection = selection
        self._clock = clock
        self._interval = interval_seconds
        self._grace = datetime.timedelta(seconds=grace_seconds)

    async def run(self) -> None:
        for _, informer in self._claims.values():
            await informer.synced.wait()
        while True:
            with structlog.contextvars.bound_contextvars(controller="instance.garbagecollection"):
                try:
                    await self.collect()
                except Exception as exc:  # a failed pass is retried at the next interval
                    _log.warning("garbage collection failed", error=str(exc))
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
