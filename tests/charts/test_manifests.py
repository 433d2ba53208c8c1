"""What the charts render: lint, pod security, replicas, optional objects, generated content."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import yaml

import preset_catalog
from workspace_controller.admission import admission_manifests

CHARTS = ("workspace-controller", "gpu-provisioner")
WHOLE_OBJECTS = {"resources", "nodeSelector", "podSecurityContext", "securityContext"}
"""Values the README names as one Kubernetes object, not key by key."""


@pytest.mark.parametrize("chart", CHARTS)
@pytest.mark.parametrize("strict", [False, True])
def test_helm_lint(chart: str, strict: bool, helm: Any) -> None:
    args = ["lint", str(helm.charts / chart), "--namespace", "lint-ns"]
    for group, fields in helm.required_values.get(chart, {}).items():
        args += [f"--set-string={group}.{key}={value}" for key, value in fields.items()]
    result = helm.run(*args, *(["--strict"] if strict else []), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_generated_files_are_current(helm: Any) -> None:
    """CRDs, admission policy and tuning defaults are what tools/charts/generate.py writes."""
    result = subprocess.run(
        [sys.executable, str(helm.root / "tools" / "charts" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("chart", "crds"),
    [
        ("workspace-controller", ["kaito.sh_workspaces.yaml"]),
        ("gpu-provisioner", ["karpenter.sh_machines.yaml", "karpenter.sh_nodeclaims.yaml"]),
    ],
)
def test_chart_crds_are_the_repository_crds(chart: str, crds: list[str], helm: Any) -> None:
    shipped = sorted(p.name for p in (helm.charts / chart / "crds").iterdir())
    assert shipped == crds
    for name in crds:
        assert (helm.charts / chart / "crds" / name).read_bytes() == (
            helm.root / "crds" / name
        ).read_bytes()


@pytest.mark.parametrize("chart", CHARTS)
def test_pod_is_locked_down(chart: str, helm: Any) -> None:
    (deployment,) = helm.find(helm.template(chart), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["name"] == chart
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert set(container["resources"]) == {"requests", "limits"}
    (port,) = container["ports"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    env = {e["name"]: e["value"] for e in container["env"]}
    prefix = chart.upper().replace("-", "_")
    assert env[f"{prefix}_CONTROLLER_LEADER_ELECT"] == "true"
    assert env[f"{prefix}_CONTROLLER_PROBE_PORT"] == str(port["containerPort"])
    assert env[f"{prefix}_CONTROLLER_NAMESPACE"] == helm.namespace
    assert pod["serviceAccountName"] == chart
    (service,) = helm.find(helm.template(chart), "Service")
    assert service["spec"]["ports"][0]["port"] == port["containerPort"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"


@pytest.mark.parametrize("chart", CHARTS)
def test_replicas_pdb_and_leader_election(chart: str, helm: Any) -> None:
    zero = helm.template(chart, {"replicaCount": 0})
    (deployment,) = helm.find(zero, "Deployment")
    assert deployment["spec"]["replicas"] == 0
    assert helm.find(zero, "PodDisruptionBudget") == []
    assert len(helm.find(zero, "ServiceAccount")) == 1
    assert len(helm.find(zero, "ClusterRole")) == 1
    two = helm.template(chart, {"replicaCount": 2})
    (pdb,) = helm.find(two, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    (deployment,) = helm.find(two, "Deployment")
    anti = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert anti["preferredDuringSchedulingIgnoredDuringExecution"]
    refused = helm.template_text(
        chart, {"replicaCount": 2, "controller": {"leaderElect": False}}, check=False
    )
    assert refused.returncode != 0
    assert "leaderElect" in refused.stderr


@pytest.mark.parametrize("chart", CHARTS)
def test_service_monitor_and_dashboards_only_when_enabled(chart: str, helm: Any) -> None:
    default = helm.template(chart)
    assert helm.find(default, "ServiceMonitor") == []
    assert not [d for d in default if d["metadata"]["name"].endswith("-dashboards")]
    enabled = helm.template(
        chart, {"serviceMonitor": {"enabled": True}, "dashboards": {"enabled": True}}
    )
    (monitor,) = helm.find(enabled, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "http-metrics"
    (dashboards,) = helm.find(enabled, "ConfigMap", f"{chart}-dashboards")
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    serving = ["serving.json"] if chart == "workspace-controller" else []  # the workloads' own
    assert sorted(dashboards["data"]) == sorted([f"{chart}.json", *serving])


def test_workload_identity(helm: Any) -> None:
    docs = helm.template(
        "gpu-provisioner", {"workloadIdentity": {"clientId": "cid", "tenantId": "tid"}}
    )
    (account,) = helm.find(docs, "ServiceAccount")
    assert account["metadata"]["annotations"] == {
        "azure.workload.identity/client-id": "cid",
        "azure.workload.identity/tenant-id": "tid",
    }
    (deployment,) = helm.find(docs, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["azure.workload.identity/use"] == "true"


@pytest.mark.parametrize("method", list(preset_catalog.TuningMethod))
def test_default_tuning_configmaps(method: preset_catalog.TuningMethod, helm: Any) -> None:
    docs = helm.template("workspace-controller", namespace="kaito-x")
    (config,) = helm.find(docs, "ConfigMap", f"{method}-params-template")
    assert config["metadata"]["namespace"] == "kaito-x"
    data = config["data"]
    assert preset_catalog.validate_tuning_configmap_data(data, method=method) == ()
    parsed = yaml.safe_load(data[preset_catalog.TUNING_CONFIG_KEY])
    assert parsed == yaml.safe_load(yaml.safe_dump(preset_catalog.default_tuning_config(method)))


def test_admission_policy_is_the_generated_one(helm: Any) -> None:
    docs = helm.template("workspace-controller", namespace="kaito-x")
    expected = admission_manifests(namespace="kaito-x")
    rendered = [
        d
        for d in docs
        if d["kind"].startswith("ValidatingAdmissionPolicy")
        or d["metadata"]["name"] == "preset-catalog"
    ]
    assert rendered == list(yaml.safe_load_all(yaml.safe_dump_all(expected)))
    capped = helm.template(
        "workspace-controller", {"provisioning": {"maxNodesPerWorkspace": 25}}, namespace="kaito-x"
    )
    (policy,) = [d for d in capped if d["kind"] == "ValidatingAdmissionPolicy"]
    assert policy == admission_manifests(namespace="kaito-x", max_nodes_per_workspace=25)[1]
    disabled = helm.template("workspace-controller", {"admission": {"enabled": False}})
    assert not [d for d in disabled if d["kind"].startswith("ValidatingAdmissionPolicy")]


@pytest.mark.parametrize("chart", CHARTS)
def test_readme_names_every_value(chart: str, helm: Any) -> None:
    readme = (helm.charts / chart / "README.md").read_text()

    def paths(tree: dict[str, Any], prefix: str = "") -> list[str]:
        found = []
        for key, value in tree.items():
            path = f"{prefix}{key}"
            nested = isinstance(value, dict) and value and key not in WHOLE_OBJECTS
            nested = nested and not key.endswith(("labels", "Labels"))
            found += paths(value, path + ".") if nested else [path]
        return found

    missing = [p for p in paths(helm.values(chart)) if f"`{p}`" not in readme]
    assert not missing
