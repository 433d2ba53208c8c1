"""The provisioner end to end: real kube-apiserver + kwok, the AKS emulator, the real Azure SDK.

Claims are written as Kaito (or any other Karpenter client) writes them; the tests wait on what
the provisioner does to them, to Nodes and to the emulator's pools. Waits poll observable state;
nothing sleeps to synchronise.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

import prometheus_client
import pytest

import localcluster
from aks_emulator import (
    FailedOperation,
    Faults,
    KubeNodeJoiner,
    ServerErrors,
    StuckOperation,
    Throttle,
)
from localcluster import condition_status, get_object, poll_until

if TYPE_CHECKING:
    from azure.mgmt.containerservice.aio import ContainerServiceClient
    from conftest import StartProvisioner
    from kubernetes_asyncio.client import ApiClient

    from aks_emulator import AksEmulator

Object = dict[str, Any]
NODECLAIM = ("karpenter.sh/v1", "NodeClaim")
MACHINE = ("karpenter.sh/v1alpha5", "Machine")


def claim_name() -> str:
    return "ws" + secrets.token_hex(5)[:9]


def nodeclaim(
    name: str,
    *,
    vm_size: str = "Standard_NC6s_v3",
    storage: str | None = "128Gi",
    labels: dict[str, str] | None = None,
    node_class: tuple[str, str] = ("kaito.sh", "KaitoNodeClass"),
    nodepool: str = "kaito",
) -> Object:
    requests: dict[str, str] = {"nvidia.com/gpu": "1"}
    if storage:
        requests["storage"] = storage
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {
            "name": name,
            "labels": {
                "karpenter.sh/nodepool": nodepool,
                "kaito.sh/workspace": "demo",
                "kaito.sh/workspacenamespace": "default",
            }
            if labels is None
            else labels,
            "annotations": {
                "karpenter.sh/do-not-disrupt": "true",
                "kaito.sh/node-image-family": "ubuntu",
            },
        },
        "spec": {
            "nodeClassRef": {"group": node_class[0], "kind": node_class[1], "name": "default"},
            "requirements": [
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [vm_size]},
                {"key": "karpenter.sh/nodepool", "operator": "In", "values": [nodepool]},
                {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
            ],
            "resources": {"requests": requests},
            "taints": [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}],
        },
    }


def machine(name: str, *, vm_size: str = "Standard_NC6s_v3") -> Object:
    return {
        "apiVersion": "karpenter.sh/v1alpha5",
        "kind": "Machine",
        "metadata": {
            "name": name,
            "labels": {
                "karpenter.sh/provisioner-name": "default",
                "kaito.sh/workspace": "demo",
                "kaito.sh/workspacenamespace": "default",
            },
        },
        "spec": {
            "machineTemplateRef": {"name": name},
            "requirements": [
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [vm_size]},
                {"key": "karpenter.sh/provisioner-name", "operator": "In", "values": ["default"]},
            ],
            "resources": {"requests": {"storage": "100Gi", "nvidia.com/gpu": "1"}},
            "taints": [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}],
        },
    }


async def create(api: ApiClient, obj: Object) -> None:
    await localcluster.apply_manifests(api, [obj])


async def wait_condition(
    api: ApiClient,
    api_kind: tuple[str, str],
    name: str,
    condition: str,
    status: str = "True",
    *,
    timeout_seconds: float = 30.0,
) -> Object:
    async def reached() -> Object | None:
        obj = await get_object(api, *api_kind, name)
        return obj if condition_status(obj, condition) == status else None

    return await poll_until(
        reached,
        description=f"{api_kind[1]} {name} {condition}={status}",
        timeout_seconds=timeout_seconds,
    )


async def wait_gone(
    api: ApiClient, api_kind: tuple[str, str], name: str, *, timeout_seconds: float = 30.0
) -> None:
    async def gone() -> bool:
        return await get_object(api, *api_kind, name) is None

    await poll_until(
        gone, description=f"{api_kind[1]} {name} deleted", timeout_seconds=timeout_seconds
    )


def user_pools(emulator: AksEmulator) -> list[Object]:
    """Pools other than the cluster's system pool."""
    return [p for p in emulator.state()["pools"] if p["name"] != "nodepool1"]


