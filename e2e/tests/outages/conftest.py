"""A whole product on a control plane of its own, whose kube-apiserver and etcd the tests stop:
the AKS emulator, both charts, two replicas of each controller (no Prometheus)."""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING

import pytest
from kaito_stack import Stack, StackOptions

from localcluster import Binaries, BinariesMissingError, LocalCluster

if TYPE_CHECKING:
    from collections.abc import Iterator

# Short leases (through the charts' values), so leadership moves within seconds of an outage.
OPTIONS = StackOptions(
    replicas=2,
    lease_duration_seconds=6,
    renew_deadline_seconds=4,
    retry_period_seconds=1,
)


@dataclasses.dataclass(frozen=True)
class OutageStack:
    cluster: LocalCluster
    stack: Stack


@pytest.fixture(scope="package")
def outage_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OutageStack]:
    try:
        binaries = Binaries.locate()
    except BinariesMissingError as exc:
        if os.environ.get("CI", "").lower() in {"true", "1", "yes"}:
            pytest.fail(f"CI=true and {exc}", pytrace=False)
        pytest.skip(str(exc))
    cluster = LocalCluster(state_dir=tmp_path_factory.mktemp("outage-cluster"), binaries=binaries)
    with (
        cluster as info,
        Stack(info, binaries, tmp_path_factory.mktemp("outage-stack"), OPTIONS) as stack,
    ):
        yield OutageStack(cluster=cluster, stack=stack)
