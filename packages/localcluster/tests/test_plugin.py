"""The pytest plugin without binaries: skip locally, fail under CI=true; marker registered."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

TEST_USING_CLUSTER = """
def test_needs_cluster(kube_cluster):
    raise AssertionError("must not run without binaries")

def test_plain():
    pass
"""


def _no_binaries(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALCLUSTER_CACHE", str(pytester.path / "empty-cache"))
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(TEST_USING_CLUSTER)


def test_missing_binaries_skip_outside_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_binaries(pytester, monkeypatch)
    monkeypatch.delenv("CI", raising=False)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*localcluster-build*"])


def test_missing_binaries_fail_in_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_binaries(pytester, monkeypatch)
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*CI=true and local control-plane binaries are not built*"])
    assert result.ret != 0


def test_cluster_marker_is_registered_and_applied(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_binaries(pytester, monkeypatch)
    monkeypatch.delenv("CI", raising=False)
    result = pytester.runpytest("--strict-markers", "-m", "not cluster")
    result.assert_outcomes(passed=1, deselected=1)