async def wait_no_pools(emulator: AksEmulator, *, timeout_seconds: float = 30.0) -> None:
    async def none_left() -> bool:
        return not user_pools(emulator)

    await poll_until(none_left, description="no agent pools left", timeout_seconds=timeout_seconds)


async def warning_events(api: ApiClient, name: str) -> list[Object]:
    listing = await localcluster.request(
        api, "GET", "/api/v1/events", query=[("fieldSelector", f"involvedObject.name={name}")]
    )
    return [e for e in listing.get("items") or [] if e.get("type") == "Warning"]


def metric(name: str, **labels: str) -> float:
    return prometheus_client.REGISTRY.get_sample_value(name, labels) or 0.0


# -- create → Ready → delete -------------------------------------------------------------------


async def test_nodeclaim_becomes_ready_and_deletion_leaves_nothing(
    kube_api: ApiClient, emulator: AksEmulator, start_provisioner: StartProvisioner
) -> None:
    name = claim_name()
    # A nodepool of this test's own, so the counters below count this claim and no other.
    nodepool = f"kaito-{name}"
    terminated = metric(
        "karpenter_nodeclaims_terminated_total", nodepool=nodepool, capacity_type="on-demand"
    )
    creates = metric(
        "karpenter_cloudprovider_duration_seconds_count",
        controller="nodeclaim.lifecycle",
        method="Create",
        provider="azure",
    )
    async with start_provisioner():
        await create(kube_api, nodeclaim(name, nodepool=nodepool))
        claim = await wait_condition(kube_api, NODECLAIM, name, "Ready")
        status = claim["status"]
        for type_ in ("Launched", "Registered", "Initialized"):
            assert condition_status(claim, type_) == "True"
        assert claim["metadata"]["finalizers"] == ["karpenter.sh/termination"]
        node = await get_object(kube_api, "v1", "Node", status["nodeName"])
        assert node is not None
        assert node["spec"]["providerID"] == status["providerID"]
        assert status["providerID"].startswith(
            f"azure:///subscriptions/{emulator.config.identity.subscription}/resourceGroups/mc_"
        )
        assert status["capacity"]["nvidia.com/gpu"] == "1"
        assert status["allocatable"]["cpu"]
        labels = node["metadata"]["labels"]
        assert labels["kaito.sh/workspace"] == "demo"
        assert labels["karpenter.sh/registered"] == "true"
        assert labels["karpenter.sh/initialized"] == "true"
        assert labels["kaito.sh/machine-type"] == "gpu"
        assert node["metadata"]["annotations"]["karpenter.sh/do-not-disrupt"] == "true"
        assert "karpenter.sh/termination" in node["metadata"]["finalizers"]
        assert node["metadata"]["ownerReferences"][0]["kind"] == "NodeClaim"
        assert {"key": "sku", "value": "gpu", "effect": "NoSchedule"} in node["spec"]["taints"]
        (pool,) = user_pools(emulator)
        assert pool["name"] == name
        assert pool["vmSize"] == "Standard_NC6s_v3"
        assert emulator.requests("agentPools.createOrUpdate") == 1

        async def labelled() -> Object | None:  # as `kubectl get nodeclaims` shows Type
            obj = await get_object(kube_api, *NODECLAIM, name)
            pinned = (obj or {}).get("metadata", {}).get("labels", {})
            return pinned if "node.kubernetes.io/instance-type" in pinned else None

        claim_labels = await poll_until(labelled, description="requirement labels on the claim")
        assert claim_labels["node.kubernetes.io/instance-type"] == "Standard_NC6s_v3"
        assert claim_labels["kubernetes.io/os"] == "linux"
        assert claim_labels["karpenter.sh/nodepool"] == nodepool
        assert claim_labels["kaito.sh/workspace"] == "demo"

        await localcluster.delete_object(kube_api, *NODECLAIM, name)
        await wait_gone(kube_api, NODECLAIM, name)
        await wait_no_pools(emulator)
        assert await get_object(kube_api, "v1", "Node", status["nodeName"]) is None
    after = metric(
        "karpenter_nodeclaims_terminated_total", nodepool=nodepool, capacity_type="on-demand"
    )
    assert after == terminated + 1
    assert (
        metric(
            "karpenter_cloudprovider_duration_seconds_count",
            controller="nodeclaim.lifecycle",
            method="Create",
            provider="azure",
        )
        > creates
    )


