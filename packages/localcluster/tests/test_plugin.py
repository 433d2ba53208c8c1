"""The pytest plugin without binaries: skip locally, fail under CI=true; marker registered.

Each case runs a throw-away pytest session in a subprocess (the plugin loads through its
``pytest11`` entry point there, exactly as in a real run) against an empty binary cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

TEST_USING_CLUSTER = """
def test_needs_cluster(kube_cluster):
    raise AssertionError("must not run without binaries")

def test_plain():
    pass
"""


TEST_USING_KARPENTER_CLUSTER = """
def test_needs_karpenter(karpenter_kwok_cluster):
    raise AssertionError("must not run without binaries")

def test_plain():
    pass
"""


def _run(
    tmp_path: Path, *args: str, ci: str | None, source: str = TEST_USING_CLUSTER
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_inner.py").write_text(source)
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "PYTEST_ADDOPTS"}}
    env["LOCALCLUSTER_CACHE"] = str(tmp_path / "empty-cache")
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_missing_binaries_skip_outside_ci(tmp_path: Path) -> None:
    result = _run(tmp_path, ci=None)
    assert result.returncode == 0, result.stdout
    assert "1 passed, 1 skipped" in result.stdout
    assert "make localcluster-build" in result.stdout


def test_missing_binaries_fail_in_ci(tmp_path: Path) -> None:
    result = _run(tmp_path, ci="true")
    assert result.returncode == 1, result.stdout
    assert "1 passed, 1 error" in result.stdout
    assert "CI=true and local control-plane binaries are not built" in result.stdout


def test_cluster_marker_is_registered_and_applied(tmp_path: Path) -> None:
    result = _run(tmp_path, "--strict-markers", "-m", "not cluster", ci=None)
    assert result.returncode == 0, result.stdout
    assert "1 passed, 1 deselected" in result.stdout


def test_karpenter_cluster_fails_in_ci_and_is_marked(tmp_path: Path) -> None:
    failed = _run(tmp_path, ci="true", source=TEST_USING_KARPENTER_CLUSTER)
    assert failed.returncode == 1, failed.stdout
    assert "1 passed, 1 error" in failed.stdout
    assert "CI=true and" in failed.stdout
    deselected = _run(tmp_path, "-m", "not cluster", ci=None, source=TEST_USING_KARPENTER_CLUSTER)
    assert deselected.returncode == 0, deselected.stdout
    assert "1 passed, 1 deselected" in deselected.stdout
