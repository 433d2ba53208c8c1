"""The models speak the wire format: camelCase, explicit odd names, strict unknown fields."""

from __future__ import annotations

import pydantic
import pytest

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
