"""``make demo``: the seed's quick start on the local control plane, narrated.

Starts (or reuses) the detached local cluster, the stack (emulator, both charts, both controllers
as local processes under the charts' ServiceAccounts), applies the seed's tuning Workspace, prints
its conditions as they change and ends with ``kubectl get workspace``; then an inference
Workspace and its Service. Everything keeps running for the user to explore until
``make demo-down``.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import urllib.request
from typing import TYPE_CHECKING, Any

import yaml

from kaito_stack._stack import COMPONENTS, Stack, StackOptions, stop_from_state
from kaito_stack._watch import wait_for_condition
from localcluster import Binaries, find_repo_root, up
from localcluster import stop_from_state as stop_cluster

if TYPE_CHECKING:
    from pathlib import Path

    from kaito_stack._tools import Tools

__all__ = ["demo_down", "demo_up"]

SEED = "examples/fine-tuning/kaito_workspace_tuning_phi_3.yaml"
INFERENCE = "examples/inference/kaito_workspace_phi_3_mini_4k.yaml"
TIMEOUT_SECONDS = 600.0


def _dirs() -> tuple[Path, Path]:
    cache = find_repo_root() / ".cache"
    return cache / "localcluster", cache / "demo"


def _say(text: str = "") -> None:
    print(text, flush=True)


def _show_change(elapsed: float, condition: dict[str, Any]) -> None:
    reason = condition.get("reason", "")
    message = condition.get("message", "")
    _say(
        f"  {elapsed:6.1f}s  {condition['type']:<20} {condition.get('status', ''):<6}"
        f" {reason}{': ' + message if message else ''}"
    )


def _workspace(path: Path) -> tuple[str, str]:
    doc = yaml.safe_load(path.read_text())
    return doc["metadata"]["name"], doc["metadata"].get("namespace", "default")


def _run_example(tools: Tools, path: Path, condition: str) -> tuple[str, str]:
    name, namespace = _workspace(path)
    _say(f"$ kubectl apply -f {path.relative_to(find_repo_root())}")
    _say(tools.kubectl("apply", "-f", str(path)).rstrip())
    _say(f"  watching workspace/{name} until {condition}=True:")
    wait_for_condition(
        tools,
        "workspace",
        name,
        namespace=namespace,
        condition=condition,
        timeout=TIMEOUT_SECONDS,
        on_change=_show_change,
    )
    return name, namespace


def _chat(stack: Stack, name: str, namespace: str) -> None:
    """The seed's last step, POST /chat, against the real runtime configured as the pod is."""
    _say("kwok's pods run nothing, so the model runtime now starts here with the environment the")
    _say(f"workspace-controller wrote into deployment/{name}, and a tiny random Phi-3 as weights")
    _say("(nothing downloads weights here; on AKS the Service's port 80 reaches the same server).")
    url = stack.serve_workload(name, namespace)
    body = {"prompt": "What colour is the sky?", "generate_kwargs": {"max_new_tokens": 16}}
    _say(f"$ curl -X POST {url}/chat -H 'Content-Type: application/json' -d '{json.dumps(body)}'")
    request = urllib.request.Request(
        f"{url}/chat",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        _say(response.read().decode())


def demo_up() -> int:
    cluster_dir, demo_dir = _dirs()
    started_at = time.monotonic()
    info, started = up(cluster_dir)
    _say(
        f"local control plane {info.kubernetes_version} at {info.server}"
        f" ({'started' if started else 'already running'})"
    )
    stop_from_state(demo_dir)  # a previous demo's processes
    stack = Stack(info, Binaries.locate(), demo_dir, StackOptions(), attached=False)
    stack.start()
    _say(f"AKS emulator at {stack.emulator_url}")
    for component in COMPONENTS:
        for replica in stack.replicas[component.chart]:
            _say(
                f"{component.chart}: pid {replica.pid}, metrics {replica.metrics_url},"
                f" log {replica.log}"
            )
    tools = stack.tools
    repo = find_repo_root()

    name, namespace = _run_example(tools, repo / SEED, "WorkspaceSucceeded")
    _say("$ kubectl get workspace")
    _say(tools.kubectl("get", "workspace", name, "-n", namespace).rstrip())
    _say()

    name, namespace = _run_example(tools, repo / INFERENCE, "InferenceReady")
    _say("$ kubectl get workspace")
    _say(tools.kubectl("get", "workspace", "-n", namespace).rstrip())
    _say(f"$ kubectl get service {name}")
    _say(tools.kubectl("get", "service", name, "-n", namespace).rstrip())
    _say()
    _chat(stack, name, namespace)
    _say()
    _say(f"done in {time.monotonic() - started_at:.0f}s. Try:")
    _say(f"  export KUBECONFIG={info.kubeconfig}")
    _say("  kubectl get workspace,nodeclaims,nodes")
    _say("make demo-down removes everything.")
    return 0


def demo_down() -> int:
    cluster_dir, demo_dir = _dirs()
    stopped = stop_from_state(demo_dir)
    cluster = stop_cluster(cluster_dir)
    for directory in (demo_dir, cluster_dir):
        shutil.rmtree(directory, ignore_errors=True)
    print(
        f"stopped {stopped} demo process(es) and {cluster} control-plane process(es);"
        " removed their state",
        file=sys.stderr,
    )
    return 0
