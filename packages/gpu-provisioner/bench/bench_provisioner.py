"""Benchmark: N claims created at once, against the AKS emulator and the real local control plane.

Why a script and not a test: the figures depend on the machine, so they are measured and printed,
never asserted. ``make bench-provisioner`` runs it with 200 NodeClaims, once with instant agent
pool creates and once with 30 s creates (the emulator's ``create_seconds``), and prints for each:
the time from the claims' creation until all are Ready, ARM requests per node by operation (from
the emulator's counters), and the process's peak RSS (provisioner, emulator and test client share
the process, so it is an upper bound for the provisioner).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import localcluster
from aks_emulator import (
    AksEmulator,
    EmulatorConfig,
    KubeNodeJoiner,
    OperationTiming,
    StaticTokenCredential,
)
from gpu_provisioner import app as app_module
from gpu_provisioner.settings import (
    AzureSettings,
    ControllerSettings,
    ProvisioningSettings,
    Settings,
)

ROOT = localcluster.find_repo_root(Path(__file__).resolve())


def _claim(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {"name": name, "labels": {"karpenter.sh/nodepool": "kaito"}},
        "spec": {
            "nodeClassRef": {"group": "kaito.sh", "kind": "KaitoNodeClass", "name": "default"},
            "requirements": [
                {
                    "key": "node.kubernetes.io/instance-type",
                    "operator": "In",
                    "values": ["Standard_NC6s_v3"],
                }
            ],
            "resources": {"requests": {"storage": "128Gi", "nvidia.com/gpu": "1"}},
        },
    }


async def _ready_count(api: Any) -> int:
    listing = await localcluster.request(api, "GET", "/apis/karpenter.sh/v1/nodeclaims")
    return sum(
        1
        for item in listing.get("items") or []
        if localcluster.condition_status(item, "Ready") == "True"
    )


async def run_once(
    info: localcluster.ClusterInfo, *, claims: int, create_seconds: float, polling_seconds: float
) -> None:
    api = localcluster.new_api_client(info)
    joiner_api = localcluster.new_api_client(info)
    config = EmulatorConfig(
        timing=OperationTiming(create_seconds=create_seconds, delete_seconds=0.1),
        default_family_vcpu_quota=100_000,
        default_regional_vcpu_quota=100_000,
    )
    async with AksEmulator(config, nodes=KubeNodeJoiner(joiner_api)) as emulator:
        assert emulator.tls_files is not None
        identity = config.identity
        settings = Settings(
            azure=AzureSettings(
                subscription_id=identity.subscription,
                resource_group=identity.resource_group,
                cluster_name=identity.cluster,
                location=identity.location,
                arm_base_url=emulator.base_url,
                connection_verify=str(emulator.tls_files.ca_cert),
                polling_interval_seconds=polling_seconds,
            ),
            provisioning=ProvisioningSettings(poll_interval_seconds=1.0, node_wait_seconds=120),
            controller=ControllerSettings(leader_elect=False, max_concurrent_reconciles=50),
        )
        app = await app_module.assemble(api, settings, credential=StaticTokenCredential())
        task = asyncio.create_task(app.run())
        try:
            started = time.monotonic()
            names = [f"bench{i:05d}" for i in range(claims)]
            await asyncio.gather(*(localcluster.apply_manifests(api, [_claim(n)]) for n in names))

            async def all_ready() -> bool:
                return await _ready_count(api) >= claims

            await localcluster.poll_until(
                all_ready,
                description="all claims Ready",
                timeout_seconds=1800,
                interval_seconds=0.5,
            )
            elapsed = time.monotonic() - started
            counts = emulator.counts()
            print(
                f"\n== {claims} NodeClaims, create latency {create_seconds:g} s, "
                f"LRO poll interval {polling_seconds:g} s"
            )
            print(f"all Ready after {elapsed:.1f} s")
            print("ARM requests per node by operation:")
            for op, statuses in counts["operations"].items():
                total = sum(statuses.values())
                print(f"  {op:32s} {total / claims:6.2f}  ({statuses})")
            print(f"  {'total':32s} {counts['total'] / claims:6.2f}")
            # tear down through the provisioner: every pool deleted, every claim gone
            await asyncio.gather(
                *(localcluster.delete_object(api, "karpenter.sh/v1", "NodeClaim", n) for n in names)
            )

            async def all_gone() -> bool:
                listing = await localcluster.request(api, "GET", "/apis/karpenter.sh/v1/nodeclaims")
                return not listing["items"]

            await localcluster.poll_until(
                all_gone,
                description="all claims deleted",
                timeout_seconds=600,
                interval_seconds=0.5,
            )
            print(
                f"all deleted after another {time.monotonic() - started - elapsed:.1f} s; "
                f"pools left: {len(emulator.state()['pools']) - 1}"
            )
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await app.close()
    await api.close()
    await joiner_api.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=200)
    parser.add_argument("--create-seconds", type=float, nargs="+", default=[0.0, 30.0])
    parser.add_argument("--polling-seconds", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-provisioner-") as state:
        cluster = localcluster.LocalCluster(state_dir=Path(state))
        with cluster as info:
            localcluster_crds = sorted((ROOT / "crds").glob("karpenter*.yaml"))

            async def install() -> None:
                api = localcluster.new_api_client(info)
                await localcluster.apply_manifests(api, localcluster_crds)
                await api.close()

            asyncio.run(install())
            for seconds in args.create_seconds:
                asyncio.run(
                    run_once(
                        info,
                        claims=args.claims,
                        create_seconds=seconds,
                        polling_seconds=args.polling_seconds,
                    )
                )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the benchmark process: {peak:.0f} MiB", file=sys.stdout)


if __name__ == "__main__":
    main()
