"""Every metric the kit exports, declared once, with controller-runtime's and client-go's names.

Names and labels match controller-runtime (``controller_runtime_reconcile_total{controller,result}``
...) and its work-queue metrics (``workqueue_depth{controller,name}`` ...), so dashboards built for
Go controllers work unchanged. Labels are bounded: a controller name and a small result enum,
never an object's name.
"""

from __future__ import annotations

import prometheus_client

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
    MAX_CONCURRENT_RECONCILES.labels(controller=controller).set(max_concurrent)
    ACTIVE_WORKERS.labels(controller=controller).set(0)
