"""Status is computed from live objects alone: claims, nodes, the Job or workload, its pods."""

from __future__ import annotations

import datetime
from typing import Any

from kaito_apis.workspace.constants import ConditionType
from workspace_controller import status

NOW = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.UTC)


def _node(
    name: str,
    *,
    ready: bool = True,
    gpus: int = 1,
    sku: str = "Standard_NC6s_v3",
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"node.kubernetes.io/instance-type": sku,
                                              "karpenter.sh/nodepool": "kaito", **(labels or {})}},
        "status": {
            "capacity": {"nvidia.com/gpu": str(gpus)},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }  # fmt: skip


def _claim(
    name: str, *, ready: bool = False, launched: tuple[str, str, str] | None = None
) -> dict[str, Any]:
    conds = [{"type": "Ready", "status": "True" if ready else "Unknown"}]
    if launched:
        conds.append(
            {
                "type": "Launched",
                "status": launched[0],
                "reason": launched[1],
                "message": launched[2],
            }
        )
    return {"metadata": {"name": name}, "status": {"conditions": conds}}  # fmt: skip


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


def test_quota_error_on_a_claim_reaches_resource_ready() -> None:
    claim = _claim("ws1", launched=("False", "QuotaExceeded", "standardNCSv3Family: 0 of 6 vCPUs"))
    st = status.compute(_obs(claims=[claim]), now=NOW)
    assert _cond(st, "NodeClaimReady")["reason"] == "QuotaExceeded"
    resource = _cond(st, "ResourceReady")
    assert (resource["status"], resource["reason"]) == ("False", "QuotaExceeded")
    assert "standardNCSv3Family" in resource["message"]
    assert st["state"] == "Pending"


def test_ready_claim_and_gpu_node_make_resources_ready() -> None:
    st = status.compute(_obs(claims=[_claim("ws1", ready=True)], nodes=[_node("n1")]), now=NOW)
    assert _cond(st, "ResourceReady")["status"] == "True"
    assert st["workerNodes"] == ["n1"]
    assert _cond(st, "JobStarted")["reason"] == "JobNotCreated"


def test_a_node_without_gpu_capacity_waits_for_the_device_plugin() -> None:
    st = status.compute(
        _obs(claims=[_claim("ws1", ready=True)], nodes=[_node("n1", gpus=0)]), now=NOW
    )
    assert _cond(st, "NodesReady")["reason"] == "NodePluginsNotReady"
    assert _cond(st, "ResourceReady")["status"] == "False"


def test_a_node_of_another_instance_type_does_not_count() -> None:
    st = status.compute(
        _obs(claims=[_claim("ws1", ready=True)], nodes=[_node("n1", sku="Standard_NC12s_v3")]),
        now=NOW,
    )
    assert _cond(st, "NodesReady")["status"] == "False"


def test_byo_nodes_count_toward_the_target_without_claims() -> None:
    byo = _node("mine", labels={})
    del byo["metadata"]["labels"]["karpenter.sh/nodepool"]
    st = status.compute(_obs(nodes=[byo]), now=NOW)
    assert _cond(st, "NodeClaimReady")["status"] == "True"
    assert _cond(st, "ResourceReady")["status"] == "True"


def _job(**job_status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "ws"}, "status": job_status}


def test_tuning_states_follow_the_job() -> None:
    ready = {"claims": [_claim("c", ready=True)], "nodes": [_node("n")]}
    pending = status.compute(_obs(job=_job(), **ready), now=NOW)
    running = status.compute(_obs(job=_job(active=1), **ready), now=NOW)
    done = status.compute(
        _obs(job=_job(succeeded=1, conditions=[{"type": "Complete", "status": "True"}]), **ready),
        now=NOW,
    )
    failed = status.compute(
        _obs(job=_job(failed=1, conditions=[{"type": "Failed", "status": "True",
                                               "reason": "BackoffLimitExceeded"}]), **ready),
        now=NOW,
    )  # fmt: skip
    assert [s["state"] for s in (pending, running, done, failed)] == [
        "Pending", "Running", "Succeeded", "Failed"
    ]  # fmt: skip
    assert _cond(running, "JobStarted")["status"] == "True"
    assert _cond(done, "WorkspaceSucceeded")["status"] == "True"
    assert _cond(failed, "WorkspaceSucceeded")["reason"] == "TuningJobFailed"


