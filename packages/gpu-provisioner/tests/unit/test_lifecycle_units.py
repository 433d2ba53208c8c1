"""Pure parts of the lifecycle (labels pinned by requirements) and its counters under a write
conflict, with in-memory fakes for the caches, the provider and the API writes."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes_asyncio.client.exceptions import ApiException
from prometheus_client import REGISTRY

from controller_kit import FakeClock, Request
from gpu_provisioner.cloudprovider.claims import (
    is_reserved_label,
    is_valid_label,
    missing_requirement_labels,
    requirement_labels,
)
from gpu_provisioner.cloudprovider.types import Claim, Instance, Requirement
from gpu_provisioner.controllers.kinds import NODECLAIM, Selection
from gpu_provisioner.controllers.launching import Launches
from gpu_provisioner.controllers.lifecycle import ClaimLifecycle, Timing, claims_of_node

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

Object = dict[str, Any]


def req(key: str, *values: str, operator: str = "In") -> Requirement:
    return Requirement(key=key, operator=operator, values=values)


# -- labels pinned by requirements -----------------------------------------------------------------


def test_single_valued_in_requirements_become_labels() -> None:
    labels = requirement_labels(
        [
            req("node.kubernetes.io/instance-type", "Standard_NC6s_v3"),
            req("topology.kubernetes.io/zone", "eastus-1"),
            req("karpenter.sh/capacity-type", "on-demand"),
            req("karpenter.sh/nodepool", "kaito"),
            req("kubernetes.io/os", "linux"),
            req("example.com/team", "search"),
        ]
    )
    assert labels == {
        "node.kubernetes.io/instance-type": "Standard_NC6s_v3",
        "topology.kubernetes.io/zone": "eastus-1",
        "karpenter.sh/capacity-type": "on-demand",
        "karpenter.sh/nodepool": "kaito",
        "kubernetes.io/os": "linux",
        "example.com/team": "search",
    }


def test_unpinned_and_reserved_requirements_give_no_label() -> None:
    assert (
        requirement_labels(
            [
                req("topology.kubernetes.io/zone", "eastus-1", "eastus-2"),  # not single-valued
                req("karpenter.sh/capacity-type", "spot", operator="NotIn"),
                req("example.com/gpu", operator="Exists"),
                req("karpenter.sh/registered", "true"),  # reserved domain
                req("kubernetes.io/hostname", "n1"),  # reserved, not well-known
                req("example.com/a", "x"),
                req("example.com/a", "y"),  # required twice, disagreeing
            ]
        )
        == {}
    )
    assert requirement_labels([req("example.com/a", "x"), req("example.com/a", "x", "x")]) == {
        "example.com/a": "x"
    }


def test_reserved_label_domains() -> None:
    assert is_reserved_label("karpenter.sh/initialized")
    assert is_reserved_label("sub.k8s.io/x")
    assert not is_reserved_label("node.kubernetes.io/anything")
    assert not is_reserved_label("kops.k8s.io/instancegroup")
    assert not is_reserved_label("karpenter.azure.com/sku-name")
    assert not is_reserved_label("plain")


def test_existing_claim_labels_are_never_overwritten() -> None:
    obj = nodeclaim(labels={"node.kubernetes.io/instance-type": "user-choice", "a": "b"})
    assert missing_requirement_labels(obj) == {"karpenter.sh/nodepool": "kaito"}


@pytest.mark.parametrize(
    ("key", "value", "valid"),
    [
        ("example.com/team", "search", True),
        ("team", "", True),
        ("example.com/team", "a b", False),
        ("example.com/team", "-bad-", False),
        ("example.com/team", "x" * 64, False),
        ("example.com/team", "caf\u00e9", False),
        ("a/b/c", "x", False),
        ("", "x", False),
        ("Example.com/team", "x", False),
        ("example.com/" + "n" * 64, "x", False),
    ],
)
def test_label_syntax(key: str, value: str, valid: bool) -> None:
    assert is_valid_label(key, value) is valid


def test_a_requirement_that_is_no_valid_label_pins_none() -> None:
    """Patching it onto the claim would be refused (422) on every pass."""
    assert requirement_labels([req("example.com/team", "a b"), req("example.com/x", "ok")]) == {
        "example.com/x": "ok"
    }


def test_pinned_labels_take_the_launched_instances_spelling() -> None:
    obj = nodeclaim()
    obj["spec"]["requirements"][0]["values"] = ["standard_nc6s_v3"]
    resolved = {
        "node.kubernetes.io/instance-type": "Standard_NC6s_v3",
        "karpenter.sh/nodepool": "x",
    }
    assert missing_requirement_labels(obj, resolved) == {
        "node.kubernetes.io/instance-type": "Standard_NC6s_v3",
        "karpenter.sh/nodepool": "kaito",  # a different value is not a spelling: asked wins
    }
    assert missing_requirement_labels(obj)["node.kubernetes.io/instance-type"] == (
        "standard_nc6s_v3"
    )


# -- fakes -----------------------------------------------------------------------------------------


def nodeclaim(*, labels: Mapping[str, str] | None = None) -> Object:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {
            "name": "wsunit",
            "uid": "uid-1",
            "resourceVersion": "1",
            "generation": 1,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "finalizers": ["karpenter.sh/termination"],
            "labels": dict(labels or {"kaito.sh/workspace": "demo"}),
        },
        "spec": {
            "nodeClassRef": {"group": "kaito.sh", "kind": "KaitoNodeClass", "name": "default"},
            "requirements": [
                {
                    "key": "node.kubernetes.io/instance-type",
                    "operator": "In",
                    "values": ["Standard_NC6s_v3"],
                },
                {"key": "karpenter.sh/nodepool", "operator": "In", "values": ["kaito"]},
            ],
        },
    }


class FakeCache:
    """The part of an Informer the lifecycle reads."""

    def __init__(self, *objects: Object) -> None:
        self.store = {o["metadata"]["name"]: o for o in objects}

    def get(self, name: str, namespace: str = "") -> Object | None:
        del namespace
        return self.store.get(name)

    def __iter__(self) -> Iterator[Object]:
        return iter(list(self.store.values()))


class FakeProvider:
    name = "fake"

    def __init__(self) -> None:
        self.creates = 0

    async def create(self, claim: Claim) -> Instance:
        self.creates += 1
        return Instance(name=claim.name, provider_id="fake:///wsunit")


class FakeEvents:
    async def record(self, obj: Object, *, type_: str, reason: str, message: str) -> None:
        del obj, type_, reason, message


class ConflictingLifecycle(ClaimLifecycle):
    """Writes go to the fake cache; the first status write that sets Launched=True conflicts."""

    def __init__(self, cache: FakeCache, **kwargs: Any) -> None:
        super().__init__(claims=cache, **kwargs)  # type: ignore[arg-type]
        self.cache = cache
        self.conflicts_left = 1
        self.status_writes = 0

    def _store(self, obj: Object) -> Object:
        meta = obj["metadata"]
        stored = {
            **obj,
            "metadata": {**meta, "resourceVersion": str(int(meta["resourceVersion"]) + 1)},
        }
        self.cache.store[meta["name"]] = stored
        return stored

    async def _write_status(self, obj: Object, status: Mapping[str, Any]) -> Object:
        launched = any(
            c["type"] == "Launched" and c["status"] == "True" for c in status.get("conditions", [])
        )
        if launched and self.conflicts_left:
            self.conflicts_left -= 1
            raise ApiException(status=409, reason="Conflict")
        self.status_writes += 1
        return self._store({**obj, "status": dict(status)})

    async def _patch_claim(self, obj: Object, metadata: Mapping[str, Any]) -> None:
        current = self.cache.store[obj["metadata"]["name"]]
        labels = {**current["metadata"].get("labels", {}), **metadata.get("labels", {})}
        self._store({**current, "metadata": {**current["metadata"], "labels": labels}})


def created_total() -> float:
    sample = REGISTRY.get_sample_value(
        "karpenter_nodeclaims_created_total",
        {"reason": "provisioning", "nodepool": "", "min_values_relaxed": "false"},
    )
    return sample or 0.0


async def test_created_counter_moves_once_when_the_launched_write_conflicts() -> None:
    clock = FakeClock()
    cache = FakeCache(nodeclaim())
    provider = FakeProvider()
    launches = Launches(clock=clock, on_done=lambda _: None)
    lifecycle = ConflictingLifecycle(
        cache,
        api=None,
        kind=NODECLAIM,
        nodes=FakeCache(),
        provider=provider,
        launches=launches,
        selection=Selection(),
        events=FakeEvents(),
        clock=clock,
        timing=Timing(),
    )
    before = created_total()
    request = Request("", "wsunit")

    await lifecycle.reconcile(request)  # starts the create
    async with asyncio.timeout(5):
        while launches.running("uid-1"):
            await asyncio.sleep(0)
    with pytest.raises(ApiException, match="Conflict"):
        await lifecycle.reconcile(request)  # Launched=True, but the write conflicts
    assert created_total() == before
    await lifecycle.reconcile(request)  # redone from the kept result: written, counted
    assert created_total() == before + 1
    await lifecycle.reconcile(request)  # already Launched: not counted again
    assert created_total() == before + 1
    assert provider.creates == 1

    stored = cache.store["wsunit"]
    assert stored["status"]["providerID"] == "fake:///wsunit"
    assert stored["metadata"]["labels"] == {
        "kaito.sh/workspace": "demo",
        "node.kubernetes.io/instance-type": "Standard_NC6s_v3",
        "karpenter.sh/nodepool": "kaito",
        "karpenter.sh/capacity-type": "on-demand",  # the launched instance's (CAPACITY column)
    }
    await launches.close()


def test_a_node_without_the_providerid_maps_to_its_claim_by_pool_label() -> None:
    claim = nodeclaim()
    claim["status"] = {"providerID": ""}
    node = {"metadata": {"name": "aks-wsunit-1-vmss000000", "labels": {"agentpool": "wsunit"}}}
    other = {"metadata": {"name": "aks-other-1-vmss000000", "labels": {"agentpool": "other"}}}
    mapper = claims_of_node(
        NODECLAIM,
        FakeCache(claim),  # type: ignore[arg-type]
        lambda c: [("agentpool", c["metadata"]["name"])],
    )
    assert mapper(node) == [Request("", "wsunit")]
    assert mapper(other) == []
