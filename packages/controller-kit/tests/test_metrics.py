"""The client-go and controller-runtime metrics beyond reconcile counts: in-flight work, panics,
API requests and leadership, under their upstream names and labels."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from typing import TYPE_CHECKING

import aiohttp
import prometheus_client
import pytest
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.client.exceptions import ApiException

from controller_kit import (
    Controller,
    FakeClock,
    LeaderElector,
    RateLimiter,
    Request,
    Result,
    WorkQueue,
    resources,
)
from localcluster import free_ports

if TYPE_CHECKING:
    from collections.abc import Callable


def _sample(metric: str, /, **labels: str) -> float | None:
    return prometheus_client.REGISTRY.get_sample_value(metric, labels)


async def test_in_flight_gauges_report_the_summed_and_the_longest_age_of_keys_being_processed() -> (
    None
):
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(name="test.in-flight", clock=clock)
    labels = {"controller": "test.in-flight", "name": "test.in-flight"}
    queue.add("a")
    queue.add("b")
    await queue.get()
    clock.advance(3.0)
    await queue.get()
    clock.advance(2.0)

    assert _sample("workqueue_unfinished_work_seconds", **labels) == pytest.approx(5.0 + 2.0)
    assert _sample("workqueue_longest_running_processor_seconds", **labels) == pytest.approx(5.0)

    queue.done("a")
    assert _sample("workqueue_unfinished_work_seconds", **labels) == pytest.approx(2.0)
    assert _sample("workqueue_longest_running_processor_seconds", **labels) == pytest.approx(2.0)
    queue.done("b")
    assert _sample("workqueue_unfinished_work_seconds", **labels) == 0.0
    assert _sample("workqueue_longest_running_processor_seconds", **labels) == 0.0


class _Raises:
    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors

    async def reconcile(self, request: Request) -> Result:
        if self.errors:
            raise self.errors.pop(0)
        return Result()


@pytest.mark.parametrize(
    ("error", "panics"),
    [
        (KeyError("spec"), 1.0),
        (TypeError("NoneType is not subscriptable"), 1.0),
        (ApiException(status=500, reason="Internal Server Error"), 0.0),
        (aiohttp.ClientConnectionError("reset"), 0.0),
        (ConnectionRefusedError(), 0.0),
        (TimeoutError(), 0.0),
    ],
)
async def test_a_bug_counts_as_a_panic_and_an_api_or_network_error_does_not(
    error: Exception, panics: float
) -> None:
    name = f"test.panic-{type(error).__name__}"
    reconciler = _Raises([error])
    controller = Controller(
        name=name, reconciler=reconciler, rate_limiter=RateLimiter(base_delay_seconds=0.001)
    )
    assert _sample("controller_runtime_reconcile_panics_total", controller=name) == 0.0
    controller.queue.add(Request("ns", "a"))
    task = asyncio.create_task(controller.run())
    try:
        async with asyncio.timeout(5):
            while not _sample(
                "controller_runtime_reconcile_total", controller=name, result="success"
            ):
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert _sample("controller_runtime_reconcile_panics_total", controller=name) == panics
    assert _sample("controller_runtime_reconcile_errors_total", controller=name) == 1.0


def _requests(code: str, method: str, host: str) -> float:
    return _sample("rest_client_requests_total", code=code, method=method, host=host) or 0.0


def _timed(verb: str, host: str) -> float:
    return _sample("rest_client_request_duration_seconds_count", verb=verb, host=host) or 0.0


async def test_every_api_request_is_counted_by_code_method_and_host_and_timed(
    kube_api: ApiClient, kube_namespace: str
) -> None:
    host = urllib.parse.urlsplit(str(kube_api.configuration.host)).netloc
    ok, missing, timed = (
        _requests("200", "GET", host),
        _requests("404", "GET", host),
        _timed("GET", host),
    )
    created = _requests("201", "POST", host)

    await resources.get(kube_api, resources.NODES, "")  # a list
    with pytest.raises(ApiException):
        await resources.get(kube_api, resources.CONFIGMAPS, "absent", kube_namespace)
    await resources.create(
        kube_api,
        resources.CONFIGMAPS,
        {"metadata": {"name": "counted", "namespace": kube_namespace}, "data": {}},
    )

    assert _requests("200", "GET", host) == ok + 1
    assert _requests("404", "GET", host) == missing + 1
    assert _requests("201", "POST", host) == created + 1
    assert _timed("GET", host) == timed + 2


async def test_a_request_that_gets_no_answer_is_counted_with_code_error(
    kube_api: ApiClient,
) -> None:
    (port,) = free_ports(1)  # nothing listens there
    configuration = Configuration(host=f"https://127.0.0.1:{port}")
    configuration.ssl_ca_cert = kube_api.configuration.ssl_ca_cert
    host = f"127.0.0.1:{port}"
    async with ApiClient(configuration=configuration) as dead:
        with pytest.raises(aiohttp.ClientError):
            await resources.get(dead, resources.NODES, "")
    assert _requests("<error>", "GET", host) == 1.0
    assert _timed("GET", host) == 1.0


async def test_the_leader_gauge_is_one_while_leading_and_zero_otherwise(
    kube_api_client_factory: Callable[[], ApiClient], kube_namespace: str
) -> None:
    lease = f"metrics-{kube_namespace}"
    elector = LeaderElector(
        kube_api_client_factory(),
        lease_name=lease,
        namespace=kube_namespace,
        identity="only",
        lease_duration_seconds=8.0,
        renew_deadline_seconds=6.0,
        retry_period_seconds=1.0,
    )
    assert _sample("leader_election_master_status", name=lease) == 0.0
    seen: list[float | None] = []

    async def work() -> None:
        seen.append(_sample("leader_election_master_status", name=lease))

    await elector.run(work)
    assert seen == [1.0]
    assert _sample("leader_election_master_status", name=lease) == 0.0


async def test_queues_sharing_a_name_report_one_series() -> None:
    clock = FakeClock()
    first: WorkQueue[str] = WorkQueue(name="test.shared", clock=clock)
    second: WorkQueue[str] = WorkQueue(name="test.shared", clock=clock)
    first.add("a")
    second.add("b")
    await first.get()
    clock.advance(1.0)
    await second.get()
    clock.advance(1.0)
    text = prometheus_client.generate_latest().decode()
    series = [
        line
        for line in text.splitlines()
        if line.startswith("workqueue_unfinished_work_seconds{") and '"test.shared"' in line
    ]
    assert len(series) == 1
    labels = {"controller": "test.shared", "name": "test.shared"}
    assert _sample("workqueue_unfinished_work_seconds", **labels) == pytest.approx(3.0)
    assert _sample("workqueue_longest_running_processor_seconds", **labels) == pytest.approx(2.0)
