"""Shared pieces: labels, owner reference, tolerations, node affinity, spec hash, DNS names."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest

from kaito_apis.workspace import v1beta1
from workspace_controller.manifests import common

ToWorkspace = Callable[[dict[str, Any]], v1beta1.Workspace]


def _with_selector(doc: dict[str, Any], selector: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc["resource"]["labelSelector"] = selector
    return doc


def test_workspace_labels_name_the_workspace_and_its_namespace(seed: v1beta1.Workspace) -> None:
    assert common.workspace_labels(seed) == {
        "kaito.sh/workspace": "workspace-tuning-phi-3",
        "kaito.sh/workspacenamespace": "default",
    }


def test_a_workspace_without_a_namespace_is_refused(seed: v1beta1.Workspace) -> None:
    bare = seed.model_copy(
        update={"metadata": seed.metadata.model_copy(update={"namespace": None})}
    )
    with pytest.raises(ValueError, match=r"metadata\.namespace"):
        common.workspace_labels(bare)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({"matchLabels": {"app": "x"}}, {"app": "x"}),
        (
            {
                "matchLabels": {
                    "app": "x",
                    "kaito.sh/workspace": "other",
                    "kaito.sh/workspacenamespace": "other-ns",
                    "kaito.sh/ragengine": "r",
                    "karpenter.kaito.sh/workspace-name": "w",
                    "karpenter.kaito.sh/inferenceset": "s",
                }
            },
            {"app": "x"},
        ),
        (
            {
                "matchLabels": {"app": "x"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["gpu"]}],
            },
            {"app": "x", "tier": "gpu"},
        ),
        (
            {
                "matchExpressions": [
                    {"key": "kaito.sh/workspace", "operator": "In", "values": ["a"]}
                ]
            },
            {},
        ),
    ],
    ids=["plain", "reserved-keys-stripped", "single-value-in-expression", "only-reserved"],
)
def test_user_node_labels_are_match_labels_minus_reserved_keys(
    to_workspace: ToWorkspace,
    inference_doc: dict[str, Any],
    selector: dict[str, Any],
    expected: dict[str, str],
) -> None:
    ws = to_workspace(_with_selector(inference_doc, selector))
    assert common.user_node_labels(ws) == expected


def test_owner_reference_makes_the_workspace_the_controller(seed: v1beta1.Workspace) -> None:
    assert common.owner_reference(seed) == {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "name": "workspace-tuning-phi-3",
        "uid": seed.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def test_owner_reference_needs_the_uid(seed: v1beta1.Workspace) -> None:
    bare = seed.model_copy(update={"metadata": seed.metadata.model_copy(update={"uid": None})})
    with pytest.raises(ValueError, match="uid"):
        common.owner_reference(bare)


def test_gpu_tolerations_cover_the_device_plugin_sku_and_spot_taints() -> None:
    by_key = {t["key"]: t for t in common.gpu_tolerations()}
    assert by_key["nvidia.com/gpu"] == {
        "key": "nvidia.com/gpu",
        "operator": "Exists",
        "effect": "NoSchedule",
    }
    assert by_key["sku"] == {
        "key": "sku",
        "operator": "Equal",
        "value": "gpu",
        "effect": "NoSchedule",
    }
    assert by_key["kubernetes.azure.com/scalesetpriority"]["value"] == "spot"


def test_node_affinity_requires_every_user_label_in_one_term(
    to_workspace: ToWorkspace, inference_doc: dict[str, Any]
) -> None:
    selector = {"matchLabels": {"b": "2", "a": "1", "kaito.sh/workspace": "x"}}
    ws = to_workspace(_with_selector(inference_doc, selector))
    required = common.node_affinity(ws)["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert required == {
        "nodeSelectorTerms": [
            {
                "matchExpressions": [
                    {"key": "a", "operator": "In", "values": ["1"]},
                    {"key": "b", "operator": "In", "values": ["2"]},
                ]
            }
        ]
    }


def test_node_affinity_is_empty_when_only_reserved_labels_remain(
    to_workspace: ToWorkspace, inference_doc: dict[str, Any]
) -> None:
    ws = to_workspace(_with_selector(inference_doc, {"matchLabels": {"kaito.sh/workspace": "x"}}))
    assert common.node_affinity(ws) == {}


def test_spec_hash_is_sha256_hex_and_ignores_metadata_and_status(
    to_workspace: ToWorkspace, seed_doc: dict[str, Any]
) -> None:
    base = common.spec_hash(to_workspace(seed_doc))
    relabelled = copy.deepcopy(seed_doc)
    relabelled["metadata"]["annotations"] = {"note": "x"}
    relabelled["metadata"]["uid"] = "another-uid"
    relabelled["status"] = {"workerNodes": ["n1"]}
    assert re.fullmatch(r"[0-9a-f]{64}", base)
    assert common.spec_hash(to_workspace(relabelled)) == base


def test_spec_hash_is_the_same_for_the_v1alpha1_file_and_the_stored_v1beta1_object(
    to_workspace: ToWorkspace, seed_doc: dict[str, Any], seed: v1beta1.Workspace
) -> None:
    stored = seed.to_wire()  # defaults (count, accessMode) filled in, as the API server would
    assert common.spec_hash(to_workspace(stored)) == common.spec_hash(to_workspace(seed_doc))


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["tuning"].update(method="lora"),
        lambda d: d["tuning"]["input"].update(urls=["https://example.com/other.parquet"]),
        lambda d: d["tuning"]["output"].update(image="registry.example.com/adapter:0.0.2"),
        lambda d: d["resource"].update(instanceType="Standard_NC12s_v3"),
    ],
    ids=["method", "input", "output", "instance-type"],
)
def test_spec_hash_changes_with_the_spec(
    to_workspace: ToWorkspace, seed_doc: dict[str, Any], change: Callable[[dict[str, Any]], None]
) -> None:
    changed = copy.deepcopy(seed_doc)
    change(changed)
    assert common.spec_hash(to_workspace(changed)) != common.spec_hash(to_workspace(seed_doc))


def test_revision_annotation_uses_kaitos_key() -> None:
    assert common.revision_annotation("abc") == {"workspace.kaito.io/revision": "abc"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("puller-adapter", "puller-adapter"),
        ("puller-my.adapter", None),
        ("Puller-UPPER", None),
        ("x" * 70, None),
    ],
)
def test_dns_label_keeps_labels_and_hashes_the_rest(text: str, expected: str | None) -> None:
    label = common.dns_label(text)
    assert re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", label)
    assert len(label) <= 63
    if expected is not None:
        assert label == expected
    else:
        assert label != text
        assert common.dns_label(text) == label  # stable


def test_dns_label_keeps_distinct_inputs_distinct() -> None:
    assert common.dns_label("puller-a.b") != common.dns_label("puller-a-b")


def test_container_security_context_never_allows_privileges() -> None:
    context = common.container_security_context()
    assert context["privileged"] is False
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["readOnlyRootFilesystem"] is True
