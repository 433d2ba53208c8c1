"""Benchmark the workspace controller: N tuning Workspaces applied at once.

Starts a private local control plane, runs ``python -m workspace_controller`` as a separate
process (so its peak RSS is its own), and stands in for the Karpenter provider with
localcluster's FakeKarpenterProvider at zero latency. Prints, for N Workspaces:

- seconds until every Workspace has its claim, until every tuning Job exists, and until every
  Workspace reports Succeeded (kwok completes the pods);
- API server requests per Workspace by verb and resource, from the API server's own
  ``apiserver_request_total`` (it counts every client: the provider double's node creates and
  claim status writes, and kwok's node and pod updates, are listed so they can be told apart);
- the controller's peak RSS (VmHWM) and its API requests per minute once everything is idle.

Usage: ``uv run python tools/bench/bench_workspace.py --count 100`` (``make bench-workspace``).
A benchmark, not a test: it prints figures and asserts nothing about them.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import os
import pathlib
import socket
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

import localcluster
import preset_catalog

REPO = pathlib.Path(__file__).resolve().parents[2]
SEED = REPO / "examples/fine-tuning/kaito_workspace_tuning_phi_3.yaml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _workspace(index: int, namespace: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(SEED.read_text())
    doc["metadata"] = {"name": f"bench-{index:04d}", "namespace": namespace}
    doc["resource"]["labelSelector"]["matchLabels"] = {"app": f"bench-{index:04d}"}
    doc["tuning"]["output"] = {"volumeSource": {"emptyDir": {}}}
    return doc


async def _request_counts(api: ApiClient) -> collections.Counter[tuple[str, str]]:
    """apiserver_request_total summed by (verb, resource)."""
    text = await localcluster.request(api, "GET", "/metrics", content_type="text/plain")
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    for line in str(text).splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels_text, value = line[len("apiserver_request_total{") :].rsplit("} ", 1)
        labels = dict(part.split("=", 1) for part in labels_text.split('",') if "=" in part)
        verb = labels.get("verb", "").strip('"')
        resource = labels.get("resource", "").strip('"')
        sub = labels.get("subresource", "").strip('"')
        counts[(verb, f"{resource}/{sub}" if sub else resource)] += int(float(value))
    return counts


async def _count(api: ApiClient, path: str) -> int:
    query = [("labelSelector", "kaito.sh/workspace")]
    found = await localcluster.request(api, "GET", path, query=query)
    return len(found["items"])


def _peak_rss_mib(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclasses.dataclass
class Figures:
    applied: float = 0.0
    claims_at: float = 0.0
    jobs_at: float = 0.0
    succeeded_at: float = 0.0
    rss_mib: float = 0.0
    during: collections.Counter[tuple[str, str]] = dataclasses.field(
        default_factory=collections.Counter
    )
    idle: collections.Counter[tuple[str, str]] = dataclasses.field(
        default_factory=collections.Counter
    )


async def _start_controller(kubeconfig: pathlib.Path) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "WORKSPACE_CONTROLLER_CONTROLLER_LEADER_ELECT": "false",
        "WORKSPACE_CONTROLLER_CONTROLLER_PROBE_BIND_HOST": "127.0.0.1",
        "WORKSPACE_CONTROLLER_CONTROLLER_PROBE_PORT": str(_free_port()),
        "WORKSPACE_CONTROLLER_CONTROLLER_LOG_LEVEL": "WARNING",
        "WORKSPACE_CONTROLLER_CONTROLLER_MAX_CONCURRENT_RECONCILES": "10",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "workspace_controller", env=env
    )


async def _measure(api: ApiClient, controller_pid: int, count: int, idle_seconds: float) -> Figures:
    namespace = "bench"
    await localcluster.request(
        api, "POST", "/api/v1/namespaces", body={"metadata": {"name": namespace}}
    )
    figures = Figures()
    before = await _request_counts(api)
    start = time.monotonic()
    semaphore = asyncio.Semaphore(32)

    async def apply(i: int) -> None:
        async with semaphore:
            await localcluster.apply_manifests(api, [_workspace(i, namespace)])

    await asyncio.gather(*(apply(i) for i in range(count)))
    figures.applied = time.monotonic() - start
    claims_path = "/apis/karpenter.sh/v1/nodeclaims"
    jobs_path = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    while not figures.jobs_at:
        now = time.monotonic() - start
        if not figures.claims_at and await _count(api, claims_path) >= count:
            figures.claims_at = now
        if await _count(api, jobs_path) >= count:
            figures.jobs_at = now
        if now > 60 + count:
            raise TimeoutError(f"not done after {now:.0f}s")
        await asyncio.sleep(0.5)
    while not figures.succeeded_at:
        now = time.monotonic() - start
        listed = await localcluster.request(
            api, "GET", f"/apis/kaito.sh/v1beta1/namespaces/{namespace}/workspaces"
        )
        done = [w for w in listed["items"] if (w.get("status") or {}).get("state") == "Succeeded"]
        if len(done) >= count:
            figures.succeeded_at = now
        elif now > 120 + 2 * count:
            raise TimeoutError(f"{len(done)}/{count} Succeeded after {now:.0f}s")
        else:
            await asyncio.sleep(1)
    figures.during = await _request_counts(api) - before
    await asyncio.sleep(idle_seconds / 2)
    idle_start = await _request_counts(api)
    await asyncio.sleep(idle_seconds)
    figures.idle = await _request_counts(api) - idle_start
    figures.rss_mib = _peak_rss_mib(controller_pid)
    return figures


async def bench(count: int, idle_seconds: float) -> Figures:
    with (
        tempfile.TemporaryDirectory(prefix="bench-workspace-") as tmp,
        localcluster.LocalCluster(
            state_dir=pathlib.Path(tmp), binaries=localcluster.Binaries.locate()
        ) as cluster,
    ):
        async with localcluster.new_api_client(cluster) as api:
            await localcluster.apply_manifests(api, sorted((REPO / "crds").glob("*.yaml")))
            controller = await _start_controller(cluster.kubeconfig)
            provider = localcluster.FakeKarpenterProvider(
                api,
                "nodeclaim",
                gpu_count_of=lambda sku: preset_catalog.get_instance_type(sku).gpu.count,
            )
            provider_task = asyncio.create_task(provider.run())
            try:
                return await _measure(api, controller.pid, count, idle_seconds)
            finally:
                provider_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await provider_task
                controller.terminate()
                await controller.wait()


def report(count: int, idle_seconds: float, figures: Figures) -> None:
    print(f"workspaces: {count}")
    print(f"applied all in:            {figures.applied:7.1f} s")
    print(f"every workspace has claim: {figures.claims_at:7.1f} s")
    print(f"every tuning Job exists:   {figures.jobs_at:7.1f} s")
    print(f"every workspace Succeeded: {figures.succeeded_at:7.1f} s")
    print(f"controller peak RSS:       {figures.rss_mib:7.1f} MiB")
    print("API server requests per workspace, by verb and resource (all clients):")
    for (verb, resource), n in sorted(figures.during.items(), key=lambda kv: -kv[1]):
        if n / count >= 0.05:
            print(f"  {verb:8s} {resource:32s} {n / count:6.2f}")
    per_minute = sum(figures.idle.values()) * 60 / idle_seconds
    print(f"requests per minute once idle (all clients): {per_minute:.0f}")
    for (verb, resource), n in sorted(figures.idle.items(), key=lambda kv: -kv[1])[:6]:
        print(f"  {verb:8s} {resource:32s} {n * 60 / idle_seconds:6.1f}/min")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    args = parser.parse_args()
    report(args.count, args.idle_seconds, asyncio.run(bench(args.count, args.idle_seconds)))


if __name__ == "__main__":
    main()
