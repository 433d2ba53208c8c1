"""The product end to end, as a user meets it: helm-installed charts, the seed's manifests applied
with kubectl, GPU nodes from the (emulated) AKS, Prometheus scraping the controllers.

The tests share one stack and run in file order: the later ones (deletion, leader loss) build
on the Workspaces the earlier ones created.
"""

from __future__ import annotations

import json
import re
import ssl
import time
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest
from kaito_stack import (
    COMPONENTS,
    GPU_PROVISIONER,
    WORKSPACE_CONTROLLER,
    CommandError,
    conditions,
    wait_for_condition,
)

from localcluster import find_repo_root

if TYPE_CHECKING:
    from kaito_stack import Stack

REPO = find_repo_root()
SEED = REPO / "examples/fine-tuning/kaito_workspace_tuning_phi_3.yaml"
INFERENCE = REPO / "examples/inference/kaito_workspace_phi_3_mini_4k.yaml"
TIMEOUT = 240.0


def _apply(stack: Stack, text: str) -> str:
    return stack.tools.kubectl("apply", "-f", "-", stdin=text)


def _workspace(name: str, *, instance_type: str, preset: str, namespace: str = "default") -> str:
    return f"""
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata: {{name: {name}, namespace: {namespace}}}
resource:
  instanceType: {instance_type}
  labelSelector: {{matchLabels: {{app: {name}}}}}
inference:
  preset: {{name: {preset}}}
"""


