"""Every metric the Grafana dashboards query is one the controller actually exports."""

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
MUST_SHOW = {
    "workspace-controller": {
        "controller_runtime_reconcile_total",
        "controller_runtime_reconcile_errors_total",
        "controller_runtime_reconcile_time_seconds_bucket",
        "workqueue_depth",
        "kaito_workspace_count",
    },
    "gpu-provisioner": {
        "controller_runtime_reconcile_total",
        "controller_runtime_reconcile_errors_total",
        "workqueue_depth",
        "karpenter_nodeclaims_created_total",
        "karpenter_nodeclaims_terminated_total",
    },
}
PROMQL_WORDS = {"sum", "rate", "increase", "histogram_quantile", "by"}
SUFFIXES = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}


def exported(chart: str) -> set[str]:
    """Sample names of every metric the chart's controller defines."""
    names = set()
    for module in MODULES[chart]:
        for value in vars(importlib.import_module(module)).values():
            if isinstance(value, MetricWrapperBase):
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


@pytest.mark.parametrize("chart", list(MODULES))
def test_dashboard_metrics_are_exported(chart: str, helm: Any) -> None:
    (path,) = (helm.charts / chart / "dashboards").glob("*.json")
    dashboard = json.loads(path.read_text())
    known = exported(chart)
    used: set[str] = set()
    for expr in expressions(dashboard):
        names = metric_names(expr)
        assert names, f"no metric found in {expr!r}"
        assert names <= known, f"{sorted(names - known)} in {expr!r} are not exported"
        used |= names
    assert used >= MUST_SHOW[chart]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_metric_name_parsing() -> None:
    expr = 'histogram_quantile(0.99, sum by (le, name) (rate(a_b_bucket{job=~"$job"}[5m])))'
    assert metric_names(expr) == {"a_b_bucket"}