def test_inference_reports_why_pods_are_not_ready() -> None:
    workload: dict[str, Any] = {
        "kind": "Deployment",
        "metadata": {"name": "ws"},
        "spec": {"replicas": 1},
        "status": {"readyReplicas": 0},
    }
    pod = {
        "metadata": {"name": "ws-abc"},
        "status": {"containerStatuses": [
            {"name": "ws",
             "state": {"waiting": {"reason": "ImagePullBackOff", "message": "denied"}}}
        ]},
    }  # fmt: skip
    st = status.compute(
        _obs(mode="inference", claims=[_claim("c", ready=True)], nodes=[_node("n")],
             workload=workload, pods=[pod]),
        now=NOW,
    )  # fmt: skip
    assert _cond(st, "InferenceReady")["reason"] == "ImagePullError"
    assert st["state"] == "Pending"
    workload["status"]["readyReplicas"] = 1
    ready = status.compute(
        _obs(mode="inference", claims=[_claim("c", ready=True)], nodes=[_node("n")],
             workload=workload, previous=st),
        now=NOW,
    )  # fmt: skip
    assert ready["state"] == "Ready"
    workload["status"]["readyReplicas"] = 0
    lost = status.compute(
        _obs(mode="inference", claims=[_claim("c", ready=True)], nodes=[_node("n")],
             workload=workload, previous=ready),
        now=NOW,
    )  # fmt: skip
    assert lost["state"] == "NotReady", "once served, a lost replica is NotReady, not Pending"


def test_unchanged_observation_produces_an_identical_status() -> None:
    obs = _obs(claims=[_claim("c", ready=True)], nodes=[_node("n")])
    first = status.compute(obs, now=NOW)
    again = status.compute(
        _obs(claims=[_claim("c", ready=True)], nodes=[_node("n")], previous=first),
        now=NOW + datetime.timedelta(minutes=5),
    )
    assert again == first, "no write when nothing changed (transition times are kept)"


def test_blockers_surface_as_conditions() -> None:
    blocker = status.Blocker(
        condition=ConditionType.JOB_STARTED, reason="InvalidTuningConfig", message="bad"
    )
    st = status.compute(
        _obs(claims=[_claim("c", ready=True)], nodes=[_node("n")], blockers=[blocker]), now=NOW
    )
    assert _cond(st, "JobStarted")["reason"] == "InvalidTuningConfig"
    assert st["state"] == "Failed"


# -- instance types in any case --------------------------------------------------------------------


def test_a_lower_case_instance_type_matches_the_canonical_node_label() -> None:
    obs = _obs(
        instance_type="standard_nc6s_v3",
        claims=[_claim("c", ready=True)],
        nodes=[_node("n", sku="Standard_NC6s_v3")],
    )
    st = status.compute(obs, now=NOW)
    assert _cond(st, "NodesReady")["status"] == "True"
    assert _cond(st, "ResourceReady")["status"] == "True"
    assert st["workerNodes"] == ["n"]


def test_instance_types_compare_by_catalog_entry_not_spelling() -> None:
    assert status.same_instance_type("Standard_NC6s_v3", "STANDARD_NC6S_V3")
    assert status.same_instance_type("standard_nd96asr_v4", "Standard_ND96asr_A100_v4"), "alias"
    assert status.same_instance_type("custom_sku", "CUSTOM_SKU"), "outside the catalog too"
    assert not status.same_instance_type("Standard_NC12s_v3", "Standard_NC6s_v3")
    assert not status.same_instance_type(None, "Standard_NC6s_v3")
    assert not status.same_instance_type("", "Standard_NC6s_v3")


# -- failures the controller reports as Warning Events ---------------------------------------------


def test_a_rejected_claim_create_is_the_claim_and_resource_condition() -> None:
    blocker = status.Blocker(
        condition=ConditionType.NODE_CLAIM_READY,
        reason="NodeClaimCreationFailed",
        message="creating NodeClaim ws1 failed: Unprocessable Entity (422): metadata.labels: bad",
        fatal=False,
    )
    st = status.compute(_obs(blockers=[blocker]), now=NOW)
    for type_ in ("NodeClaimReady", "ResourceReady"):
        assert _cond(st, type_)["status"] == "False"
        assert _cond(st, type_)["reason"] == "NodeClaimCreationFailed"
        assert "metadata.labels: bad" in _cond(st, type_)["message"]
    assert st["state"] == "Pending"


