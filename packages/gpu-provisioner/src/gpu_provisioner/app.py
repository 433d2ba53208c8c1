"""Wiring: settings → caches → Azure provider (metered) → one lifecycle controller per claim API
→ garbage collection. ``assemble`` is what the tests start, with the emulator's credential and
a fast clock; ``main`` adds logging, probes and leader election around it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING

from kubernetes_asyncio.client.exceptions import ApiException

from controller_kit import Controller, EventRecorder, Informer, Request, SystemClock, resources
from gpu_provisioner.azure import agentpools, arm, naming
from gpu_provisioner.azure.provider import AzureCloudProvider, ProviderOptions
from gpu_provisioner.cloudprovider import metrics as cloud_metrics
from gpu_provisioner.cloudprovider import retrying as cloud_retrying
from gpu_provisioner.controllers import kinds
from gpu_provisioner.controllers.garbagecollection import GarbageCollector
from gpu_provisioner.controllers.launching import Launches
from gpu_provisioner.controllers.lifecycle import ClaimLifecycle, Timing, claims_of_node

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from azure.core.credentials_async import AsyncTokenCredential
    from kubernetes_asyncio.client import ApiClient

    from controller_kit import Clock
    from gpu_provisioner.settings import Settings

AGENTPOOL_LABELS = ("agentpool", "kubernetes.azure.com/agentpool")


def pool_node_labels(kind: kinds.ClaimKind) -> Callable[[dict[str, Any]], list[tuple[str, str]]]:
    """Labels that identify a claim's Node when its providerID does not: its agent pool's."""

    def labels(claim: dict[str, Any]) -> list[tuple[str, str]]:
        pool = naming.pool_name(kind.kind, claim["metadata"]["name"])
        return [(key, pool) for key in AGENTPOOL_LABELS]

    return labels


@dataclasses.dataclass(kw_only=True)
class App:
    informers: list[Informer]
    controllers: list[Controller]
    launches: list[Launches]
    collector: GarbageCollector
    clients: arm.ArmClients

    def synced(self) -> bool:
        return all(i.synced.is_set() for i in self.informers)

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                for informer in self.informers:
                    group.create_task(informer.run(), name=f"informer-{informer.resource.plural}")
                for controller in self.controllers:
                    group.create_task(controller.run(), name=controller.name)
                group.create_task(self.collector.run(), name="instance.garbagecollection")
        finally:
            for launches in self.launches:
                await launches.close()

    async def close(self) -> None:
        await self.clients.close()


async def _served(api: ApiClient, kind: kinds.ClaimKind) -> bool:
    try:
        await resources.call(api, "GET", f"/apis/{kind.resource.group}/{kind.resource.version}")
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


async def assemble(
    api: ApiClient,
    settings: Settings,
    *,
    credential: AsyncTokenCredential | None = None,
    clock: Clock | None = None,
) -> App:
    clock = clock or SystemClock()
    az, prov = settings.azure, settings.provisioning
    clients = arm.ArmClients(
        arm.ArmTarget(
            subscription_id=az.subscription_id,
            resource_group=az.resource_group,
            cluster_name=az.cluster_name,
            location=az.location,
            base_url=az.arm_base_url,
            connection_verify=az.connection_verify,
            polling_interval_seconds=az.polling_interval_seconds,
            retry_total=az.retry_total,
            retry_backoff_factor=az.retry_backoff_factor,
        ),
        credential or arm.default_credential(),
        owns_credential=credential is None,
    )
    nodes = Informer(api, resources.NODES, clock=clock)

    def node_lookup(pool: str) -> Sequence[str]:
        labelled = nodes.list(labels=dict.fromkeys(AGENTPOOL_LABELS, pool))
        return [
            n["spec"]["providerID"] for n in labelled if (n.get("spec") or {}).get("providerID")
        ]

    # Metrics inside retries: every attempt is one measured cloud call, as in Karpenter.
    metered = cloud_metrics.decorate(
        AzureCloudProvider(
            clients,
            nodes=node_lookup,
            clock=clock,
            options=ProviderOptions(
                pool=agentpools.PoolOptions(
                    owner=prov.owner,
                    nodepool_label_value=prov.nodepool_label_value,
                    provisioner_name_label_value=prov.provisioner_name_label_value,
                    default_os_disk_size_gib=prov.default_os_disk_size_gib,
                ),
                check_quota=az.check_quota,
                poll_interval_seconds=prov.poll_interval_seconds,
                node_wait_seconds=prov.node_wait_seconds,
            ),
        )
    )
    provider = cloud_retrying.decorate(metered, clock=clock)
    selection = kinds.Selection(
        node_class_group=prov.node_class_group,
        node_class_kind=prov.node_class_kind,
        labels=prov.managed_labels,
    )
    timing = Timing(
        launch_timeout_seconds=prov.launch_timeout_seconds,
        registration_timeout_seconds=prov.registration_timeout_seconds,
        termination_grace_period_seconds=prov.termination_grace_period_seconds,
        poll_interval_seconds=prov.poll_interval_seconds,
        error_requeue_seconds=prov.error_requeue_seconds,
    )
    events = EventRecorder(api, component="gpu-provisioner", clock=clock)
    wanted = [(kinds.NODECLAIM, prov.serve_nodeclaims), (kinds.MACHINE, prov.serve_machines)]
    informers, controllers, all_launches = [nodes], [], []
    claim_caches: dict[str, tuple[kinds.ClaimKind, Informer]] = {}
    for kind, enabled in wanted:
        if not enabled or not await _served(api, kind):
            continue
        claims = Informer(api, kind.resource, clock=clock)
        controller_ref: list[Controller] = []

        def enqueue(name: str, ref: list[Controller] = controller_ref) -> None:
            ref[0].queue.add(Request("", name))

        launches = Launches(clock=clock, on_done=enqueue)
        reconciler = ClaimLifecycle(
            api=api,
            kind=kind,
            claims=claims,
            nodes=nodes,
            provider=provider,
            launches=launches,
            selection=selection,
            events=events,
            clock=clock,
            timing=timing,
            instance_node_labels=pool_node_labels(kind),
        )
        controller = Controller(
            name=kind.controller_name,
            reconciler=reconciler,
            max_concurrent_reconciles=settings.controller.max_concurrent_reconciles,
            clock=clock,
        )
        controller_ref.append(controller)
        controller.watch(claims)
        controller.watch(nodes, claims_of_node(kind, claims, pool_node_labels(kind)))
        informers.append(claims)
        controllers.append(controller)
        all_launches.append(launches)
        claim_caches[kind.kind] = (kind, claims)
    collector = GarbageCollector(
        api=api,
        provider=provider,
        claims=claim_caches,
        selection=selection,
        clock=clock,
        interval_seconds=prov.gc_interval_seconds,
        grace_seconds=prov.gc_grace_seconds,
        nodes=nodes,
        instance_node_labels={k: pool_node_labels(kind) for k, (kind, _) in claim_caches.items()},
    )
    return App(
        informers=informers,
        controllers=controllers,
        launches=all_launches,
        collector=collector,
        clients=clients,
    )