async def test_machine_becomes_ready_and_is_deleted(
    kube_api: ApiClient, emulator: AksEmulator, start_provisioner: StartProvisioner
) -> None:
    name = claim_name()
    async with start_provisioner():
        await create(kube_api, machine(name))
        claim = await wait_condition(kube_api, MACHINE, name, "Ready")
        for type_ in ("MachineLaunched", "MachineRegistered", "MachineInitialized"):
            assert condition_status(claim, type_) == "True"
        node = await get_object(kube_api, "v1", "Node", claim["status"]["nodeName"])
        assert node is not None
        assert node["metadata"]["labels"]["karpenter.sh/provisioner-name"] == "default"
        await localcluster.delete_object(kube_api, *MACHINE, name)
        await wait_gone(kube_api, MACHINE, name)
        await wait_no_pools(emulator)


async def test_hand_written_claim_is_honoured(
    kube_api: ApiClient, emulator: AksEmulator, start_provisioner: StartProvisioner
) -> None:
    """Another Karpenter client's claim: no Kaito labels, a long name, no storage request."""
    name = f"gpu-node-{secrets.token_hex(3)}"
    async with start_provisioner():
        await create(kube_api, nodeclaim(name, labels={}, storage=None))
        await wait_condition(kube_api, NODECLAIM, name, "Ready")
        (pool,) = user_pools(emulator)
        assert pool["name"] != name
        assert len(pool["name"]) <= 12
        await localcluster.delete_object(kube_api, *NODECLAIM, name)
        await wait_gone(kube_api, NODECLAIM, name)
        await wait_no_pools(emulator)


@pytest.mark.parametrize("written_label", [False, True])
async def test_a_lower_case_instance_type_converges_on_the_canonical_sku_name(
    kube_api: ApiClient,
    emulator: AksEmulator,
    start_provisioner: StartProvisioner,
    written_label: bool,
) -> None:
    """Azure treats VM sizes case-insensitively and so does the provisioner: the pool gets the
    canonical size, and the Node carries the name AKS writes on its Nodes, as does the claim
    (unless its writer labelled it: a claim's own labels are kept, as Karpenter keeps them)."""
    name = claim_name()
    obj = nodeclaim(name, vm_size="standard_nc6s_v3")
    if written_label:
        obj["metadata"]["labels"]["node.kubernetes.io/instance-type"] = "standard_nc6s_v3"
    claim_label = "standard_nc6s_v3" if written_label else "Standard_NC6s_v3"
    async with start_provisioner():
        await create(kube_api, obj)
        claim = await wait_condition(kube_api, NODECLAIM, name, "Ready")
        (pool,) = user_pools(emulator)
        assert pool["vmSize"] == "Standard_NC6s_v3"
        node = await get_object(kube_api, "v1", "Node", claim["status"]["nodeName"])
        assert node is not None
        assert node["metadata"]["labels"]["node.kubernetes.io/instance-type"] == "Standard_NC6s_v3"

        async def labelled() -> str | None:
            obj = await get_object(kube_api, *NODECLAIM, name)
            labels = (obj or {}).get("metadata", {}).get("labels", {})
            return str(labels.get("node.kubernetes.io/instance-type") or "") or None

        assert await poll_until(labelled, description="the claim labelled") == claim_label
        # The claim's label reaches the Node on every registration pass: still canonical.
        node = await get_object(kube_api, "v1", "Node", claim["status"]["nodeName"])
        assert node is not None
        assert node["metadata"]["labels"]["node.kubernetes.io/instance-type"] == "Standard_NC6s_v3"
        await localcluster.delete_object(kube_api, *NODECLAIM, name)
        await wait_gone(kube_api, NODECLAIM, name)
        await wait_no_pools(emulator)


