"""The faults document: the schema the README shows loads, bad documents are refused with the
reason, and merging replaces top-level keys."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from aks_emulator import Faults, FaultsError, load_faults

if TYPE_CHECKING:
    from pathlib import Path

README_EXAMPLE = """\
latency: {"agentPools.createOrUpdate": 0.5, "*": [0.01, 0.05]}
throttle: {rate: 0.2, retry_after_seconds: 1, operations: ["agentPools.*"], times: 3}
server_errors: {rate: 0.1, statuses: [500, 503], operations: ["*"]}
failed_operations: [{pool: "ws*", operation: create, code: ZonalAllocationFailed, times: 1}]
stuck_operations: [{pool: "*", operation: delete}]
never_join: ["wsghost*"]
quota: {standardNCSv3Family: 24, cores: 100}
unavailable_skus: [{vm_size: Standard_NC24ads_A100_v4}, {vm_size: Standard_NC6s_v3, zones: ["1"]}]
"""


def test_the_documented_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text(README_EXAMPLE, encoding="utf-8")
    faults = load_faults(path)
    assert faults.latency_for("agentPools.createOrUpdate") == 0.5
    assert faults.latency_for("resourceSkus.list") == (0.01, 0.05)
    assert faults.throttle is not None
    assert faults.throttle.times == 3
    assert faults.failure_for("ws123", "create") is not None
    assert faults.failure_for("ws123", "delete") is None
    assert faults.is_stuck("anything", "delete")
    assert not faults.is_stuck("anything", "create")
    assert faults.never_joins("wsghost1")
    assert faults.quota_for("STANDARDNCSV3FAMILY") == 24
    assert faults.restricted_zones("standard_nc24ads_a100_v4") == ()
    assert faults.restricted_zones("Standard_NC6s_v3") == ("1",)
    assert faults.restricted_zones("Standard_NC12s_v3") is None
    assert Faults.from_mapping(faults.to_json()) == faults


@pytest.mark.parametrize(
    "document",
    [
        {"throttle": {"rate": 1.5}},
        {"throttle": {"rate": 0.5, "retry_after_seconds": 0}},
        {"server_errors": {"rate": 0.5, "statuses": [404]}},
        {"latency": {"*": [0.5, 0.1]}},
        {"latency": {"*": -1}},
        {"failed_operations": [{"operation": "scale"}]},
        {"quota": {"cores": -1}},
        {"unknown_fault": True},
    ],
)
def test_bad_documents_are_refused(document: dict[str, Any]) -> None:
    with pytest.raises(FaultsError):
        Faults.from_mapping(document)


def test_merge_replaces_top_level_keys() -> None:
    faults = Faults.from_mapping({"quota": {"cores": 10}, "never_join": ["a"]})
    merged = faults.merged({"never_join": None, "quota": {"standardNCSv3Family": 6}})
    assert merged.never_join == ()
    assert merged.quota == {"standardNCSv3Family": 6}
    assert Faults().to_json() == {}


def test_the_command_line_refuses_a_bad_faults_file(tmp_path: Path) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text("throttle: {rate: 3}\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "aks_emulator", "--faults", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "throttle.rate" in result.stderr
    assert result.stdout == ""
