"""Command line: run the emulator until interrupted.

The base URL is the only thing written to stdout (one line, flushed), so scripts can read it;
the CA certificate path and the admin URL go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from aks_emulator._config import ClusterIdentity, EmulatorConfig, OperationTiming
from aks_emulator._faults import Faults, FaultsError, load_faults
from aks_emulator._server import AksEmulator

__all__ = ["main", "parse_args"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = ClusterIdentity()
    timing = OperationTiming()
    parser = argparse.ArgumentParser(
        prog="python -m aks_emulator",
        description="Local Azure (ARM) emulator for AKS agent pools. Prints its base URL.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--kubeconfig", type=Path, help="join pool Nodes into this cluster")
    parser.add_argument("--subscription", default=defaults.subscription)
    parser.add_argument("--resource-group", default=defaults.resource_group)
    parser.add_argument("--cluster", default=defaults.cluster)
    parser.add_argument("--location", default=defaults.location)
    parser.add_argument("--faults", type=Path, help="faults document (YAML or JSON)")
    parser.add_argument("--seed", type=int, default=0, help="seed of fault rates and latencies")
    parser.add_argument("--token", help="accept only this bearer token (default: any)")
    parser.add_argument(
        "--federated-subject",
        help="Entra token endpoint: accept only ServiceAccount tokens with this subject",
    )
    parser.add_argument("--page-size", type=int, default=EmulatorConfig().page_size)
    parser.add_argument("--create-seconds", type=float, default=timing.create_seconds)
    parser.add_argument("--update-seconds", type=float, default=timing.update_seconds)
    parser.add_argument("--delete-seconds", type=float, default=timing.delete_seconds)
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument(
        "--tls-dir",
        type=Path,
        help="write ca.pem (and the server key pair) here; default: a temp dir",
    )
    tls.add_argument(
        "--plain-http",
        action="store_true",
        help="serve http (the SDK then needs a custom authentication policy)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace, faults: Faults) -> None:
    config = EmulatorConfig(
        identity=ClusterIdentity(
            subscription=args.subscription,
            resource_group=args.resource_group,
            cluster=args.cluster,
            location=args.location,
        ),
        timing=OperationTiming(
            create_seconds=args.create_seconds,
            update_seconds=args.update_seconds,
            delete_seconds=args.delete_seconds,
        ),
        page_size=args.page_size,
        bearer_token=args.token,
        federated_subject=args.federated_subject,
        seed=args.seed,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with AksEmulator(
        config,
        faults=faults,
        kubeconfig=args.kubeconfig,
        host=args.host,
        port=args.port,
        tls=not args.plain_http,
        tls_dir=args.tls_dir,
    ) as emulator:
        print(emulator.base_url, flush=True)
        if emulator.tls_files is not None:
            print(f"CA certificate: {emulator.tls_files.ca_cert.resolve()}", file=sys.stderr)
        print(f"admin: {emulator.admin_url}/counts | /faults | /state", file=sys.stderr, flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        faults = load_faults(args.faults) if args.faults else Faults()
    except (OSError, FaultsError) as exc:
        print(f"aks_emulator: cannot load faults: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(args, faults))
    except (ValueError, OSError) as exc:  # a bad identity, a port in use, an unreadable kubeconfig
        print(f"aks_emulator: {exc}", file=sys.stderr)
        return 2
    return 0
