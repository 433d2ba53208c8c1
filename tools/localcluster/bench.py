"""Benchmark of the local control plane: cold build cost and warm start time.

Why a script and not a test: the figures depend on the machine and on what the Go caches already
hold, so they are measured and printed, never asserted. Run it through ``make bench-cluster``.

- Cold build: by default the figures of the newest build.sh run that compiled every component
  (``.cache/bin/build-runs.tsv``, with the GOCACHE/GOMODCACHE size it started from, so a warm
  rebuild is not mistaken for a cold one). ``--cold-build`` instead runs build.sh into a fresh
  temporary cache (empty module and build caches; downloads from the module proxy included) under
  ``/usr/bin/time -v`` and reports that; it takes minutes and is deleted afterwards.
- Warm start: starts and stops the cluster ``--starts`` times with the built binaries and prints the
  time from the first spawn until every component answered its health check.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from localcluster import Binaries, LocalCluster, find_repo_root

ROOT = find_repo_root(Path(__file__).resolve())
BUILD_SH = ROOT / "tools" / "localcluster" / "build.sh"
ALL_COMPONENTS = {"kubernetes", "etcd", "kwok", "karpenter-kwok", "helm", "kubectl"}


def _cache_dir() -> Path:
    override = os.environ.get("LOCALCLUSTER_CACHE")
    return Path(override) if override else ROOT / ".cache"


def recorded_cold_build() -> None:
    """Print the newest full build recorded by build.sh."""
    runs_file = _cache_dir() / "bin" / "build-runs.tsv"
    if not runs_file.is_file():
        print(
            f"cold build: no record in {runs_file}; run build.sh on an empty cache, or --cold-build"
        )
        return
    with runs_file.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    full = [r for r in rows if set(r["built"].split(",")) >= ALL_COMPONENTS]
    if not full:
        print(f"cold build: {runs_file} has no run that built every component")
        return
    last = full[-1]
    print(
        f"cold build (recorded run {last['run']}): {int(last['seconds']) / 60:.1f} min, "
        f"peak RSS {int(last['max_rss_kb']) / 1024 / 1024:.2f} GiB "
        f"(GOCACHE {last['gocache_mb_before']} MB / GOMODCACHE {last['gomodcache_mb_before']} MB "
        "at start; near zero means cold)"
    )
    _print_steps(_cache_dir() / "bin" / "build-log.tsv", run=last["run"])


def _print_steps(log: Path, *, run: str | None) -> None:
    """Print the per-component rows of ``log`` (only those of ``run`` unless it is None)."""
    if not log.is_file():
        return
    with log.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if run is None or row.get("run") == run:
                print(
                    f"  {row['component']:<14} {row['version']:<9} {float(row['seconds']):7.1f} s"
                    f"  peak RSS {int(row['max_rss_kb']) / 1024:6.0f} MiB"
                )


def fresh_cold_build() -> None:
    """Build everything into an empty temporary cache and print time and peak RSS."""
    with tempfile.TemporaryDirectory(prefix="localcluster-cold-", dir=ROOT / ".cache") as tmp:
        env = {
            **os.environ,
            "LOCALCLUSTER_CACHE": tmp,
            "GOMODCACHE": f"{tmp}/go/mod",
            "GOCACHE": f"{tmp}/go/build",
        }
        began = time.monotonic()
        result = subprocess.run(
            ["/usr/bin/time", "-v", str(BUILD_SH)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.monotonic() - began
        if result.returncode != 0:
            sys.stderr.write(result.stderr[-4000:])
            raise SystemExit(f"cold build failed with code {result.returncode}")
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)
        rss_gib = int(match.group(1)) / 1024 / 1024 if match else float("nan")
        print(
            f"cold build (fresh, empty caches incl. module downloads): {elapsed / 60:.1f} min, "
            f"peak RSS {rss_gib:.2f} GiB"
        )
        _print_steps(Path(tmp) / "bin" / "build-log.tsv", run=None)
        # module cache files are read-only; make them removable
        subprocess.run(["chmod", "-R", "u+w", tmp], check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def warm_starts(count: int) -> None:
    """Start and stop the cluster ``count`` times; print each and the median start time."""
    binaries = Binaries.locate()
    times = []
    for _ in range(count):
        with tempfile.TemporaryDirectory(prefix="localcluster-bench-") as tmp:
            cluster = LocalCluster(state_dir=Path(tmp), binaries=binaries)
            with cluster as info:
                times.append(info.startup_seconds)
    shown = ", ".join(f"{t:.1f}" for t in times)
    print(
        f"warm start ({binaries.kubernetes_version}, all 5 components healthy): "
        f"median {statistics.median(times):.1f} s over {count} ({shown})"
    )


def main() -> None:
    """Parse flags and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold-build", action="store_true", help="perform a fresh cold build")
    parser.add_argument("--starts", type=int, default=3, help="warm starts to time (default 3)")
    args = parser.parse_args()
    if args.cold_build:
        fresh_cold_build()
    else:
        recorded_cold_build()
    if args.starts > 0:
        warm_starts(args.starts)


if __name__ == "__main__":
    main()
