"""The VM size sent to Azure is Azure's own name for every size in the catalog, whichever of the
catalog's spellings (its name, an alias, another case) the claim uses."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

import preset_catalog
from gpu_provisioner.azure import agentpools
from gpu_provisioner.cloudprovider.claims import claim_from_object

NOW = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)

AZURE_VM_SIZES = frozenset(
    {
        # Azure Resource Manager's names (``az vm list-sizes``), written out independently of
        # the catalog so a catalog spelling Azure does not know cannot pass.
        "Standard_NC6s_v3",
        "Standard_NC12s_v3",
        "Standard_NC24s_v3",
        "Standard_NC24rs_v3",
        "Standard_NC4as_T4_v3",
        "Standard_NC8as_T4_v3",
        "Standard_NC16as_T4_v3",
        "Standard_NC64as_T4_v3",
        "Standard_NV36ads_A10_v5",
        "Standard_NV72ads_A10_v5",
        "Standard_NC24ads_A100_v4",
        "Standard_NC48ads_A100_v4",
        "Standard_NC96ads_A100_v4",
        "Standard_ND96asr_v4",
        "Standard_ND96amsr_A100_v4",
        "Standard_NC40ads_H100_v5",
        "Standard_NC80adis_H100_v5",
        "Standard_ND96isr_H100_v5",
        "Standard_ND96isr_H200_v5",
    }
)

AZURE_TYPES = [it for it in preset_catalog.load_catalog().instance_types if it.cloud == "azure"]
SPELLINGS = [
    pytest.param(it, spelling, id=spelling)
    for it in AZURE_TYPES
    for spelling in (it.name, *it.aliases, it.name.lower(), *(a.upper() for a in it.aliases))
]


def claim_for(size: str) -> dict[str, Any]:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {"name": "ws0123abcde", "uid": "u-1", "labels": {"kaito.sh/workspace": "w"}},
        "spec": {
            "requirements": [
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [size]}
            ],
            "resources": {"requests": {"storage": "256Gi"}},
        },
    }


def test_every_azure_size_in_the_catalog_is_covered_here() -> None:
    """A size added to the catalog must be added to the list of Azure's names above."""
    names = {s.casefold() for it in AZURE_TYPES for s in (it.name, *it.aliases)}
    assert AZURE_TYPES
    for it in AZURE_TYPES:
        assert {it.name, *it.aliases} & AZURE_VM_SIZES, f"no Azure name for {it.name}"
    assert {s.casefold() for s in AZURE_VM_SIZES} <= names


@pytest.mark.parametrize(("instance_type", "spelling"), SPELLINGS)
def test_the_pool_body_names_the_vm_size_as_azure_does(
    instance_type: preset_catalog.InstanceType, spelling: str
) -> None:
    claim = claim_from_object(claim_for(spelling))
    size = agentpools.vm_size(claim)
    assert size in AZURE_VM_SIZES
    assert size in {instance_type.name, *instance_type.aliases}
    body = agentpools.agent_pool_body(claim, options=agentpools.PoolOptions(), now=NOW)
    assert body["properties"]["vmSize"] == size


def test_kaito_spelling_of_the_nd96asr_a100_is_sent_as_azure_spells_it() -> None:
    for spelling in ("Standard_ND96asr_A100_v4", "Standard_ND96asr_v4"):
        claim = claim_from_object(claim_for(spelling))
        assert agentpools.vm_size(claim) == "Standard_ND96asr_v4"


def test_quota_and_resources_accept_the_azure_name() -> None:
    family, vcpus = agentpools.vcpus_needed("Standard_ND96asr_v4")
    assert (family, vcpus) == agentpools.vcpus_needed("Standard_ND96asr_A100_v4")
    assert vcpus == 96
