"""``python -m localcluster up|status|down``: what ``make cluster`` / ``make cluster-down`` run.

Why: the demo relies on a detached cluster that outlives the command which started it, and on
``down`` stopping exactly the recorded processes. This starts a second, independent cluster in a
temporary state directory (ports are picked at start, so it does not disturb the session one).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from localcluster import read_state
from localcluster._processes import is_ours

if TYPE_CHECKING:
    from localcluster import ClusterInfo, ProcessRecord

pytestmark = pytest.mark.cluster


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "localcluster", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )


def test_up_status_down(kube_cluster: ClusterInfo, tmp_path: Path) -> None:
    state = tmp_path / "state"
    records: list[ProcessRecord] = []
    try:
        up = _cli("up", "--state-dir", str(state))
        assert up.returncode == 0, up.stderr
        kubeconfig = Path(up.stdout.strip())
        assert kubeconfig == state / "kubeconfig"
        assert kubeconfig.is_file()
        assert "started in" in up.stderr

        records, info = read_state(state)
        assert info is not None
        assert info.server != kube_cluster.server
        assert len(records) == 5
        assert all(is_ours(r) for r in records)

        again = _cli("up", "--state-dir", str(state))
        assert again.returncode == 0, again.stderr
        assert "already running" in again.stderr
        assert read_state(state)[0] == records  # nothing new was started

        status = _cli("status", "--state-dir", str(state))
        assert status.returncode == 0
        assert status.stdout.strip() == str(kubeconfig)
    finally:
        down = _cli("down", "--state-dir", str(state))
    assert down.returncode == 0, down.stderr
    assert "stopped 5 process(es)" in down.stderr
    assert records
    assert not any(is_ours(r) for r in records)
    assert _cli("status", "--state-dir", str(state)).returncode == 1
