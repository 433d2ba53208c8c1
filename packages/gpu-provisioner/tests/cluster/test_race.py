"""Create-then-delete races: a claim deleted within seconds of its creation leaves nothing.

Each cycle creates a NodeClaim and deletes it 0-3 s later, so the deletion lands anywhere in the
claim's lifecycle: before the finalizer, during the agent pool create, between registering the
Node (finalizer and owner reference) and the status write that records it, or after Ready. Once
every claim is gone, no Node, claim or agent pool may be left. Several workers run cycles at once,
as many Workspaces do.

The CI run is short (``RACE_CYCLES``, 30 cycles); ``make soak-provisioner`` runs the same test with
``SOAK_CYCLES`` (300 by default) and prints the cycles and the leaks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
from typing import TYPE_CHECKING, Any

import pytest

import localcluster
from localcluster import poll_until

if TYPE_CHECKING:
    from conftest import StartProvisioner
    from kubernetes_asyncio.client import ApiClient

    from aks_emulator import AksEmulator

NODECLAIM = ("karpenter.sh/v1", "NodeClaim")
RACE_CYCLES = 30
CYCLES = int(os.environ.get("GPU_PROVISIONER_RACE_CYCLES") or RACE_CYCLES)
WORKERS = 6
MAX_DELETE_AFTER_SECONDS = 3.0
SETTLE_SECONDS = 60.0 + CYCLES / 10


def nodeclaim(name: str) -> dict[str, Any]:
    """A claim as Kaito writes one (one GPU VM)."""
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {
            "name": name,
            "labels": {"karpenter.sh/nodepool": "kaito", "kaito.sh/workspace": "race"},
        },
        "spec": {
            "nodeClassRef": {"group": "kaito.sh", "kind": "KaitoNodeClass", "name": "default"},
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


def user_pools(emulator: AksEmulator) -> list[str]:
    return [p["name"] for p in emulator.state()["pools"] if p["name"] != "nodepool1"]


async def _claims(api: ApiClient) -> list[str]:
    listing = await localcluster.request(api, "GET", "/apis/karpenter.sh/v1/nodeclaims")
    return [i["metadata"]["name"] for i in listing.get("items") or []]


async def _pool_nodes(api: ApiClient) -> list[dict[str, Any]]:
    """Nodes of user agent pools (the system pool's are not the emulator's to join here)."""
    listing = await localcluster.request(api, "GET", "/api/v1/nodes")
    return [n for n in listing.get("items") or [] if n["metadata"]["name"].startswith("aks-ws")]


@pytest.mark.timeout(600 + CYCLES * 6)
async def test_claims_deleted_right_after_creation_leave_no_node_claim_or_pool(
    kube_api: ApiClient, emulator: AksEmulator, start_provisioner: StartProvisioner
) -> None:
    seed = secrets.randbits(32)
    rng = random.Random(seed)
    delays = [rng.uniform(0.0, MAX_DELETE_AFTER_SECONDS) for _ in range(CYCLES)]
    names = [f"ws{secrets.token_hex(5)[:9]}" for _ in range(CYCLES)]
    todo: asyncio.Queue[tuple[str, float]] = asyncio.Queue()
    for pair in zip(names, delays, strict=True):
        todo.put_nowait(pair)

    async def worker() -> None:
        while not todo.empty():
            name, delay = todo.get_nowait()
            await localcluster.apply_manifests(kube_api, [nodeclaim(name)])
            await asyncio.sleep(delay)
            await localcluster.delete_object(kube_api, *NODECLAIM, name)

    async with start_provisioner():
        await asyncio.gather(*(worker() for _ in range(WORKERS)))

        async def settled() -> bool:
            return (
                not await _claims(kube_api)
                and not await _pool_nodes(kube_api)
                and not user_pools(emulator)
            )

        with contextlib.suppress(TimeoutError):
            await poll_until(
                settled,
                description="no claim, pool Node or agent pool left",
                timeout_seconds=SETTLE_SECONDS,
                interval_seconds=0.5,
            )
        claims = await _claims(kube_api)
        nodes = await _pool_nodes(kube_api)
        pools = user_pools(emulator)
    print(  # the soak's report (pytest -s shows it)
        f"\nrace: {CYCLES} cycles (seed {seed}, {WORKERS} workers, delete after 0-"
        f"{MAX_DELETE_AFTER_SECONDS:g} s): leaked {len(nodes)} Nodes, {len(claims)} claims, "
        f"{len(pools)} agent pools"
    )
    stuck = [
        (
            n["metadata"]["name"],
            n["metadata"].get("deletionTimestamp"),
            n["metadata"].get("finalizers"),
            [o.get("name") for o in n["metadata"].get("ownerReferences") or []],
        )
        for n in nodes
    ]
    assert (stuck, claims, pools) == ([], [], []), f"seed {seed}"