def test_a_retried_write_failure_leaves_tuning_pending_not_failed() -> None:
    blocker = status.Blocker(
        condition=ConditionType.JOB_STARTED,
        reason="TuningJobCreationFailed",
        message="creating Job ws failed: Forbidden (403): no",
        fatal=False,
    )
    st = status.compute(
        _obs(claims=[_claim("c", ready=True)], nodes=[_node("n")], blockers=[blocker]), now=NOW
    )
    assert _cond(st, "JobStarted")["reason"] == "TuningJobCreationFailed"
    assert st["state"] == "Pending"


def test_a_new_failure_is_reported_once_and_mirrored_conditions_once() -> None:
    quota = ("False", "QuotaExceeded", "standardNCSv3Family: 0 of 6 vCPUs")
    first = status.compute(_obs(claims=[_claim("c")]), now=NOW)
    assert status.new_failures({}, first) == [], "waiting for a claim is no failure"
    failing = status.compute(_obs(claims=[_claim("c", launched=quota)], previous=first), now=NOW)
    assert status.new_failures(first, failing) == [
        ("QuotaExceeded", "NodeClaim c: standardNCSv3Family: 0 of 6 vCPUs")
    ]
    again = status.compute(
        _obs(claims=[_claim("c", launched=(*quota[:2], "now 2 of 6"))], previous=failing), now=NOW
    )
    assert status.new_failures(failing, again) == [], "the same failure is not announced again"


def test_every_failed_state_is_a_new_failure() -> None:
    ready = {"claims": [_claim("c", ready=True)], "nodes": [_node("n")]}
    failed_job = _job(conditions=[{"type": "Failed", "status": "True", "message": "OOM"}])
    config = status.Blocker(
        condition=ConditionType.JOB_STARTED, reason="TuningConfigNotFound", message="cm missing"
    )
    preset = status.Blocker(
        condition=ConditionType.RESOURCE_READY, reason="PresetNotFound", message="no such preset"
    )
    crash = {
        "metadata": {"name": "p"},
        "status": {
            "containerStatuses": [
                {"name": "server", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
            ]
        },
    }
    workload = {"kind": "Deployment", "metadata": {"name": "ws"}, "spec": {"replicas": 1}}
    cases = {
        "TuningJobFailed": _obs(job=failed_job, **ready),
        "TuningConfigNotFound": _obs(blockers=[config], **ready),
        "PresetNotFound": _obs(blockers=[preset]),
        "ContainerCrashLoopBackOff": _obs(
            mode="inference", workload=workload, pods=[crash], **ready
        ),
        "LaunchFailed": _obs(claims=[_claim("c", launched=("Unknown", "LaunchFailed", "500"))]),
    }
    for reason, obs in cases.items():
        reported = status.new_failures({}, status.compute(obs, now=NOW))
        assert [r for r, _ in reported] == [reason], reason


def test_progress_is_not_a_failure() -> None:
    launching = _claim("c", launched=("Unknown", "Launching", "creating the instance"))
    workload = {"kind": "Deployment", "metadata": {"name": "ws"}, "spec": {"replicas": 1}}
    ready = {"claims": [_claim("c", ready=True)], "nodes": [_node("n")]}
    for obs in (
        _obs(claims=[launching]),
        _obs(claims=[_claim("c")], nodes=[_node("n", gpus=0)]),
        _obs(job=_job(), **ready),
        _obs(job=_job(active=1), **ready),
        _obs(mode="inference", workload=workload, **ready),
    ):
        assert status.new_failures({}, status.compute(obs, now=NOW)) == []


def test_a_failed_registration_on_a_claim_is_a_failure_too() -> None:
    claim = _claim("c")
    claim["status"]["conditions"] += [
        {"type": "Launched", "status": "True", "reason": "Launched"},
        {"type": "Registered", "status": "False", "reason": "MultipleNodesFound",
         "message": "several Nodes: a, b"},
    ]  # fmt: skip
    st = status.compute(_obs(claims=[claim]), now=NOW)
    assert _cond(st, "ResourceReady")["reason"] == "MultipleNodesFound"
    assert status.new_failures({}, st) == [
        ("MultipleNodesFound", "NodeClaim c: several Nodes: a, b")
    ]
    waiting = _claim("c")
    waiting["status"]["conditions"] += [
        {"type": "Launched", "status": "True", "reason": "Launched"},
        {"type": "Registered", "status": "Unknown", "reason": "NodeNotFound",
         "message": "Node not registered with cluster"},
    ]  # fmt: skip
    assert status.claim_problem(waiting, "nodeclaim") is None, "waiting to register is progress"