async def test_claims_of_other_providers_are_ignored(
    kube_api: ApiClient, emulator: AksEmulator, start_provisioner: StartProvisioner
) -> None:
    name = claim_name()
    async with start_provisioner():
        await create(
            kube_api, nodeclaim(name, labels={}, node_class=("karpenter.azure.com", "AKSNodeClass"))
        )
        theirs = await get_object(kube_api, *NODECLAIM, name)
        # Make sure our claim is processed after theirs would have been.
        mine = claim_name()
        await create(kube_api, nodeclaim(mine))
        await wait_condition(kube_api, NODECLAIM, mine, "Launched")
        theirs = await get_object(kube_api, *NODECLAIM, name)
        assert theirs is not None
        assert not theirs["metadata"].get("finalizers")
        assert [p["name"] for p in user_pools(emulator)] == [mine]


# -- faults ----------------------------------------------------------------------------------------


async def test_quota_shortage_is_reported_on_the_claim_and_as_an_event(
    kube_api: ApiClient, emulator: AksEmulator, start_provisioner: StartProvisioner
) -> None:
    emulator.set_faults(Faults(quota={"standardNCSv3Family": 4}))
    name = claim_name()
    async with start_provisioner():
        await create(kube_api, nodeclaim(name))
        claim = await wait_condition(kube_api, NODECLAIM, name, "Launched", "False")
        launched = next(c for c in claim["status"]["conditions"] if c["type"] == "Launched")
        assert launched["reason"] == "QuotaExceeded"
        assert "standardNCSv3Family" in launched["message"]
        assert "needs 6 vCPUs, 4 of 4 are available" in launched["message"]
        assert condition_status(claim, "Ready") == "False"
        events = await poll_until(
            lambda: warning_events(kube_api, name), description="a Warning event"
        )
        assert events[0]["reason"] == "QuotaExceeded"
        assert emulator.requests("agentPools.createOrUpdate") == 0  # checked before the PUT

        emulator.set_faults(Faults())  # quota raised: the retry succeeds
        await wait_condition(kube_api, NODECLAIM, name, "Ready")


async def test_throttling_and_server_errors_are_retried(
    kube_api: ApiClient, emulator: AksEmulator, start_provisioner: StartProvisioner
) -> None:
    emulator.set_faults(
        Faults(
            throttle=Throttle(
                rate=1.0, retry_after_seconds=0.05, operations=("agentPools.*",), times=3
            ),
            server_errors=ServerErrors(rate=1.0, operations=("operations.get",), times=2),
        )
    )
    name = claim_name()
    async with start_provisioner():
        await create(kube_api, nodeclaim(name))
        await wait_condition(kube_api, NODECLAIM, name, "Ready")
    counts = emulator.counts()["operations"]
    assert sum(counts[op].get("429", 0) for op in counts) == 3
    assert sum(counts[op].get("500", 0) + counts[op].get("503", 0) for op in counts) == 2
    assert len(user_pools(emulator)) == 1


async def test_capacity_failure_deletes_the_claim_and_its_pool(
    kube_api: ApiClient, emulator: AksEmulator, start_provisioner: StartProvisioner
) -> None:
    emulator.set_faults(Faults(failed_operations=(FailedOperation(code="ZonalAllocationFailed"),)))
    name = claim_name()
    async with start_provisioner():
        await create(kube_api, nodeclaim(name))
        await wait_gone(kube_api, NODECLAIM, name)
        await wait_no_pools(emulator)
        events = await warning_events(kube_api, name)
        assert [e["reason"] for e in events] == ["InsufficientCapacityError"]


async def test_failed_operation_is_retried(
    kube_api: ApiClient, emulator: AksEmulator, start_provisioner: StartProvisioner
) -> None:
    emulator.set_faults(
        Faults(
            failed_operations=(
                FailedOperation(code="VMExtensionProvisioningError", message="CSE failed", times=1),
            )
        )
    )
    name = claim_name()
    async with start_provisioner():
        await create(kube_api, nodeclaim(name))
        await wait_condition(kube_api, NODECLAIM, name, "Ready")
        events = await warning_events(kube_api, name)
        assert [e["reason"] for e in events] == ["VMExtensionProvisioningError"]
        assert len(user_pools(emulator)) == 1


