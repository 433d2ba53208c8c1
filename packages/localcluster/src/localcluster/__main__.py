"""Command line: ``python -m localcluster up|down|status`` (what ``make cluster`` runs).

Why a CLI and not only a fixture: the local demo and manual debugging need a cluster that outlives
one command. ``up`` starts a detached cluster under ``<repo>/.cache/localcluster`` (or
``--state-dir``) and prints the kubeconfig path on stdout, so ``export KUBECONFIG=$(make -s
cluster)`` works; progress and errors go to stderr. ``up`` is idempotent: a healthy cluster already
recorded there is reused. ``down`` stops the recorded PIDs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from localcluster._binaries import BinariesMissingError, default_cache_dir, find_repo_root
from localcluster._cluster import running_info, stop_from_state, up
from localcluster._processes import StartupError


def _default_state_dir() -> Path:
    return default_cache_dir(find_repo_root()) / "localcluster"


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m localcluster", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where PKI, etcd data, logs, state.json and the kubeconfig live "
        "(default: <repo>/.cache/localcluster)",
    )
    args = parser.parse_args(argv)
    try:
        state_dir: Path = (args.state_dir or _default_state_dir()).resolve()
        if args.command == "up":
            info, started = up(state_dir)
            verb = f"started in {info.startup_seconds:.1f}s" if started else "already running"
            print(
                f"localcluster {info.kubernetes_version} {verb} at {info.server}", file=sys.stderr
            )
            print(info.kubeconfig)
        elif args.command == "down":
            stopped = stop_from_state(state_dir)
            print(f"localcluster: stopped {stopped} process(es)", file=sys.stderr)
        else:
            running = running_info(state_dir)
            if running is None:
                print("localcluster: not running", file=sys.stderr)
                return 1
            print(f"localcluster {running.kubernetes_version} at {running.server}", file=sys.stderr)
            print(running.kubeconfig)
    except (BinariesMissingError, StartupError) as exc:
        print(f"localcluster: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
