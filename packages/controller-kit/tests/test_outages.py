"""An unreachable API server costs leadership, never the process; a stopped leader hands over.

The outage is a TCP proxy in front of the shared test cluster's kube-apiserver that the test cuts
(open connections reset, new ones refused) and restores on the same port, so nothing of the
shared cluster is stopped. The whole control plane going down is proven end to end by
``e2e/tests/outages``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import urllib.parse
from typing import TYPE_CHECKING

import pytest

from controller_kit import Informer, LeaderElector, StandbyReadiness, resources
from localcluster import free_ports, new_api_client

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from kubernetes_asyncio.client import ApiClient

    from localcluster import ClusterInfo

DURATION_SECONDS, RENEW_DEADLINE_SECONDS, RETRY_SECONDS = 4.0, 3.0, 1.0


def _elector(api: ApiClient, namespace: str, lease: str, identity: str) -> LeaderElector:
    return LeaderElector(
        api,
        lease_name=lease,
        namespace=namespace,
        identity=identity,
        lease_duration_seconds=DURATION_SECONDS,
        renew_deadline_seconds=RENEW_DEADLINE_SECONDS,
        retry_period_seconds=RETRY_SECONDS,
    )


class Outage:
    """A TCP proxy to the API server that can be cut and restored on the same port."""

    def __init__(self, upstream: str) -> None:
        url = urllib.parse.urlsplit(upstream)
        self._upstream = (url.hostname or "127.0.0.1", url.port or 443)
        (self.port,) = free_ports(1)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task[None]] = set()

    async def restore(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._connections):
            writer.transport.abort()
        self._connections.clear()

    async def close(self) -> None:
        await self.cut()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.transport.abort()
            return
        self._connections.update((writer, up_writer))
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            pipe = asyncio.create_task(self._pipe(source, sink))
            self._pipes.add(pipe)
            pipe.add_done_callback(self._pipes.discard)

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        sink.transport.abort()


@pytest.fixture
async def outage(kube_cluster: ClusterInfo) -> AsyncIterator[Outage]:
    proxy = Outage(kube_cluster.server)
    await proxy.restore()
    yield proxy
    await proxy.close()


@pytest.fixture
async def proxied_api(kube_cluster: ClusterInfo, outage: Outage) -> AsyncIterator[ApiClient]:
    client = new_api_client(
        dataclasses.replace(kube_cluster, server=f"https://127.0.0.1:{outage.port}")
    )
    yield client
    await client.close()


async def _eventually(check: Callable[[], object], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


class Terms:
    """Work that records when each leadership term starts and ends."""

    def __init__(self) -> None:
        self.started: list[float] = []
        self.ended: list[float] = []

    def leading(self) -> bool:
        return len(self.started) > len(self.ended)

    async def __call__(self) -> None:
        self.started.append(time.monotonic())
        try:
            await asyncio.Event().wait()
        finally:
            self.ended.append(time.monotonic())


async def test_a_leader_cut_off_from_the_api_server_stops_by_its_renew_deadline_and_leads_again(
    proxied_api: ApiClient, outage: Outage, kube_namespace: str
) -> None:
    elector = _elector(proxied_api, kube_namespace, "outage", "only")
    readiness = StandbyReadiness(elector=elector)
    terms = Terms()
    stop = asyncio.Event()
    running = asyncio.create_task(elector.run(readiness.leading(terms), stop=stop))
    try:
        await _eventually(lambda: terms.started)
        assert readiness()
        cut_at = time.monotonic()
        await outage.cut()
        await _eventually(lambda: terms.ended)
        stopped_after = terms.ended[0] - cut_at
        print(f"leader cut off: stopped leading {stopped_after:.2f}s after the outage began")
        assert stopped_after <= RENEW_DEADLINE_SECONDS + 0.5
        await _eventually(lambda: not readiness())
        await asyncio.sleep(DURATION_SECONDS)  # well past the Lease's expiry
        assert not running.done(), "an unreachable API server must not end the elector"
        assert not terms.leading()
        await outage.restore()
        await _eventually(lambda: len(terms.started) == 2)
        assert elector.leading
        await _eventually(readiness)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)


async def test_a_standby_keeps_trying_through_an_outage_and_takes_over_when_released(
    kube_api: ApiClient, proxied_api: ApiClient, outage: Outage, kube_namespace: str
) -> None:
    leader = _elector(kube_api, kube_namespace, "handover", "leader")
    standby = _elector(proxied_api, kube_namespace, "handover", "standby")
    leader_terms, standby_terms = Terms(), Terms()
    leader_stop, standby_stop = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(leader.run(leader_terms, stop=leader_stop))
    await _eventually(lambda: leader_terms.started)
    second = asyncio.create_task(standby.run(standby_terms, stop=standby_stop))
    try:
        await outage.cut()
        await asyncio.sleep(3 * RETRY_SECONDS)
        assert not second.done(), "an unreachable API server must not end a standby"
        assert not standby.healthy()
        await outage.restore()
        await _eventually(standby.healthy)
        await asyncio.sleep(2 * RETRY_SECONDS)  # watching the held Lease now
        assert not standby_terms.started, "the Lease is held and renewed"
        stop_at = time.monotonic()
        leader_stop.set()
        await asyncio.wait_for(first, 10)
        await _eventually(lambda: standby_terms.started)
        took = standby_terms.started[0] - stop_at
        print(f"standby leads {took:.3f}s after the leader was told to stop")
        assert took < 2.0
        lease = await resources.get(kube_api, resources.LEASES, "handover", kube_namespace)
        assert lease["spec"]["holderIdentity"] == "standby"
        assert lease["spec"]["leaseTransitions"] == 1  # created by the leader, taken by the standby
    finally:
        leader_stop.set()
        standby_stop.set()
        await asyncio.gather(first, second)


async def test_an_informer_survives_an_outage_and_catches_up(
    kube_api: ApiClient, proxied_api: ApiClient, outage: Outage, kube_namespace: str
) -> None:
    informer = Informer(proxied_api, resources.CONFIGMAPS, namespace=kube_namespace)
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.synced.wait(), 10)
        await outage.cut()
        await _eventually(lambda: not informer.synced.is_set())
        await resources.create(
            kube_api,
            resources.CONFIGMAPS,
            {"metadata": {"name": "made-during-outage", "namespace": kube_namespace}},
        )
        await asyncio.sleep(1)
        assert not task.done(), "connection errors never end an informer"
        await outage.restore()
        await _eventually(lambda: informer.get("made-during-outage", kube_namespace))
        assert informer.synced.is_set()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
