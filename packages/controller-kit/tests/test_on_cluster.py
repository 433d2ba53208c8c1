"""Informers, events, leader election and the probe server against the real API server."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest

from controller_kit import (
    Controller,
    EventRecorder,
    Informer,
    ProbeServer,
    Request,
    Result,
    resources,
    run_as_leader,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from kubernetes_asyncio.client import ApiClient


async def _eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    async with asyncio.timeout(timeout):
        while not (value := check()):
            await asyncio.sleep(0.02)
    return value


async def test_informer_lists_then_follows_adds_updates_and_deletes(
    kube_api: ApiClient, kube_namespace: str
) -> None:
    configmaps = resources.CONFIGMAPS
    await resources.create(
        kube_api, configmaps, {"metadata": {"name": "before", "namespace": kube_namespace}}
    )
    informer = Informer(kube_api, configmaps, namespace=kube_namespace)
    seen: list[tuple[str, str]] = []
    informer.add_handler(
        lambda event, old, new: seen.append((event, (new or old or {})["metadata"]["name"]))
    )
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.synced.wait(), 10)
        assert informer.get("before", kube_namespace) is not None
        await resources.create(
            kube_api,
            configmaps,
            {"metadata": {"name": "after", "namespace": kube_namespace}, "data": {"k": "1"}},
        )
        await _eventually(lambda: informer.get("after", kube_namespace))
        await resources.patch(
            kube_api, configmaps, "after", {"data": {"k": "2"}}, namespace=kube_namespace
        )
        await _eventually(
            lambda: (informer.get("after", kube_namespace) or {}).get("data", {}).get("k") == "2"
        )
        await resources.delete(kube_api, configmaps, "before", namespace=kube_namespace)
        await _eventually(lambda: informer.get("before", kube_namespace) is None)
        assert informer.list(namespace=kube_namespace)[0]["kind"] == "ConfigMap"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert ("ADDED", "before") in seen
    assert ("ADDED", "after") in seen
    assert ("MODIFIED", "after") in seen
    assert ("DELETED", "before") in seen


async def test_informer_resumes_after_the_watch_times_out(
    kube_api: ApiClient, kube_namespace: str
) -> None:
    informer = Informer(
        kube_api, resources.CONFIGMAPS, namespace=kube_namespace, watch_timeout_seconds=(1, 1)
    )
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.synced.wait(), 10)
        await asyncio.sleep(1.5)  # the server has closed the first watch by now
        await resources.create(
            kube_api,
            resources.CONFIGMAPS,
            {"metadata": {"name": "late", "namespace": kube_namespace}},
        )
        await _eventually(lambda: informer.get("late", kube_namespace))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Recorder:
    def __init__(self) -> None:
        self.requests: list[Request] = []

    async def reconcile(self, request: Request) -> Result:
        self.requests.append(request)
        return Result()


async def test_controller_reconciles_each_watched_object(
    kube_api: ApiClient, kube_namespace: str
) -> None:
    informer = Informer(kube_api, resources.CONFIGMAPS, namespace=kube_namespace)
    recorder = Recorder()
    controller = Controller(name="test.configmaps", reconciler=recorder)
    controller.watch(informer)
    tasks = [asyncio.create_task(informer.run()), asyncio.create_task(controller.run())]
    try:
        await resources.create(
            kube_api, resources.CONFIGMAPS, {"metadata": {"name": "x", "namespace": kube_namespace}}
        )
        await _eventually(lambda: Request(kube_namespace, "x") in recorder.requests)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_repeated_events_are_aggregated(kube_api: ApiClient, kube_namespace: str) -> None:
    cm = await resources.create(
        kube_api,
        resources.CONFIGMAPS,
        {"metadata": {"name": "subject", "namespace": kube_namespace}},
    )
    recorder = EventRecorder(kube_api, component="test-controller")
    for _ in range(3):
        await recorder.record(cm, type_="Warning", reason="QuotaExceeded", message="no vCPUs left")
    await recorder.record(cm, type_="Normal", reason="Created", message="made it")
    events = (
        await resources.call(kube_api, "GET", resources.EVENTS.path(namespace=kube_namespace))
    )["items"]
    by_reason = {e["reason"]: e for e in events}
    assert by_reason["QuotaExceeded"]["count"] == 3
    assert by_reason["QuotaExceeded"]["involvedObject"]["uid"] == cm["metadata"]["uid"]
    assert by_reason["Created"]["count"] == 1
    assert by_reason["Created"]["source"]["component"] == "test-controller"


async def test_only_one_candidate_leads_and_another_takes_over(
    kube_api_client_factory: Callable[[], ApiClient], kube_namespace: str
) -> None:
    leading: list[str] = []

    def candidate(identity: str) -> asyncio.Task[None]:
        async def work() -> None:
            leading.append(identity)
            await asyncio.Event().wait()

        return asyncio.create_task(
            run_as_leader(
                kube_api_client_factory(),
                work,
                lease_name="test-lease",
                namespace=kube_namespace,
                identity=identity,
                lease_duration_seconds=8.0,
                renew_deadline_seconds=6.0,
                retry_period_seconds=1.0,
            )
        )

    first = candidate("first")
    await _eventually(lambda: leading)
    second = candidate("second")
    await asyncio.sleep(1.5)
    assert leading == ["first"], "the second candidate must wait while the lease is held"
    first.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await first
    await _eventually(lambda: leading == ["first", "second"], timeout=30)
    second.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await second


async def test_probe_server_reports_readiness_and_metrics() -> None:
    ready = {"synced": False}
    server = ProbeServer(host="127.0.0.1", port=0, readiness={"caches": lambda: ready["synced"]})
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{server.port}"
            async with http.get(f"{base}/readyz") as response:
                assert response.status == 503
                assert "caches" in await response.text()
            ready["synced"] = True
            async with http.get(f"{base}/readyz") as response:
                assert response.status == 200
            async with http.get(f"{base}/healthz") as response:
                assert response.status == 200
            async with http.get(f"{base}/metrics") as response:
                assert "controller_runtime_reconcile_total" in await response.text()
    finally:
        await server.stop()


@pytest.fixture(autouse=True)
def _metrics_exist() -> None:
    Controller(name="test.metrics-exist", reconciler=Recorder())
