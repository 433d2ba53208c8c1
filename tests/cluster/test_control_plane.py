"""The control plane itself: the version we pinned, and nothing listening beyond loopback.

Why: the version ldflags are easy to lose (an unstamped build reports v0.0.0, which breaks Helm's
kubeVersion checks and clients' feature detection), and the promise that every component binds to
127.0.0.1 only holds if each one's flags are right, so both are checked on the running processes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from localcluster import Binaries, read_state, request

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

    from localcluster import ClusterInfo

pytestmark = pytest.mark.cluster

_LOOPBACK_V4 = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it
_LOOPBACK_V6 = {"00000000000000000000000001000000", "0000000000000000FFFF00000100007F"}
_TCP_LISTEN = "0A"


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _bound_sockets() -> dict[str, tuple[str, str, str]]:
    """inode -> (table, local address hex, state) for every IPv4/IPv6 TCP and UDP socket."""
    sockets = {}
    for table in ("tcp", "tcp6", "udp", "udp6"):
        lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            address, state, inode = fields[1].split(":")[0], fields[3], fields[9]
            sockets[inode] = (table, address, state)
    return sockets


async def test_server_reports_pinned_version(kube_api: ApiClient) -> None:
    version = await request(kube_api, "GET", "/version")
    assert version["gitVersion"] == Binaries.locate().kubernetes_version
    assert version["gitTreeState"] == "clean"


def test_every_component_listens_on_loopback_only(kube_cluster: ClusterInfo) -> None:
    records, _ = read_state(kube_cluster.state_dir)
    assert {r.name for r in records} == {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
    }
    sockets = _bound_sockets()
    listeners: dict[str, list[str]] = {}
    offenders = []
    for record in records:
        for inode in _socket_inodes(record.pid):
            if inode not in sockets:
                continue  # unix socket
            table, address, state = sockets[inode]
            if table.startswith("tcp") and state != _TCP_LISTEN:
                continue  # an outgoing connection, not a listener
            listeners.setdefault(record.name, []).append(address)
            if address != _LOOPBACK_V4 and address not in _LOOPBACK_V6:
                offenders.append((record.name, table, address))
    assert not offenders, f"bound beyond loopback: {offenders}"
    # each component serves something (its API or health endpoint), so the check is not vacuous
    assert set(listeners) == {r.name for r in records}, listeners