def _emulator(stack: Stack, path: str, method: str = "GET", body: Any = None) -> Any:
    context = ssl.create_default_context(cafile=str(stack.emulator_ca))
    request = urllib.request.Request(
        f"{stack.emulator_url}/_admin/{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        return json.loads(response.read() or b"null")


def _prometheus(stack: Stack, query: str) -> list[dict[str, Any]]:
    url = f"{stack.prometheus_url}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.loads(response.read())
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def _table_row(table: str) -> dict[str, str]:
    """The first row of kubectl's table output, by column (blank cells stay blank)."""
    header, line = table.splitlines()[:2]
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    ends = [*starts[1:], None]
    return {header[a:b].strip(): line[a:b].strip() for a, b in zip(starts, ends, strict=True)}


def _claims(stack: Stack) -> list[str]:
    names = []
    for kind in ("nodeclaims.karpenter.sh", "machines.karpenter.sh"):
        items = stack.tools.kubectl_json("get", kind, "-A")["items"]
        names += [f"{kind}/{i['metadata']['name']}" for i in items]
    return names


def _gpu_pools(stack: Stack) -> list[str]:
    return [p["name"] for p in _emulator(stack, "state")["pools"] if p["name"] != "nodepool1"]


def test_the_seed_quick_start_succeeds_with_its_columns_true(stack: Stack) -> None:
    stack.tools.kubectl("apply", "-f", str(SEED))
    wait_for_condition(
        stack.tools,
        "workspace",
        "workspace-tuning-phi-3",
        namespace="default",
        condition="WorkspaceSucceeded",
        timeout=TIMEOUT,
    )
    row = _table_row(stack.tools.kubectl("get", "workspace", "workspace-tuning-phi-3"))
    assert list(row)[:3] == ["NAME", "INSTANCE", "RESOURCEREADY"]
    assert row["INFERENCEREADY"] == ""  # a tuning Workspace has no inference condition
    assert row["INSTANCE"] == "Standard_NC6s_v3"
    assert (row["RESOURCEREADY"], row["JOBSTARTED"], row["WORKSPACESUCCEEDED"]) == (
        "True",
        "True",
        "True",
    )
    # The GPU node came from an agent pool of the emulated AKS cluster.
    assert len(_gpu_pools(stack)) == 1


def test_an_inference_workspace_is_ready_behind_ports_80_and_29500(stack: Stack) -> None:
    stack.tools.kubectl("apply", "-f", str(INFERENCE))
    wait_for_condition(
        stack.tools,
        "workspace",
        "workspace-phi-3-mini",
        namespace="default",
        condition="InferenceReady",
        timeout=TIMEOUT,
    )
    service = stack.tools.kubectl_json("get", "service", "workspace-phi-3-mini")
    assert sorted(p["port"] for p in service["spec"]["ports"]) == [80, 29500]


def test_the_runtime_configured_as_the_inference_pod_answers_chat(stack: Stack) -> None:
    url = stack.serve_workload("workspace-phi-3-mini", "default")
    request = urllib.request.Request(
        f"{url}/chat",
        data=json.dumps({"prompt": "What colour is the sky?"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        answer = json.loads(response.read())
    assert isinstance(answer["Result"], str)
    assert answer["Result"]


def test_a_workspace_that_does_not_fit_is_rejected_at_apply_with_its_reason(
    stack: Stack,
) -> None:
    with pytest.raises(CommandError) as rejected:
        _apply(stack, _workspace("too-big", instance_type="Standard_NC6s_v3", preset="falcon-40b"))
    message = rejected.value.stderr
    assert "denied request" in message or "is forbidden" in message, message
    assert "falcon-40b" in message
    assert "Standard_NC6s_v3" in message
    assert stack.tools.kubectl("get", "workspace", "too-big", check=False) == ""


def test_a_quota_error_shows_on_the_workspace(stack: Stack) -> None:
    _emulator(stack, "faults", "PATCH", {"quota": {"standardNCSv3Family": 0}})
    try:
        _apply(
            stack,
            _workspace(
                "no-quota", instance_type="Standard_NC6s_v3", preset="phi-3-mini-4k-instruct"
            ),
        )
        workspace = wait_for_condition(
            stack.tools,
            "workspace",
            "no-quota",
            namespace="default",
            condition="ResourceReady",
            status="False",
            timeout=TIMEOUT,
            interval=1.0,
        )
        deadline = time.monotonic() + TIMEOUT
        while "quota" not in conditions(workspace)["ResourceReady"].get("message", "").lower():
            assert time.monotonic() < deadline, conditions(workspace)
            time.sleep(1)
            workspace = stack.tools.kubectl_json("get", "workspace", "no-quota")
        events = stack.tools.kubectl_json("get", "events", "-A")["items"]
        assert any("quota" in (e.get("message") or "").lower() for e in events)
    finally:
        _emulator(stack, "faults", "PATCH", {"quota": None})
        stack.tools.kubectl("delete", "workspace", "no-quota", "--wait=false", check=False)


def test_prometheus_scrapes_reconcile_and_provisioning_metrics(stack: Stack) -> None:
    deadline = time.monotonic() + 60
    while True:
        reconciles = _prometheus(stack, "sum by (job) (controller_runtime_reconcile_total)")
        created = _prometheus(stack, "sum(karpenter_nodeclaims_created_total)")
        jobs = {r["metric"]["job"] for r in reconciles}
        if jobs == {c.chart for c in COMPONENTS} and created and float(created[0]["value"][1]):
            break
        assert time.monotonic() < deadline, (reconciles, created)
        time.sleep(1)
    up = _prometheus(stack, "up")
    assert {r["metric"]["job"] for r in up if r["value"][1] == "1"} == {c.chart for c in COMPONENTS}


def test_deleting_the_workspaces_leaves_no_claims_and_no_agent_pools(stack: Stack) -> None:
    stack.tools.kubectl("delete", "workspace", "--all", "-A", "--wait=false")
    deadline = time.monotonic() + TIMEOUT
    while (
        stack.tools.kubectl("get", "workspace", "-A", "-o", "name")
        or _claims(stack)
        or (_gpu_pools(stack))
    ):
        assert time.monotonic() < deadline, (_claims(stack), _gpu_pools(stack))
        time.sleep(1)
    nodes = stack.tools.kubectl_json("get", "nodes")["items"]
    assert [
        n["metadata"]["name"] for n in nodes if "kaito.sh/workspace" in n["metadata"]["labels"]
    ] == []


def test_every_replica_is_ready_the_standby_too(stack: Stack) -> None:
    """A Deployment of two replicas must count both available (rollouts, PDBs, helm --wait)."""
    for component in COMPONENTS:
        replicas = stack.live_replicas(component)
        assert len(replicas) == 2
        for replica in replicas:
            url = f"http://127.0.0.1:{replica.probe_port}/readyz"
            with urllib.request.urlopen(url, timeout=5) as response:
                assert response.status == 200


def test_when_the_leaders_are_killed_the_other_replicas_take_over_and_work_completes(
    stack: Stack,
) -> None:
    killed = {}
    for component in (WORKSPACE_CONTROLLER, GPU_PROVISIONER):
        leader = stack.wait_for_leader(component)
        stack.kill(leader)
        killed[component.chart] = leader.pid
    _apply(
        stack,
        _workspace(
            "after-failover", instance_type="Standard_NC6s_v3", preset="phi-3-mini-4k-instruct"
        ),
    )
    wait_for_condition(
        stack.tools,
        "workspace",
        "after-failover",
        namespace="default",
        condition="InferenceReady",
        timeout=TIMEOUT,
    )
    for component in (WORKSPACE_CONTROLLER, GPU_PROVISIONER):
        leader = stack.wait_for_leader(component, other_than=killed[component.chart])
        assert leader.pid != killed[component.chart]
    stack.tools.kubectl("delete", "workspace", "after-failover")