async def test_unknown_sku_fails_launch_then_times_out(
    kube_api: ApiClient, emulator: AksEmulator, start_provisioner: StartProvisioner
) -> None:
    name = claim_name()
    # Long enough that Launched=False is seen before the timeout deletes the claim, even when
    # the first reconcile is slow on a loaded machine.
    async with start_provisioner(launch_timeout_seconds=8.0):
        await create(kube_api, nodeclaim(name, vm_size="Standard_D2s_v3_nope"))
        claim = await wait_condition(kube_api, NODECLAIM, name, "Launched", "False")
        launched = next(c for c in claim["status"]["conditions"] if c["type"] == "Launched")
        assert launched["reason"] == "UnknownInstanceType"
        await wait_gone(kube_api, NODECLAIM, name)
    assert emulator.requests("agentPools.createOrUpdate") == 0


# -- restarts, deletion paths, garbage collection --------------------------------------------------


async def test_restart_during_create_leaves_exactly_one_pool(
    kube_api: ApiClient, emulator: AksEmulator, start_provisioner: StartProvisioner
) -> None:
    name = claim_name()
    emulator.set_faults(Faults(stuck_operations=(StuckOperation(pool=name, operation="create"),)))
    async with start_provisioner():
        await create(kube_api, nodeclaim(name))

        async def creating() -> bool:
            return any(p["provisioningState"] == "Creating" for p in user_pools(emulator))

        await poll_until(creating, description="the pool is being created")
    async with start_provisioner():
        emulator.set_faults(Faults())
        await wait_condition(kube_api, NODECLAIM, name, "Ready")
        assert [p["name"] for p in user_pools(emulator)] == [name]
        assert emulator.requests("agentPools.createOrUpdate") == 1


async def test_deleting_the_node_deletes_its_claim(
    kube_api: ApiClient, emulator: AksEmulator, start_provisioner: StartProvisioner
) -> None:
    name = claim_name()
    async with start_provisioner():
        await create(kube_api, nodeclaim(name))
        claim = await wait_condition(kube_api, NODECLAIM, name, "Ready")
        await localcluster.delete_object(kube_api, "v1", "Node", claim["status"]["nodeName"])
        await wait_gone(kube_api, NODECLAIM, name)
        await wait_no_pools(emulator)


async def test_a_force_removed_node_deletes_its_claim(
    kube_api: ApiClient, emulator: AksEmulator, start_provisioner: StartProvisioner
) -> None:
    """The Node vanishes without its finalizer running (stripped, then deleted)."""
    name = claim_name()
    async with start_provisioner():
        await create(kube_api, nodeclaim(name))
        claim = await wait_condition(kube_api, NODECLAIM, name, "Ready")
        node = claim["status"]["nodeName"]
        await localcluster.request(
            kube_api,
            "PATCH",
            f"/api/v1/nodes/{node}",
            body={"metadata": {"finalizers": None}},
            content_type="application/merge-patch+json",
        )
        await localcluster.delete_object(kube_api, "v1", "Node", node)
        await wait_gone(kube_api, NODECLAIM, name)
        await wait_no_pools(emulator)


def _node_without_provider_id(pool: str) -> Object:
    """A Node of ``pool`` that joined without a providerID (kwok plays its kubelet)."""
    resources = {"cpu": "6", "memory": "112Gi", "pods": "110", "nvidia.com/gpu": "1"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": f"aks-{pool}-12345678-vmss000000",
            "labels": {
                "agentpool": pool,
                "kubernetes.azure.com/agentpool": pool,
                "kubernetes.io/os": "linux",
            },
            "annotations": {"kwok.x-k8s.io/node": "fake"},
        },
        "spec": {},
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux"},
        },
    }


