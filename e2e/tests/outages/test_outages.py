"""The control plane goes down under running controllers; the controllers are stopped on purpose.

- kube-apiserver, then etcd, is killed for 30 s while Workspaces are being provisioned: every
  controller process (two replicas of each) keeps running, answers ``/healthz`` throughout,
  reports not ready on ``/readyz`` meanwhile, and every Workspace converges afterwards, with no
  restart of anything but the killed component.
- SIGTERM to a leader (a rollout): it releases its Lease and exits 0, and the standby leads
  within 2 s instead of waiting for the Lease to expire.

Figures are printed (``pytest -s``): seconds down, Workspaces converged, restarts, takeover time.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

from kaito_stack import COMPONENTS, wait_for_condition

if TYPE_CHECKING:
    from kaito_stack import Replica, Stack

    from localcluster import ClusterInfo

    from .conftest import OutageStack

OUTAGE_SECONDS = 30.0
WORKSPACES = ("outage-a", "outage-b", "outage-c")
TIMEOUT = 240.0
TAKEOVER_BOUND_SECONDS = 2.0


def _workspace(name: str) -> str:
    return f"""
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata: {{name: {name}, namespace: default}}
resource:
  instanceType: Standard_NC6s_v3
  labelSelector: {{matchLabels: {{app: {name}}}}}
inference:
  preset: {{name: phi-3-mini-4k-instruct}}
"""


def _status(url: str) -> int | None:
    """The HTTP status of a GET, or None if nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


def _replicas(stack: Stack) -> list[Replica]:
    return [r for component in COMPONENTS for r in stack.live_replicas(component)]


def _name(replica: Replica) -> str:
    return f"{replica.component}-{replica.index} (pid {replica.pid})"


def _outage(outage_stack: OutageStack, component: str) -> tuple[float, set[str]]:
    """Stop ``component`` for OUTAGE_SECONDS, probing every replica each second; bring it back.

    Returns the seconds it was down and the replicas that never reported not ready.
    """
    stack = outage_stack.stack
    replicas = _replicas(stack)
    always_ready = {_name(r) for r in replicas}
    began = time.monotonic()
    outage_stack.cluster.stop_component(component)
    try:
        while time.monotonic() - began < OUTAGE_SECONDS:
            live = {r.pid for r in _replicas(stack)}
            for replica in replicas:
                assert replica.pid in live, f"{_name(replica)} exited during the {component} outage"
                base = f"http://127.0.0.1:{replica.probe_port}"
                health = _status(f"{base}/healthz")
                assert health == 200, f"{_name(replica)}: /healthz {health} during the outage"
                if _status(f"{base}/readyz") == 503:
                    always_ready.discard(_name(replica))
            time.sleep(1.0)
    finally:
        outage_stack.cluster.start_component(component)
    return time.monotonic() - began, always_ready


def test_both_controllers_run_through_apiserver_and_etcd_outages_and_workspaces_converge(
    outage_stack: OutageStack,
) -> None:
    stack = outage_stack.stack
    before = sorted(r.pid for r in _replicas(stack))
    assert len(before) == 2 * len(COMPONENTS)
    for name in WORKSPACES:
        stack.tools.kubectl("apply", "-f", "-", stdin=_workspace(name))
    try:
        # In flight: the first claim is out, agent pools are being created.
        deadline = time.monotonic() + TIMEOUT
        while not stack.tools.kubectl_json("get", "nodeclaims.karpenter.sh")["items"]:
            assert time.monotonic() < deadline, "no NodeClaim was created"
            time.sleep(0.5)
        down = {}
        for component in ("kube-apiserver", "etcd"):
            down[component], always_ready = _outage(outage_stack, component)
            assert not always_ready, f"/readyz stayed 200 during the {component} outage"
        converged_at = time.monotonic()
        converged = 0
        for name in WORKSPACES:
            wait_for_condition(
                stack.tools,
                "workspace",
                name,
                namespace="default",
                condition="InferenceReady",
                timeout=TIMEOUT,
            )
            converged += 1
        after = sorted(r.pid for r in _replicas(stack))
        restarts = len(set(before) - set(after))
        for replica in _replicas(stack):
            assert _status(f"http://127.0.0.1:{replica.probe_port}/readyz") == 200, _name(replica)
        print(
            "outage figures: "
            + ", ".join(f"{c} down {s:.1f}s" for c, s in down.items())
            + f"; Workspaces converged {converged}/{len(WORKSPACES)} "
            f"{time.monotonic() - converged_at:.1f}s after the etcd outage; "
            f"controller processes {len(after)}, restarts {restarts}"
        )
        assert after == before, "every controller process runs on, none restarted"
    finally:
        stack.tools.kubectl("delete", "workspace", *WORKSPACES, "--wait=false", check=False)


def _lease_holder(info: ClusterInfo, namespace: str, name: str) -> str:
    request = urllib.request.Request(
        f"{info.server}/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}",
        headers={"Authorization": f"Bearer {info.token}"},
    )
    context = ssl.create_default_context(cafile=str(info.ca_cert))
    with urllib.request.urlopen(request, context=context, timeout=5) as response:
        return str(json.load(response)["spec"].get("holderIdentity") or "")


def test_a_standby_leads_within_two_seconds_of_the_leaders_sigterm(
    outage_stack: OutageStack,
) -> None:
    stack, info = outage_stack.stack, outage_stack.cluster.info
    figures = []
    for component in COMPONENTS:
        leader = stack.wait_for_leader(component)
        (standby,) = [r for r in stack.live_replicas(component) if r.pid != leader.pid]
        lease = stack.controller_env_value(component, "controller", "lease_name")
        began = time.monotonic()
        stack.terminate(leader)
        while not _lease_holder(info, component.namespace, lease).endswith(f"_{standby.pid}"):
            assert time.monotonic() - began < 30, f"{component.chart}: the standby never led"
            time.sleep(0.02)
        took = time.monotonic() - began
        code = stack.wait_exit(leader, timeout=30)
        figures.append(f"{component.chart} {took:.2f}s (leader exit code {code})")
        # Back to two replicas, so the other tests find the stack as the fixture made it.
        stack.start_replica(component, len(stack.replicas[component.chart]))
        assert code == 0, f"{component.chart}: SIGTERM must end the leader cleanly"
        assert took < TAKEOVER_BOUND_SECONDS, figures[-1]
    print("standby leads after the leader's SIGTERM: " + ", ".join(figures))
