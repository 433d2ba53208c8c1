"""The pure Azure rules: pool names, the agent pool body, provider IDs, ARM error classification."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from gpu_provisioner.azure import agentpools, errors, naming, providerids
from gpu_provisioner.cloudprovider.claims import claim_from_object, parse_quantity
from gpu_provisioner.cloudprovider.types import (
    CreateError,
    InsufficientCapacityError,
    InvalidClaimError,
    NodeClaimNotFoundError,
    QuotaError,
    TransientError,
)

NOW = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
SUB = "00000000-0000-0000-0000-000000000000"


def claim_obj(**overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {
            "name": "ws0123abcde",
            "uid": "u-1",
            "creationTimestamp": "2026-01-02T03:00:00Z",
            "labels": {"kaito.sh/workspace": "w", "kubernetes.azure.com/mode": "user"},
            "annotations": {"kaito.sh/node-image-family": "AzureLinux"},
        },
        "spec": {
            "requirements": [
                {
                    "key": "node.kubernetes.io/instance-type",
                    "operator": "In",
                    "values": ["Standard_NC24ads_A100_v4"],
                },
            ],
            "resources": {"requests": {"storage": "1024Gi", "nvidia.com/gpu": 1}},
            "taints": [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}],
            "startupTaints": [{"key": "boot", "effect": "NoExecute"}],
        },
        "status": {"providerID": "azure:///x"},
    }
    obj["spec"].update(overrides)
    return obj


@pytest.mark.parametrize(
    ("name", "expected_same"),
    [
        ("ws0123abcde", True),
        ("abcdefghijkl", True),
        ("abcdefghijklm", False),
        ("Ws1", False),
        ("gpu-node-a", False),
        ("1abc", False),
    ],
)
def test_pool_names_follow_aks_rules(name: str, expected_same: bool) -> None:
    pool = naming.pool_name("NodeClaim", name)
    assert naming.is_valid_pool_name(pool)
    assert (pool == name) is expected_same
    assert naming.pool_name("NodeClaim", name) == pool  # deterministic


def test_hashed_names_differ_by_kind() -> None:
    assert naming.pool_name("NodeClaim", "my-claim") != naming.pool_name("Machine", "my-claim")


def test_claim_reader_parses_both_shapes() -> None:
    claim = claim_from_object(claim_obj())
    assert claim.kind == "NodeClaim"
    assert claim.requirement("node.kubernetes.io/instance-type") is not None
    assert claim.requests == {"storage": "1024Gi", "nvidia.com/gpu": "1"}
    assert claim.startup_taints[0].key == "boot"
    assert claim.provider_id == "azure:///x"
    machine = claim_from_object({"kind": "Machine", "metadata": {"name": "m"}})
    assert machine.requirements == ()
    assert machine.requests == {}


@pytest.mark.parametrize(
    ("quantity", "value"),
    [("1024Gi", 1024 * 2**30), ("400", 400), ("500m", 0.5), ("1e3", 1000), ("2k", 2000)],
)
def test_quantities(quantity: str, value: float) -> None:
    assert parse_quantity(quantity) == pytest.approx(value)


def test_agent_pool_body() -> None:
    body = agentpools.agent_pool_body(
        claim_from_object(claim_obj()), options=agentpools.PoolOptions(), now=NOW
    )
    props = body["properties"]
    assert props["vmSize"] == "Standard_NC24ads_A100_v4"
    assert props["count"] == 1
    assert props["osType"] == "Linux"
    assert props["osSKU"] == "AzureLinux"
    assert props["osDiskSizeGB"] == 1024
    assert props["nodeTaints"] == ["sku=gpu:NoSchedule"]  # startup taints are not sent
    assert props["nodeLabels"] == {
        "karpenter.sh/nodepool": "kaito",
        "kaito.sh/workspace": "w",
        "kaito.sh/machine-type": "gpu",
    }
    assert props["tags"] == {
        "kaito-gpu-provisioner": "gpu-provisioner",
        "kaito-claim-kind": "NodeClaim",
        "kaito-claim-name": "ws0123abcde",
        "kaito-created-at": "2026-01-02T03:04:05Z",
    }


def test_machine_pools_carry_the_provisioner_name_and_default_disk() -> None:
    obj = claim_obj(resources={})
    obj["kind"] = "Machine"
    obj["metadata"]["annotations"] = {}
    body = agentpools.agent_pool_body(
        claim_from_object(obj), options=agentpools.PoolOptions(), now=NOW
    )
    props = body["properties"]
    assert props["nodeLabels"]["karpenter.sh/provisioner-name"] == "default"
    assert "karpenter.sh/nodepool" not in props["nodeLabels"]
    assert props["osSKU"] == "Ubuntu"
    assert props["osDiskSizeGB"] == 128


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"requirements": []}, "InstanceTypeRequired"),
        (
            {
                "requirements": [
                    {
                        "key": "node.kubernetes.io/instance-type",
                        "operator": "In",
                        "values": ["Standard_Nope"],
                    }
                ]
            },
            "UnknownInstanceType",
        ),
        ({"resources": {"requests": {"storage": "10Mi"}}}, "InvalidStorageRequest"),
        ({"resources": {"requests": {"storage": "lots"}}}, "InvalidStorageRequest"),
    ],
)
def test_invalid_claims_are_typed_errors(spec: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidClaimError) as error:
        agentpools.agent_pool_body(
            claim_from_object(claim_obj(**spec)), options=agentpools.PoolOptions(), now=NOW
        )
    assert error.value.reason == reason


def test_first_known_instance_type_wins() -> None:
    spec = {
        "requirements": [
            {
                "key": "node.kubernetes.io/instance-type",
                "operator": "In",
                "values": ["Standard_Nope", "Standard_NC6s_v3"],
            }
        ]
    }
    assert agentpools.vm_size(claim_from_object(claim_obj(**spec))) == "Standard_NC6s_v3"


def test_a_lower_case_vm_size_gets_the_canonical_spelling_and_aks_labels_are_left_to_aks() -> None:
    spec = {
        "requirements": [
            {
                "key": "node.kubernetes.io/instance-type",
                "operator": "In",
                "values": ["standard_nc6s_v3"],
            }
        ]
    }
    obj = claim_obj(**spec)
    obj["metadata"]["labels"]["node.kubernetes.io/instance-type"] = "standard_nc6s_v3"
    body = agentpools.agent_pool_body(
        claim_from_object(obj), options=agentpools.PoolOptions(), now=NOW
    )
    assert body["properties"]["vmSize"] == "Standard_NC6s_v3"
    assert "node.kubernetes.io/instance-type" not in body["properties"]["nodeLabels"]


def test_instance_from_pool_document() -> None:
    pool = {
        "name": "ws1",
        "properties": {
            "vmSize": "Standard_NC6s_v3",
            "osDiskSizeGB": 128,
            "provisioningState": "Succeeded",
            "nodeImageVersion": "img-1",
            "nodeLabels": {"a": "b"},
            "tags": {
                "kaito-gpu-provisioner": "gpu-provisioner",
                "kaito-claim-kind": "Machine",
                "kaito-claim-name": "ws1",
                "kaito-created-at": "2026-01-02T03:04:05Z",
            },
        },
    }
    instance = agentpools.instance_from_pool(pool, provider_id="azure:///p")
    assert instance.capacity["nvidia.com/gpu"] == "1"
    assert instance.capacity["cpu"] == "6"
    assert instance.capacity["ephemeral-storage"] == "128Gi"
    assert instance.image_id == "img-1"
    assert (instance.claim_kind, instance.claim_name) == ("Machine", "ws1")
    assert instance.created_at == NOW
    assert agentpools.owned(pool, "gpu-provisioner")
    assert not agentpools.owned(pool, "someone-else")
    assert not agentpools.owned({"properties": {}}, "gpu-provisioner")


def test_provider_ids_round_trip_and_compare_case_insensitively() -> None:
    built = providerids.build(
        subscription=SUB,
        resource_group="MC_kaito-rg_kaito-aks_eastus",
        vmss="aks-ws1a2b-12345678-vmss",
        instance="3",
    )
    assert "/resourceGroups/mc_kaito-rg_kaito-aks_eastus/" in built
    parsed = providerids.parse(built)
    assert parsed.pool == "ws1a2b"
    assert parsed.instance == "3"
    assert str(parsed) == built
    assert providerids.same(built, built.replace("mc_kaito-rg", "MC_kaito-rg"))
    with pytest.raises(ValueError, match="not an Azure VMSS"):
        providerids.parse("kwok://node-1")
    with pytest.raises(ValueError, match="not an AKS agent pool"):
        _ = providerids.parse(built.replace("aks-ws1a2b-12345678-vmss", "myvmss")).pool


@pytest.mark.parametrize(
    ("status", "code", "message", "details", "expected"),
    [
        (404, "NotFound", "Agent Pool not found", (), NodeClaimNotFoundError),
        (
            400,
            "QuotaExceeded",
            "exceeding approved standardNCSv3Family Cores quota",
            (),
            QuotaError,
        ),
        (400, "OperationNotAllowed", "results in exceeding approved quota", (), QuotaError),
        (400, "SkuNotAvailable", "not available", (), InsufficientCapacityError),
        (200, "ZonalAllocationFailed", "no capacity", (), InsufficientCapacityError),
        (400, "BadRequest", "x", ("AllocationFailed",), InsufficientCapacityError),
        (429, "TooManyRequests", "slow down", (), TransientError),
        (409, "Conflict", "in progress create node pool operation", (), TransientError),
        (503, "ServiceUnavailable", "", (), TransientError),
        (400, "InvalidParameter", "bad label", (), CreateError),
    ],
)
def test_arm_errors_are_classified(
    status: int, code: str, message: str, details: tuple[str, ...], expected: type[Exception]
) -> None:
    error = errors.classify(status=status, code=code, message=message, detail_codes=details)
    assert type(error) is expected


def test_classified_create_errors_keep_the_arm_code_and_retry_hint() -> None:
    error = errors.classify(status=400, code="InvalidParameter", message="bad label")
    assert isinstance(error, CreateError)
    assert (error.reason, error.message) == ("InvalidParameter", "bad label")
    throttled = errors.classify(status=429, code="", message="", retry_after_seconds=7.0)
    assert isinstance(throttled, TransientError)
    assert throttled.retry_after_seconds == 7.0