async def test_a_node_without_the_providerid_registers_by_its_agentpool_label(
    kube_api: ApiClient, emulator: AksEmulator, start_provisioner: StartProvisioner
) -> None:
    name = claim_name()
    emulator.set_faults(Faults(never_join=(name,)))  # ARM succeeds; we join the Node ourselves
    async with start_provisioner(node_wait_seconds=0.3):
        await create(kube_api, nodeclaim(name))
        claim = await wait_condition(kube_api, NODECLAIM, name, "Launched")
        assert not claim["status"].get("providerID")
        node = _node_without_provider_id(name)
        await KubeNodeJoiner(kube_api).ensure(node)
        claim = await wait_condition(kube_api, NODECLAIM, name, "Ready")
        assert claim["status"]["nodeName"] == node["metadata"]["name"]
        joined = await get_object(kube_api, "v1", "Node", node["metadata"]["name"])
        assert joined is not None
        assert joined["metadata"]["ownerReferences"][0]["name"] == name
        assert joined["metadata"]["labels"]["karpenter.sh/registered"] == "true"
        await localcluster.delete_object(kube_api, *NODECLAIM, name)
        await wait_gone(kube_api, NODECLAIM, name)
        await wait_no_pools(emulator)
        assert await get_object(kube_api, "v1", "Node", node["metadata"]["name"]) is None


async def test_garbage_collection(
    kube_api: ApiClient,
    emulator: AksEmulator,
    aks: ContainerServiceClient,
    start_provisioner: StartProvisioner,
) -> None:
    """A pool we created whose claim is gone is deleted; a foreign pool is never touched; a claim
    whose pool was deleted out of band is deleted."""
    rg, cluster = emulator.config.identity.resource_group, emulator.config.identity.cluster
    body: Any = {
        "properties": {
            "vmSize": "Standard_NC6s_v3",
            "count": 1,
            "tags": {
                "kaito-gpu-provisioner": "gpu-provisioner",
                "kaito-claim-kind": "NodeClaim",
                "kaito-claim-name": "wsleaked",
            },
        }
    }
    await (await aks.agent_pools.begin_create_or_update(rg, cluster, "wsleaked", body)).result()
    foreign: Any = {"properties": {"vmSize": "Standard_NC6s_v3", "count": 1}}
    await (await aks.agent_pools.begin_create_or_update(rg, cluster, "foreign", foreign)).result()
    name = claim_name()
    async with start_provisioner():
        await create(kube_api, nodeclaim(name))
        await wait_condition(kube_api, NODECLAIM, name, "Ready")

        async def leaked_gone() -> bool:
            return {p["name"] for p in user_pools(emulator)} == {"foreign", name}

        await poll_until(leaked_gone, description="the leaked pool is collected")
        await (await aks.agent_pools.begin_delete(rg, cluster, name)).result()
        await wait_gone(kube_api, NODECLAIM, name)
        assert [p["name"] for p in user_pools(emulator)] == ["foreign"]
    await (await aks.agent_pools.begin_delete(rg, cluster, "foreign")).result()


# -- termination drains the node -------------------------------------------------------------------


def _pod(name: str, namespace: str, node: str) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "nodeName": node,
            "tolerations": [{"operator": "Exists"}],
            "containers": [{"name": "main", "image": "busybox"}],
        },
    }


async def test_deletion_evicts_pods_then_removes_the_pool(
    kube_api: ApiClient,
    kube_namespace: str,
    emulator: AksEmulator,
    start_provisioner: StartProvisioner,
) -> None:
    name = claim_name()
    async with start_provisioner():
        await create(kube_api, nodeclaim(name))
        claim = await wait_condition(kube_api, NODECLAIM, name, "Ready")
        node = claim["status"]["nodeName"]
        await localcluster.apply_manifests(kube_api, [_pod("inference", kube_namespace, node)])
        await localcluster.delete_object(kube_api, *NODECLAIM, name)
        await wait_gone(kube_api, NODECLAIM, name)
        assert (
            await get_object(kube_api, "v1", "Pod", "inference", namespace=kube_namespace) is None
        )
        await wait_no_pools(emulator)


