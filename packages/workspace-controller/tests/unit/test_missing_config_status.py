"""A missing referenced ConfigMap is a blocked, not failed, state announced once; its message goes
once the ConfigMap exists; a workload never says "1/1 replicas ready" while it is not ready."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from controller_kit import Request
from kaito_apis.workspace.constants import ConditionType
from workspace_controller import caches, status

NOW = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.UTC)


def _node(name: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": {
                "node.kubernetes.io/instance-type": "Standard_NC6s_v3",
                "karpenter.sh/nodepool": "kaito",
            },
        },
        "status": {
            "capacity": {"nvidia.com/gpu": "1"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


READY_CLAIM = {
    "metadata": {"name": "c"},
    "status": {"conditions": [{"type": "Ready", "status": "True"}]},
}


def _obs(**kw: Any) -> status.Observation:
    base: dict[str, Any] = {
        "generation": 1,
        "mode": "tuning",
        "claim_api": "nodeclaim",
        "instance_type": "Standard_NC6s_v3",
        "target_node_count": 1,
    }
    return status.Observation(**{**base, **kw})


def _cond(st: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in st["conditions"] if c["type"] == type_)


def _missing(condition: ConditionType, reason: str) -> status.Blocker:
    return status.Blocker(
        condition=condition, reason=reason, message="ConfigMap ns/cm not found", fatal=False
    )


@pytest.mark.parametrize(
    ("mode", "condition", "reason"),
    [
        ("tuning", ConditionType.JOB_STARTED, "TuningConfigNotFound"),
        ("inference", ConditionType.INFERENCE_READY, "InferenceConfigNotFound"),
    ],
)
def test_a_missing_configmap_blocks_without_failing_and_clears_once_it_exists(
    mode: str, condition: ConditionType, reason: str
) -> None:
    blocked = status.compute(_obs(mode=mode, blockers=[_missing(condition, reason)]), now=NOW)
    assert blocked["state"] == "Pending", "the user can fix it: not a terminal state"
    assert (_cond(blocked, condition)["status"], _cond(blocked, condition)["reason"]) == (
        "False",
        reason,
    )
    assert reason not in status.PROGRESS_REASONS
    assert status.new_failures({}, blocked) == [(reason, "ConfigMap ns/cm not found")]
    again = status.compute(
        _obs(mode=mode, blockers=[_missing(condition, reason)], previous=blocked), now=NOW
    )
    assert status.new_failures(blocked, again) == [], "announced once, not on every pass"

    resumed = status.compute(_obs(mode=mode, previous=again), now=NOW)
    assert _cond(resumed, condition)["reason"] in status.PROGRESS_REASONS
    assert "not found" not in _cond(resumed, condition)["message"]
    assert resumed["state"] == "Pending"


def _deployment(**status_: Any) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"name": "ws", "generation": 2},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, **status_},
    }


@pytest.mark.parametrize(
    ("workload", "nodes", "waits_for"),
    [
        (_deployment(readyReplicas=1, observedGeneration=1), True, "generation 2 not observed"),
        (_deployment(readyReplicas=1, updatedReplicas=0), True, "0 of 1 replicas updated"),
        (_deployment(readyReplicas=1, replicas=2), True, "1 old replica(s) still terminating"),
        (_deployment(readyReplicas=1), False, "waiting for the GPU nodes"),
    ],
)
def test_a_workload_with_its_replicas_ready_but_not_ready_says_what_it_waits_for(
    workload: dict[str, Any], nodes: bool, waits_for: str
) -> None:
    st = status.compute(
        _obs(
            mode="inference",
            claims=[READY_CLAIM] if nodes else [],
            nodes=[_node("n")] if nodes else [],
            workload=workload,
        ),
        now=NOW,
    )
    assert st["state"] == "Pending"
    message = _cond(st, ConditionType.INFERENCE_READY)["message"]
    assert waits_for in message
    assert "1/1 replicas ready" not in message or "waiting for" in message


def test_a_complete_rollout_with_ready_replicas_is_ready() -> None:
    st = status.compute(
        _obs(
            mode="inference",
            claims=[READY_CLAIM],
            nodes=[_node("n")],
            workload=_deployment(readyReplicas=1),
        ),
        now=NOW,
    )
    assert st["state"] == "Ready"


class _Workspaces:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self._items = items

    def list(self, *, namespace: str) -> list[dict[str, Any]]:
        return [w for w in self._items if w["metadata"]["namespace"] == namespace]


def test_a_configmap_event_maps_to_the_workspaces_of_its_namespace_that_reference_it() -> None:
    def ws(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
        return {"metadata": {"namespace": namespace, "name": name}, **spec}

    fake: Any = type("C", (), {})()
    fake.workspaces = _Workspaces(
        [
            ws("a", "tune", tuning={"config": "cfg"}),
            ws("a", "serve", inference={"config": "cfg"}),
            ws("a", "other", inference={"config": "else"}),
            ws("a", "plain", inference={"preset": {"name": "phi-3"}}),
            ws("b", "tune", tuning={"config": "cfg"}),
        ]
    )
    mapper = caches.workspaces_using_configmap(fake)
    assert sorted(mapper({"metadata": {"namespace": "a", "name": "cfg"}})) == [
        Request("a", "serve"),
        Request("a", "tune"),
    ]
    assert mapper({"metadata": {"namespace": "a", "name": "unrelated"}}) == []
    owned = {"metadata": {"namespace": "a", "name": "x", "labels": {"kaito.sh/workspace": "w"}}}
    assert mapper(owned) == [Request("a", "w")]
