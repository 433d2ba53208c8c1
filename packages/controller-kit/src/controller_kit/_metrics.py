"""Every metric the kit exports, declared once, with controller-runtime's and client-go's names.

Names and labels match controller-runtime (``controller_runtime_reconcile_total{controller,result}``
...) and its work-queue metrics (``workqueue_depth{controller,name}`` ...), so dashboards built for
Go controllers work unchanged. Labels are bounded: a controller name and a small result enum,
never an object's name.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Protocol

import prometheus_client
from prometheus_client.core import GaugeMetricFamily

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

RECONCILE_TOTAL = prometheus_client.Counter(
    "controller_runtime_reconcile_total",
    "Total number of reconciliations per controller",
    ["controller", "result"],
)
RECONCILE_ERRORS = prometheus_client.Counter(
    "controller_runtime_reconcile_errors_total",
    "Total number of reconciliation errors per controller",
    ["controller"],
)
TERMINAL_RECONCILE_ERRORS = prometheus_client.Counter(
    "controller_runtime_terminal_reconcile_errors_total",
    "Total number of terminal reconciliation errors per controller",
    ["controller"],
)
RECONCILE_TIME = prometheus_client.Histogram(
    "controller_runtime_reconcile_time_seconds",
    "Length of time per reconciliation per controller",
    ["controller"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6,
             0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9,
             10, 15, 20, 25, 30, 40, 50, 60),
)  # fmt: skip
MAX_CONCURRENT_RECONCILES = prometheus_client.Gauge(
    "controller_runtime_max_concurrent_reconciles",
    "Maximum number of concurrent reconciles per controller",
    ["controller"],
)
RECONCILE_PANICS = prometheus_client.Counter(
    "controller_runtime_reconcile_panics_total",
    "Total number of reconciliation panics per controller",
    ["controller"],
)
"""Python has no panics; the analogue counted here is a reconcile that raised an exception that
is neither an API error (``ApiException``), an unreachable endpoint (connection refused, reset,
timed out) nor a :class:`~controller_kit.TerminalError`: a bug such as a ``KeyError`` or
``TypeError``, the case logged with a traceback. It is counted as an error too."""
ACTIVE_WORKERS = prometheus_client.Gauge(
    "controller_runtime_active_workers",
    "Number of currently used workers per controller",
    ["controller"],
)

_QUEUE_LABELS = ["controller", "name"]
WORKQUEUE_DEPTH = prometheus_client.Gauge(
    "workqueue_depth", "Current depth of workqueue", _QUEUE_LABELS
)
WORKQUEUE_ADDS = prometheus_client.Counter(
    "workqueue_adds_total", "Total number of adds handled by workqueue", _QUEUE_LABELS
)
WORKQUEUE_RETRIES = prometheus_client.Counter(
    "workqueue_retries_total", "Total number of retries handled by workqueue", _QUEUE_LABELS
)
_QUEUE_BUCKETS = tuple(1e-8 * 10**i for i in range(12))  # 10ns .. 1000s, as client-go
WORKQUEUE_QUEUE_DURATION = prometheus_client.Histogram(
    "workqueue_queue_duration_seconds",
    "How long in seconds an item stays in workqueue before being requested",
    _QUEUE_LABELS,
    buckets=_QUEUE_BUCKETS,
)
WORKQUEUE_WORK_DURATION = prometheus_client.Histogram(
    "workqueue_work_duration_seconds",
    "How long in seconds processing an item from workqueue takes",
    _QUEUE_LABELS,
    buckets=_QUEUE_BUCKETS,
)


class InFlight(Protocol):
    """A work queue as the in-flight gauges see it."""

    name: str

    def in_flight_seconds(self) -> Sequence[float]:
        """For every key handed to a worker and not yet done, how long ago it was handed out."""
        ...


class _InFlightCollector:
    """``workqueue_unfinished_work_seconds`` (the summed age of the in-flight keys) and
    ``workqueue_longest_running_processor_seconds`` (the oldest one's), computed from the live
    queues at every scrape, so a stuck reconcile shows while it is stuck."""

    def __init__(self) -> None:
        self._queues: weakref.WeakSet[InFlight] = weakref.WeakSet()

    def track(self, queue: InFlight) -> None:
        self._queues.add(queue)

    def describe(self) -> list[GaugeMetricFamily]:
        return self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        unfinished, longest = self._families()
        ages: dict[str, list[float]] = {}  # by name: one series even if two queues share it
        for queue in list(self._queues):
            ages.setdefault(queue.name, []).extend(queue.in_flight_seconds())
        for name, seconds in sorted(ages.items()):
            unfinished.add_metric([name, name], float(sum(seconds)))
            longest.add_metric([name, name], float(max(seconds, default=0.0)))
        yield unfinished
        yield longest

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                "workqueue_unfinished_work_seconds",
                "How many seconds of work has been done that is in progress and hasn't been "
                "observed by work_duration",
                labels=_QUEUE_LABELS,
            ),
            GaugeMetricFamily(
                "workqueue_longest_running_processor_seconds",
                "How many seconds has the longest running processor for workqueue been running",
                labels=_QUEUE_LABELS,
            ),
        ]


_IN_FLIGHT = _InFlightCollector()
prometheus_client.REGISTRY.register(_IN_FLIGHT)


def track_queue(queue: InFlight) -> None:
    """Report ``queue``'s in-flight gauges for as long as it lives."""
    _IN_FLIGHT.track(queue)


LEADER = prometheus_client.Gauge(
    "leader_election_master_status",
    "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, "
    "1 indicates master. 'name' is the string used to identify the lease.",
    ["name"],
)

REST_CLIENT_REQUESTS = prometheus_client.Counter(
    "rest_client_requests_total",
    "Number of HTTP requests, partitioned by status code, method, and host.",
    ["code", "method", "host"],
)
REST_CLIENT_DURATION = prometheus_client.Histogram(
    "rest_client_request_duration_seconds",
    "Request latency in seconds. Broken down by verb, and host.",
    ["verb", "host"],
    buckets=(0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0),
)
REST_CLIENT_ERROR_CODE = "<error>"
"""The ``code`` of a request that got no HTTP answer (refused, reset, timed out), as client-go."""

RESULT_SUCCESS = "success"
RESULT_ERROR = "error"
RESULT_REQUEUE_AFTER = "requeue_after"
RESULTS = (RESULT_SUCCESS, RESULT_ERROR, RESULT_REQUEUE_AFTER, "requeue")


def init_controller(controller: str, max_concurrent: int) -> None:
    """Pre-create a controller's series so dashboards show zeros rather than gaps."""
    for result in RESULTS:
        RECONCILE_TOTAL.labels(controller=controller, result=result)
    RECONCILE_ERRORS.labels(controller=controller)
    TERMINAL_RECONCILE_ERRORS.labels(controller=controller)
    RECONCILE_PANICS.labels(controller=controller)
    MAX_CONCURRENT_RECONCILES.labels(controller=controller).set(max_concurrent)
    ACTIVE_WORKERS.labels(controller=controller).set(0)