async def test_termination_grace_period_bounds_a_blocked_drain(
    kube_api: ApiClient,
    kube_namespace: str,
    emulator: AksEmulator,
    start_provisioner: StartProvisioner,
) -> None:
    """A PodDisruptionBudget refuses the eviction; the claim's terminationGracePeriod ends it."""
    name = claim_name()
    async with start_provisioner():
        obj = nodeclaim(name)
        obj["spec"]["terminationGracePeriod"] = "3s"
        await create(kube_api, obj)
        claim = await wait_condition(kube_api, NODECLAIM, name, "Ready")
        node = claim["status"]["nodeName"]
        pdb = {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "keep", "namespace": kube_namespace},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "guarded"}}},
        }
        await localcluster.apply_manifests(kube_api, [pdb, _pod("guarded", kube_namespace, node)])

        async def pdb_blocks() -> bool:
            # A Pending pod may be evicted whatever the budget says, so wait until the pod runs
            # and the disruption controller has counted it (no disruption allowed).
            pod = await get_object(kube_api, "v1", "Pod", "guarded", namespace=kube_namespace)
            current = await get_object(
                kube_api, "policy/v1", "PodDisruptionBudget", "keep", namespace=kube_namespace
            )
            status = (current or {}).get("status") or {}
            return (
                ((pod or {}).get("status") or {}).get("phase") == "Running"
                and status.get("currentHealthy") == 1
                and status.get("disruptionsAllowed") == 0
            )

        await poll_until(pdb_blocks, description="the PDB blocks evicting the running pod")
        started = time.monotonic()
        await localcluster.delete_object(kube_api, *NODECLAIM, name)
        await wait_gone(kube_api, NODECLAIM, name, timeout_seconds=30)
        # The drain waited for the grace period, counted from deletionTimestamp, which the API
        # server truncates to whole seconds: 3 s minus at most 1 s.
        assert time.monotonic() - started >= 2.0
        assert await get_object(kube_api, "v1", "Pod", "guarded", namespace=kube_namespace) is None
        await wait_no_pools(emulator)


# -- what `kubectl describe nodeclaim` and `kubectl get nodeclaims` show -------------------------


async def _events(api: ApiClient, name: str) -> list[Object]:
    listing = await localcluster.request(
        api, "GET", "/api/v1/events", query=[("fieldSelector", f"involvedObject.name={name}")]
    )
    return list(listing.get("items") or [])


async def test_a_ready_claim_has_lifecycle_events_and_its_capacity_type_and_zone_labels(
    kube_api: ApiClient, emulator: AksEmulator, start_provisioner: StartProvisioner
) -> None:
    name = claim_name()
    async with start_provisioner():
        await create(kube_api, nodeclaim(name))
        claim = await wait_condition(kube_api, NODECLAIM, name, "Ready")
        node = await get_object(kube_api, "v1", "Node", claim["status"]["nodeName"])
        assert node is not None
        zone = node["metadata"]["labels"]["topology.kubernetes.io/zone"]  # as the emulator says

        async def columns() -> dict[str, str] | None:
            obj = await get_object(kube_api, *NODECLAIM, name)
            labels = (obj or {}).get("metadata", {}).get("labels", {})
            wanted = ("karpenter.sh/capacity-type", "topology.kubernetes.io/zone")
            return labels if all(k in labels for k in wanted) else None

        labels = await poll_until(columns, description="capacity type and zone on the claim")
        assert labels["karpenter.sh/capacity-type"] == "on-demand"
        assert labels["topology.kubernetes.io/zone"] == zone

        async def lifecycle_events() -> list[Object] | None:
            events = await _events(kube_api, name)
            reasons = {e["reason"] for e in events}
            steps = {"Launched", "Registered", "Initialized", "Ready"}
            return events if steps <= reasons else None

        events = await poll_until(lifecycle_events, description="lifecycle events on the claim")
        by_reason = {e["reason"]: e for e in events}
        for step in ("Launched", "Registered", "Initialized", "Ready"):
            event = by_reason[step]
            assert event["type"] == "Normal"
            assert event["involvedObject"]["kind"] == "NodeClaim"
            assert event["involvedObject"]["uid"] == claim["metadata"]["uid"]
            assert f"{step} is now True" in event["message"]
            assert event["count"] == 1, "a transition is reported once"
        await localcluster.delete_object(kube_api, *NODECLAIM, name)
        await poll_until(lambda: _gone(kube_api, name), description=f"NodeClaim {name} deleted")


async def _gone(api: ApiClient, name: str) -> bool:
    return await get_object(api, *NODECLAIM, name) is None
