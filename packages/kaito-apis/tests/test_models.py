"""The models speak the wire format: camelCase, explicit odd names, strict unknown fields."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from kaito_apis._base import ALLOWED_VOLUME_TYPES, label_key_problem, label_value_problem
from kaito_apis.karpenter import v1
from kaito_apis.workspace import v1beta1


def test_nodeclaim_status_uses_upstream_spellings() -> None:
    claim = v1.NodeClaim.model_validate(
        {
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodeClaim",
            "metadata": {"name": "ws123", "labels": {"kaito.sh/workspace": "w"}},
            "spec": {
                "nodeClassRef": {"group": "kaito.sh", "kind": "KaitoNodeClass", "name": "default"},
                "requirements": [
                    {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["a"]}
                ],
                "resources": {"requests": {"storage": "120Gi", "nvidia.com/gpu": 1}},
            },
            "status": {"providerID": "azure:///x", "imageID": "img", "nodeName": "n"},
        }
    )
    assert claim.status is not None
    assert claim.status.provider_id == "azure:///x"
    wire = claim.to_wire()
    assert wire["status"] == {"providerID": "azure:///x", "imageID": "img", "nodeName": "n"}
    assert wire["spec"]["expireAfter"] == "720h"
    assert wire["spec"]["resources"]["requests"] == {"storage": "120Gi", "nvidia.com/gpu": 1}


def test_unknown_fields_are_rejected_with_their_path() -> None:
    with pytest.raises(pydantic.ValidationError, match=r"resource\.instanceTyp"):
        v1beta1.Workspace.model_validate(
            {
                "resource": {"instanceTyp": "x", "labelSelector": {"matchLabels": {"a": "b"}}},
                "inference": {"preset": {"name": "phi-4"}},
            }
        )


def test_metadata_keeps_fields_the_models_do_not_name() -> None:
    ws = v1beta1.Workspace.model_validate(
        {
            "metadata": {"name": "w", "managedFields": [{"manager": "kubectl"}]},
            "resource": {"labelSelector": {"matchLabels": {"a": "b"}}},
            "inference": {"preset": {"name": "phi-4"}},
        }
    )
    assert ws.to_wire()["metadata"]["managedFields"] == [{"manager": "kubectl"}]


def _inference(**resource: Any) -> dict[str, Any]:
    return {
        "resource": {"labelSelector": {"matchLabels": {"a": "b"}}, **resource},
        "inference": {"preset": {"name": "phi-4"}},
    }


def _volume_output(volume_source: dict[str, Any]) -> dict[str, Any]:
    return {
        "resource": {"labelSelector": {"matchLabels": {"a": "b"}}},
        "tuning": {
            "preset": {"name": "phi-3-mini-128k-instruct"},
            "method": "qlora",
            "input": {"urls": ["https://example.com/d"]},
            "output": {"volumeSource": volume_source},
        },
    }


@pytest.mark.parametrize(
    ("volume_source", "message"),
    [
        ({"hostPath": {"path": "/"}}, "hostPath volumes are not allowed"),
        ({"nfs": {"server": "s", "path": "/"}}, "nfs volumes are not allowed"),
        ({"emptyDir": {}, "secret": {"secretName": "s"}}, "exactly one volume type"),
        ({}, "exactly one volume type"),
        ({"emptyDir": "x"}, "emptyDir must be an object"),
    ],
)
def test_model_rejects_what_the_volume_allow_list_rejects(
    volume_source: dict[str, Any], message: str
) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        v1beta1.Workspace.model_validate(_volume_output(volume_source))


def test_model_accepts_allowed_volume_types() -> None:
    for volume_type in ALLOWED_VOLUME_TYPES:
        ws = v1beta1.Workspace.model_validate(_volume_output({volume_type: {}}))
        assert ws.tuning is not None
        assert ws.tuning.output.volume_source == {volume_type: {}}


@pytest.mark.parametrize(
    "selector",
    [
        {"matchLabels": {"app": "a b"}},
        {"matchLabels": {"app": "caf\u00e9"}},
        {"matchLabels": {"app": "v" * 64}},
        {"matchLabels": {"app": "-bad-"}},
        {"matchLabels": {"": "a"}},
        {"matchLabels": {"a/b/c": "a"}},
        {"matchLabels": {("a" * 60 + ".") * 4 + "a" * 10 + "/k": "a"}},
        {"matchLabels": {f"k{i}": "v" for i in range(33)}},
        {"matchLabels": {"app\n": "a"}},
        {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
        {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["1"]}]},
        {"matchExpressions": [{"key": "a", "operator": "NotIn"}]},
    ],
)
def test_model_rejects_invalid_label_selectors(selector: dict[str, Any]) -> None:
    doc = _inference()
    doc["resource"]["labelSelector"] = selector
    with pytest.raises(pydantic.ValidationError):
        v1beta1.Workspace.model_validate(doc)


def test_label_syntax_helpers_follow_kubernetes() -> None:
    assert label_key_problem("example.com/team-a_b.c") is None
    assert label_key_problem(("a" * 60 + ".") * 4 + "a" * 9 + "/k") is None  # prefix of 253
    assert label_key_problem("k" * 64) is not None
    assert label_key_problem("a\n") is not None  # $ must not match before a trailing newline
    assert label_value_problem("") is None
    assert label_value_problem("v\n") is not None


@pytest.mark.parametrize("count", [0, 101, 2**31, 2**63 - 1])
def test_model_bounds_the_node_count(count: int) -> None:
    with pytest.raises(pydantic.ValidationError, match=r"resource\.count"):
        v1beta1.Workspace.model_validate(_inference(count=count))
