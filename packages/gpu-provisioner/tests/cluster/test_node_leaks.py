"""No Node outlives its claim: the two ways one used to stay Terminating forever.

1. Registration writes the Node (the ``karpenter.sh/termination`` finalizer and an owner reference
   to the claim), then the status write that records ``providerID`` and ``nodeName`` is lost (a
   409 when the claim is deleted at that moment). Termination must find the Node by its owner
   reference, not only through the status. Here the loss is made deterministic with a
   ValidatingAdmissionPolicy that refuses this claim's status writes.
2. A Node registered for a claim that is gone (with its agent pool, or not): garbage collection
   must delete the pool and release the Node.

And a Node update the API server refuses as invalid shows the server's causes on the claim.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import TYPE_CHECKING, Any

from kubernetes_asyncio.client.exceptions import ApiException

import localcluster
from localcluster import get_object, poll_until

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from azure.mgmt.containerservice.aio import ContainerServiceClient
    from conftest import StartProvisioner
    from kubernetes_asyncio.client import ApiClient

    from aks_emulator import AksEmulator

Object = dict[str, Any]
NODECLAIM = ("karpenter.sh/v1", "NodeClaim")
NODECLAIMS = "/apis/karpenter.sh/v1/nodeclaims"
FINALIZER = "karpenter.sh/termination"
VAP = "admissionregistration.k8s.io/v1"


def nodeclaim(name: str, *, node_class: tuple[str, str] = ("kaito.sh", "KaitoNodeClass")) -> Object:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {
            "name": name,
            "labels": {"karpenter.sh/nodepool": "kaito", "kaito.sh/workspace": "leaks"},
        },
        "spec": {
            "nodeClassRef": {"group": node_class[0], "kind": node_class[1], "name": "default"},
            "requirements": [
                {
                    "key": "node.kubernetes.io/instance-type",
                    "operator": "In",
                    "values": ["Standard_NC6s_v3"],
                },
            ],
            "resources": {"requests": {"nvidia.com/gpu": "1", "storage": "128Gi"}},
        },
    }


async def pool_node(api: ApiClient, pool: str) -> Object | None:
    listing = await localcluster.request(
        api, "GET", "/api/v1/nodes", query=[("labelSelector", f"agentpool={pool}")]
    )
    items = listing.get("items") or []
    return items[0] if items else None


def user_pools(emulator: AksEmulator) -> list[str]:
    return [p["name"] for p in emulator.state()["pools"] if p["name"] != "nodepool1"]


def _state(node: Object | None) -> object:
    """What a leaked Node looks like, for a failure message."""
    if node is None:
        return None
    meta = node["metadata"]
    owners = [o.get("name") for o in meta.get("ownerReferences") or []]
    return {
        "deleting": meta.get("deletionTimestamp"),
        "finalizers": meta.get("finalizers"),
        "owners": owners,
    }


@contextlib.asynccontextmanager
async def refused(
    api: ApiClient,
    policy: str,
    *,
    rule: Object,
    expression: str,
    message: str,
) -> AsyncIterator[None]:
    """A ValidatingAdmissionPolicy (and its binding) refusing the writes ``rule`` matches where
    ``expression`` does not hold; removed afterwards."""
    validation: Object = {"expression": expression, "message": message}
    manifests = [
        {
            "apiVersion": VAP,
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": policy},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {"resourceRules": [rule]},
                "validations": [validation],
            },
        },
        {
            "apiVersion": VAP,
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": policy},
            "spec": {"policyName": policy, "validationActions": ["Deny"]},
        },
    ]
    await localcluster.apply_manifests(api, manifests)
    try:
        yield
    finally:
        for kind in ("ValidatingAdmissionPolicyBinding", "ValidatingAdmissionPolicy"):
            await localcluster.delete_object(api, VAP, kind, policy)


def status_writes_refused(
    api: ApiClient, names: list[str]
) -> contextlib.AbstractAsyncContextManager[None]:
    """Every status write of the claims ``names`` refused."""
    listed = ", ".join(f"'{n}'" for n in names)
    return refused(
        api,
        f"refuse-status-{names[0]}",
        rule={
            "apiGroups": ["karpenter.sh"],
            "apiVersions": ["*"],
            "operations": ["UPDATE"],
            "resources": ["nodeclaims/status"],
        },
        expression=f"!(object.metadata.name in [{listed}])",
        message="status writes of this claim are refused (test)",
    )


async def wait_refusing(api: ApiClient, probe: str) -> None:
    """Until the policy is in force: a status write of claim ``probe`` (one no provisioner
    manages) is refused."""
    await localcluster.apply_manifests(
        api, [nodeclaim(probe, node_class=("karpenter.azure.com", "AKSNodeClass"))]
    )

    async def refused() -> bool:
        obj = await get_object(api, *NODECLAIM, probe)
        assert obj is not None
        obj["status"] = {"nodeName": "probe"}
        try:
            await localcluster.request(
                api, "PUT", f"{NODECLAIMS}/{probe}/status", body=obj, query=[("dryRun", "All")]
            )
        except ApiException as exc:
            if exc.status in (403, 422) and "refused (test)" in str(exc.body):
                return True
            raise
        return False

    try:
        await poll_until(refused, description="the status policy is in force")
    finally:
        await localcluster.delete_object(api, *NODECLAIM, probe)


async def test_a_node_registered_by_a_lost_status_write_is_released_with_its_claim(
    kube_api: ApiClient, emulator: AksEmulator, start_provisioner: StartProvisioner
) -> None:
    name = "ws" + secrets.token_hex(5)[:9]
    probe = "ws" + secrets.token_hex(5)[:9]
    async with status_writes_refused(kube_api, [name, probe]):
        await wait_refusing(kube_api, probe)
        # Garbage collection is off: termination alone must release the Node.
        async with start_provisioner(gc_interval_seconds=3600.0):
            await localcluster.apply_manifests(kube_api, [nodeclaim(name)])

            async def registered() -> Object | None:
                node = await pool_node(kube_api, name)
                meta = (node or {}).get("metadata") or {}
                owned = any(o.get("name") == name for o in meta.get("ownerReferences") or [])
                return node if owned and FINALIZER in (meta.get("finalizers") or []) else None

            node = await poll_until(registered, description="the Node registered")
            claim = await get_object(kube_api, *NODECLAIM, name)
            assert claim is not None
            assert not (claim.get("status") or {}).get("nodeName")  # the write was lost
            assert not (claim.get("status") or {}).get("providerID")

            await localcluster.delete_object(kube_api, *NODECLAIM, name)

            async def claim_gone() -> bool:
                return await get_object(kube_api, *NODECLAIM, name) is None

            await poll_until(claim_gone, description="the claim deleted")

            async def nothing_left() -> bool:
                return not user_pools(emulator) and await pool_node(kube_api, name) is None

            try:
                await poll_until(nothing_left, description="no pool and no Node left")
            except TimeoutError:
                left = await get_object(kube_api, "v1", "Node", node["metadata"]["name"])
                raise AssertionError(f"Node left behind: {_state(left)}") from None


async def test_garbage_collection_releases_a_node_whose_claim_is_gone(
    kube_api: ApiClient,
    emulator: AksEmulator,
    aks: ContainerServiceClient,
    start_provisioner: StartProvisioner,
) -> None:
    """A pool of ours and its Node, registered (finalizer, owner reference) for a claim that no
    longer exists: the pool is deleted and the Node released. A Node with the finalizer whose
    claim exists is left alone."""
    orphan = "ws" + secrets.token_hex(5)[:9]
    rg, cluster = emulator.config.identity.resource_group, emulator.config.identity.cluster
    body: Any = {
        "properties": {
            "vmSize": "Standard_NC6s_v3",
            "count": 1,
            "tags": {
                "kaito-gpu-provisioner": "gpu-provisioner",
                "kaito-claim-kind": "NodeClaim",
                "kaito-claim-name": orphan,
            },
        }
    }
    await (await aks.agent_pools.begin_create_or_update(rg, cluster, orphan, body)).result()
    node = await poll_until(lambda: pool_node(kube_api, orphan), description="the pool's Node")
    node_name = node["metadata"]["name"]
    gone_uid = "00000000-0000-4000-8000-" + secrets.token_hex(6)
    await localcluster.request(
        kube_api,
        "PATCH",
        f"/api/v1/nodes/{node_name}",
        body={
            "metadata": {
                "finalizers": [FINALIZER],
                "ownerReferences": [
                    {
                        "apiVersion": "karpenter.sh/v1",
                        "kind": "NodeClaim",
                        "name": orphan,
                        "uid": gone_uid,
                        "blockOwnerDeletion": True,
                    }
                ],
            }
        },
        content_type="application/merge-patch+json",
    )
    live = "ws" + secrets.token_hex(5)[:9]
    async with start_provisioner():
        await localcluster.apply_manifests(kube_api, [nodeclaim(live)])

        async def live_ready() -> bool:
            claim = await get_object(kube_api, *NODECLAIM, live)
            return localcluster.condition_status(claim or {}, "Ready") == "True"

        await poll_until(live_ready, description="the live claim Ready")

        async def collected() -> bool:
            return user_pools(emulator) == [live] and await pool_node(kube_api, orphan) is None

        try:
            await poll_until(collected, description="the orphan's pool and Node collected")
        except TimeoutError:
            left = await get_object(kube_api, "v1", "Node", node_name)
            raise AssertionError(
                f"pools {user_pools(emulator)}, orphan Node {_state(left)}"
            ) from None
        live_node = await pool_node(kube_api, live)
        assert live_node is not None
        assert FINALIZER in live_node["metadata"]["finalizers"]
        assert live_node["metadata"].get("deletionTimestamp") is None


async def test_a_refused_node_update_is_reported_on_the_claim_with_the_servers_causes(
    kube_api: ApiClient, emulator: AksEmulator, start_provisioner: StartProvisioner
) -> None:
    """Registration copies the claim's annotations onto the Node; with the Node's own they pass
    the API server's 256 KiB limit, so the update is refused (422). The Registered condition and
    a Warning Event carry the server's field and message, not only "Unprocessable Entity"."""
    name = "ws" + secrets.token_hex(5)[:9]
    obj = nodeclaim(name)
    key = "example.com/large"
    obj["metadata"]["annotations"] = {key: "x" * (262144 - len(key))}  # the claim's limit
    async with start_provisioner():
        await localcluster.apply_manifests(kube_api, [obj])

        async def reported() -> Object | None:
            claim = await get_object(kube_api, *NODECLAIM, name)
            for condition in ((claim or {}).get("status") or {}).get("conditions") or []:
                if condition["type"] == "Registered" and condition["status"] == "False":
                    return dict(condition)
            return None

        condition = await poll_until(reported, description="Registered=False")
        assert condition["reason"] == "NodeUpdateFailed"
        assert condition["message"].startswith("updating Node aks-")
        assert "Unprocessable Entity (422)" in condition["message"]
        assert "metadata.annotations: Too long" in condition["message"]

        async def warned() -> list[Object] | None:
            listing = await localcluster.request(
                kube_api,
                "GET",
                "/api/v1/events",
                query=[("fieldSelector", f"involvedObject.name={name}")],
            )
            found = [
                e for e in listing.get("items") or [] if e.get("reason") == "FailedRegistration"
            ]
            return found or None

        (event,) = await poll_until(warned, description="a FailedRegistration Warning")
        assert event["type"] == "Warning"
        assert "metadata.annotations: Too long" in event["message"]
        await localcluster.delete_object(kube_api, *NODECLAIM, name)

        async def nothing_left() -> bool:
            return not user_pools(emulator) and await pool_node(kube_api, name) is None

        await poll_until(nothing_left, description="no pool and no Node left")
