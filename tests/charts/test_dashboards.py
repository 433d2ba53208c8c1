"""Every metric the Grafana dashboards query is one that is actually exported: a controller's
dashboard uses its controller's metrics; the serving dashboard (shipped with the
workspace-controller chart) uses vLLM's ``vllm:*`` metrics and the model runtime's own, and is the
only dashboard that may use vLLM's."""

from __future__ import annotations

import importlib
import json
import re
from typing import Any

import pytest
from prometheus_client.metrics import MetricWrapperBase

MODULES = {
    "workspace-controller": ["controller_kit._metrics", "workspace_controller.metrics"],
    "gpu-provisioner": [
        "controller_kit._metrics",
        "gpu_provisioner.metrics",
        "gpu_provisioner.cloudprovider.metrics",
    ],
}
KIT = {
    "leader_election_master_status",
    "controller_runtime_reconcile_panics_total",
    "rest_client_requests_total",
    "workqueue_longest_running_processor_seconds",
    "workqueue_unfinished_work_seconds",
}
"""controller-kit's metrics every controller dashboard shows (leadership, bugs, API traffic,
stuck reconciles)."""
MUST_SHOW = {
    "workspace-controller": {
        "controller_runtime_reconcile_total",
        "controller_runtime_reconcile_errors_total",
        "controller_runtime_reconcile_time_seconds_bucket",
        "workqueue_depth",
        "kaito_workspace_count",
        *KIT,
    },
    "gpu-provisioner": {
        "controller_runtime_reconcile_total",
        "controller_runtime_reconcile_errors_total",
        "workqueue_depth",
        "karpenter_nodeclaims_created_total",
        "karpenter_nodeclaims_terminated_total",
        *KIT,
    },
}
SERVING = ("workspace-controller", "serving.json")
"""The dashboard of the inference (and tuning) pods the workspace-controller creates."""
SERVING_MODULES = ["model_runtime.metrics"]
VLLM_METRICS = {
    # vLLM's own names (vLLM is not a dependency here, so they are listed): gauges, then the
    # histograms' and counters' sample names. gpu_cache_usage_perc became kv_cache_usage_perc.
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:gpu_cache_usage_perc",
    "vllm:kv_cache_usage_perc",
    *(
        f"vllm:{histogram}_{suffix}"
        for histogram in ("time_to_first_token_seconds", "e2e_request_latency_seconds")
        for suffix in ("bucket", "sum", "count")
    ),
    "vllm:prompt_tokens_total",
    "vllm:generation_tokens_total",
}
SERVING_MUST_SHOW = {
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
    "vllm:gpu_cache_usage_perc",
    "vllm:time_to_first_token_seconds_bucket",
    "vllm:e2e_request_latency_seconds_bucket",
    "vllm:prompt_tokens_total",
    "vllm:generation_tokens_total",
    "model_runtime_requests_total",
    "model_runtime_request_duration_seconds_bucket",
    "model_runtime_model_ready",
}
PROMQL_WORDS = {"sum", "max", "rate", "increase", "histogram_quantile", "by", "or"}
SUFFIXES = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}


def exported(chart: str) -> set[str]:
    """Sample names of every metric the chart's controller defines."""
    return exported_by(MODULES[chart])


def exported_by(modules: list[str]) -> set[str]:
    """Sample names of every metric the modules define."""
    names = set()
    for module in modules:
        for value in vars(importlib.import_module(module)).values():
            # A metric, or a collector computing its families at scrape time.
            collector = not isinstance(value, type) and callable(getattr(value, "describe", None))
            if isinstance(value, MetricWrapperBase) or collector:
                for family in value.describe():
                    names |= {family.name + s for s in SUFFIXES[family.type]}
    return names


def metric_names(expr: str) -> set[str]:
    """Identifiers in a PromQL expression that are neither functions, labels nor variables."""
    for pattern in (r"\{[^}]*\}", r"\[[^\]]*\]", r"\bby \([^)]*\)", r'"[^"]*"', r"\$\w+"):
        expr = re.sub(pattern, " ", expr)
    words = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr))
    return words - PROMQL_WORDS


def expressions(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def used_names(dashboard: dict[str, Any], known: set[str]) -> set[str]:
    """The metric names the dashboard's queries use, each checked to be in ``known``."""
    used: set[str] = set()
    for expr in expressions(dashboard):
        names = metric_names(expr)
        assert names, f"no metric found in {expr!r}"
        assert names <= known, f"{sorted(names - known)} in {expr!r} are not exported"
        used |= names
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    return used


def load(helm: Any, chart: str, name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((helm.charts / chart / "dashboards" / name).read_text())
    return result


@pytest.mark.parametrize("chart", list(MODULES))
def test_dashboard_metrics_are_exported(chart: str, helm: Any) -> None:
    used = used_names(load(helm, chart, f"{chart}.json"), exported(chart))
    assert used >= MUST_SHOW[chart]


def test_serving_dashboard_uses_vllm_and_the_model_runtime_metrics(helm: Any) -> None:
    runtime = exported_by(SERVING_MODULES)
    used = used_names(load(helm, *SERVING), VLLM_METRICS | runtime)
    assert used >= SERVING_MUST_SHOW
    assert used & runtime, "the model runtime's own metrics are shown"


def test_every_shipped_dashboard_is_checked(helm: Any) -> None:
    """No dashboard escapes the checks above (and so vLLM's names stay in the serving one)."""
    shipped = {(p.parent.parent.name, p.name) for p in helm.charts.glob("*/dashboards/*.json")}
    assert shipped == {(chart, f"{chart}.json") for chart in MODULES} | {SERVING}


def test_metric_name_parsing() -> None:
    expr = 'histogram_quantile(0.99, sum by (le, name) (rate(a_b_bucket{job=~"$job"}[5m])))'
    assert metric_names(expr) == {"a_b_bucket"}
    vllm = 'max by (model_name) (vllm:kv_cache_usage_perc{a="b"} or vllm:gpu_cache_usage_perc)'
    assert metric_names(vllm) == {"vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"}
