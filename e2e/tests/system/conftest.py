"""One whole product for this directory's tests: a control plane of its own (the charts'
cluster-scoped objects must not meet other tests' leftovers), the AKS emulator, both charts,
two replicas of each controller under the charts' ServiceAccounts, and Prometheus."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
from kaito_stack import Stack, StackOptions

from localcluster import Binaries, BinariesMissingError, LocalCluster

if TYPE_CHECKING:
    from collections.abc import Iterator

# Short leases, so a killed leader is replaced in seconds (set through the charts' values).
OPTIONS = StackOptions(
    replicas=2,
    prometheus=True,
    lease_duration_seconds=6,
    renew_deadline_seconds=4,
    retry_period_seconds=1,
)


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    try:
        binaries = Binaries.locate()
    except BinariesMissingError as exc:
        if os.environ.get("CI", "").lower() in {"true", "1", "yes"}:
            pytest.fail(f"CI=true and {exc}", pytrace=False)
        pytest.skip(str(exc))
    cluster = LocalCluster(state_dir=tmp_path_factory.mktemp("e2e-cluster"), binaries=binaries)
    with cluster as info, Stack(info, binaries, tmp_path_factory.mktemp("e2e-stack"), OPTIONS) as s:
        yield s
