"""Chart conventions both charts share, and the NVIDIA device plugin DaemonSet.

Rendered with ``helm template``; the device plugin is also installed into the local control plane
to see which kwok Nodes its DaemonSet targets (the daemonset controller of kube-controller-manager
decides that from the pod template's affinity and tolerations against each Node).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pytest

from controller_kit import configure_logging
from gpu_provisioner import settings as gp_settings
from localcluster import poll_until, request
from workspace_controller import settings as wc_settings

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

    from localcluster import ClusterInfo

CHARTS = ("workspace-controller", "gpu-provisioner")
DIGEST = "sha256:" + "0123456789abcdef" * 4
CLAIM_TAINT = {"key": "sku", "value": "gpu", "effect": "NoSchedule"}
"""The taint workspace_controller.manifests.claims puts on every claim (so on its node)."""


def pod_spec(docs: list[dict[str, Any]], kind: str = "Deployment") -> dict[str, Any]:
    (workload,) = [d for d in docs if d["kind"] == kind]
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def device_plugin(helm: Any, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    docs = helm.template("workspace-controller", values)
    return [d for d in docs if d["kind"] == "DaemonSet"]


def test_device_plugin_runs_the_pinned_image_node_critical_with_only_the_plugin_socket_dir(
    helm: Any,
) -> None:
    (daemonset,) = device_plugin(helm)
    values = helm.values("workspace-controller")["nvidiaDevicePlugin"]
    pod = daemonset["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert values["image"]["tag"] not in {"", "latest"}
    assert container["image"] == f"nvcr.io/nvidia/k8s-device-plugin:{values['image']['tag']}"
    assert pod["priorityClassName"] == "system-node-critical"
    assert pod["automountServiceAccountToken"] is False
    assert [v["hostPath"]["path"] for v in pod["volumes"]] == ["/var/lib/kubelet/device-plugins"]
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert "privileged" not in context
    assert CLAIM_TAINT | {"operator": "Equal"} in pod["tolerations"]
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    keys = {e["key"] for t in terms["nodeSelectorTerms"] for e in t["matchExpressions"]}
    assert keys == {"kaito.sh/workspace", "kaito.sh/machine-type", "accelerator"}
    (pinned,) = device_plugin(helm, {"nvidiaDevicePlugin": {"image": {"digest": DIGEST}}})
    (container,) = pinned["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"nvcr.io/nvidia/k8s-device-plugin@{DIGEST}"
    assert device_plugin(helm, {"nvidiaDevicePlugin": {"enabled": False}}) == []


@pytest.mark.parametrize("chart", CHARTS)
def test_controller_is_cluster_critical_and_stays_off_gpu_nodes(chart: str, helm: Any) -> None:
    pod = pod_spec(helm.template(chart))
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert {"key": "CriticalAddonsOnly", "operator": "Exists"} in pod["tolerations"]
    required = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    (term,) = required["nodeSelectorTerms"]
    assert {"key": "kaito.sh/workspace", "operator": "DoesNotExist"} in term["matchExpressions"]
    assert {
        "key": "kaito.sh/machine-type",
        "operator": "NotIn",
        "values": ["gpu"],
    } in term["matchExpressions"]
    assert "podAntiAffinity" in pod["affinity"]
    custom: dict[str, Any] = {
        "nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}
    }
    assert pod_spec(helm.template(chart, {"affinity": custom}))["affinity"] == custom


@pytest.mark.parametrize("chart", CHARTS)
def test_existing_service_account_is_bound_and_not_created(chart: str, helm: Any) -> None:
    docs = helm.template(chart, {"serviceAccount": {"create": False, "name": "platform-sa"}})
    assert helm.find(docs, "ServiceAccount") == []
    assert pod_spec(docs)["serviceAccountName"] == "platform-sa"
    bindings = helm.find(docs, "ClusterRoleBinding") + helm.find(docs, "RoleBinding")
    assert bindings
    for binding in bindings:
        assert [s["name"] for s in binding["subjects"]] == ["platform-sa"]
    missing = helm.template_text(chart, {"serviceAccount": {"create": False}}, check=False)
    assert missing.returncode != 0
    assert "set serviceAccount.name" in missing.stderr
    named = helm.template(chart, {"serviceAccount": {"name": "named-sa"}})
    (account,) = helm.find(named, "ServiceAccount")
    assert account["metadata"]["name"] == pod_spec(named)["serviceAccountName"] == "named-sa"


@pytest.mark.parametrize("chart", CHARTS)
def test_a_ca_bundle_mounts_through_extra_volumes_and_env(chart: str, helm: Any) -> None:
    values: dict[str, list[dict[str, Any]]] = {
        "extraVolumes": [{"name": "corp-ca", "configMap": {"name": "corp-ca"}}],
        "extraVolumeMounts": [{"name": "corp-ca", "mountPath": "/etc/corp-ca", "readOnly": True}],
        "env": [{"name": "SSL_CERT_FILE", "value": "/etc/corp-ca/ca.crt"}],
        "envFrom": [{"secretRef": {"name": "proxy"}}],
    }
    pod = pod_spec(helm.template(chart, values))
    (container,) = pod["containers"]
    assert {"name": "corp-ca", "configMap": {"name": "corp-ca"}} in pod["volumes"]
    assert values["extraVolumeMounts"][0] in container["volumeMounts"]
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert container["env"][-1] == values["env"][0]
    assert container["envFrom"] == values["envFrom"]


@pytest.mark.parametrize("chart", CHARTS)
def test_security_contexts_are_overridable(chart: str, helm: Any) -> None:
    pod = pod_spec(helm.template(chart))
    assert pod["securityContext"] == helm.values(chart)["podSecurityContext"]
    assert pod["containers"][0]["securityContext"] == helm.values(chart)["securityContext"]
    # Helm merges a map value into the default: keys change one by one, null removes one.
    override = {"runAsUser": 1000, "fsGroup": 1000, "seccompProfile": None}
    pod = pod_spec(helm.template(chart, {"podSecurityContext": override}))
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 65532,
        "fsGroup": 1000,
    }
    values = {"securityContext": {"readOnlyRootFilesystem": False}}
    (container,) = pod_spec(helm.template(chart, values))["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


@pytest.mark.parametrize("chart", CHARTS)
def test_common_labels_reach_every_object_and_digest_replaces_the_tag(
    chart: str, helm: Any
) -> None:
    values = {"commonLabels": {"team": "ml-platform"}, "image": {"digest": DIGEST}}
    docs = helm.template(chart, helm.merge(values, {"serviceMonitor": {"enabled": True}}))
    unlabeled = [
        f"{d['kind']}/{d['metadata']['name']}"
        for d in docs
        if (d["metadata"].get("labels") or {}).get("team") != "ml-platform"
        and d["kind"] != "CustomResourceDefinition"
    ]
    generated = {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ConfigMap"}
    assert [u for u in unlabeled if u.split("/")[0] not in generated] == []
    pod = pod_spec(docs)
    assert pod["containers"][0]["image"] == f"ghcr.io/kaito-py/{chart}@{DIGEST}"
    (deployment,) = helm.find(docs, "Deployment")
    assert deployment["spec"]["template"]["metadata"]["labels"]["team"] == "ml-platform"
    assert "team" not in deployment["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize("field", ["subscriptionId", "resourceGroup", "clusterName", "location"])
def test_gpu_provisioner_requires_the_aks_cluster_when_it_runs(field: str, helm: Any) -> None:
    values = helm.merge(helm.required_values["gpu-provisioner"], {"azure": {field: ""}})
    result = helm.template_text("gpu-provisioner", values, check=False, required=False)
    assert result.returncode != 0
    assert f"azure.{field} is required" in result.stderr
    scaled_to_zero = helm.merge(values, {"replicaCount": 0})
    assert helm.template_text("gpu-provisioner", scaled_to_zero, required=False).returncode == 0


@pytest.mark.parametrize("chart", CHARTS)
def test_log_level_accepts_lower_case(chart: str, helm: Any) -> None:
    settings: Any
    settings, prefix = {
        "workspace-controller": (wc_settings.Settings, wc_settings.ENV_PREFIX),
        "gpu-provisioner": (gp_settings.Settings, gp_settings.ENV_PREFIX),
    }[chart]
    pod = pod_spec(helm.template(chart, {"controller": {"logLevel": "debug"}}))
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"] if "value" in e}
    loaded = settings.from_env({k: v for k, v in env.items() if k.startswith(prefix + "_")})
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        configure_logging(json=False, level=loaded.controller.log_level)
        assert root.level == logging.DEBUG
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    rejected = helm.template_text(chart, {"controller": {"logLevel": "Debug"}}, check=False)
    assert rejected.returncode != 0


@pytest.mark.cluster
async def test_device_plugin_daemonset_targets_gpu_nodes_only(
    kube_cluster: ClusterInfo,
    kube_api: ApiClient,
    kube_namespace: str,
    gpu_node_factory: Any,
    helm: Any,
) -> None:
    claim_node = await gpu_node_factory(
        labels={"kaito.sh/workspace": "ws", "kaito.sh/machine-type": "gpu"}, taints=[CLAIM_TAINT]
    )
    aks_node = await gpu_node_factory(
        labels={"accelerator": "nvidia"},
        taints=[{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
    )
    plain_node = await gpu_node_factory(gpu_count=0)
    release = "chart-dp"
    installed = helm.run(
        "install",
        release,
        str(helm.charts / "workspace-controller"),
        "--namespace",
        kube_namespace,
        "--kubeconfig",
        str(kube_cluster.kubeconfig),
        "--set",
        "replicaCount=0",
        "--set",
        "admission.enabled=false",
    )
    try:
        assert f"{release}-workspace-controller-nvidia-device-plugin" in installed.stdout
        assert "kubectl get workspaces" in installed.stdout  # NOTES.txt
        path = f"/api/v1/namespaces/{kube_namespace}/pods"
        query = "app.kubernetes.io/component%3Dnvidia-device-plugin"
        wanted = {claim_node["metadata"]["name"], aks_node["metadata"]["name"]}

        def target(pod: dict[str, Any]) -> str:
            node: str | None = pod["spec"].get("nodeName")
            if node:
                return node
            terms = pod["spec"]["affinity"]["nodeAffinity"][
                "requiredDuringSchedulingIgnoredDuringExecution"
            ]["nodeSelectorTerms"]
            (name,) = terms[0]["matchFields"][0]["values"]
            return str(name)

        async def targets() -> set[str] | None:
            pods = await request(kube_api, "GET", f"{path}?labelSelector={query}")
            found = {target(p) for p in pods["items"]}
            return found if wanted <= found else None

        found = await poll_until(targets, description="device plugin pods on both GPU nodes")
        assert plain_node["metadata"]["name"] not in found
        url = (
            f"/apis/apps/v1/namespaces/{kube_namespace}/daemonsets/"
            f"{release}-workspace-controller-nvidia-device-plugin"
        )

        async def desired() -> int | None:
            status = (await request(kube_api, "GET", url)).get("status") or {}
            count = status.get("desiredNumberScheduled")
            return count if count == len(found) else None

        await poll_until(desired, description="desiredNumberScheduled counts the GPU nodes")
        provisioner = helm.run(
            "install",
            "chart-dp-gp",
            str(helm.charts / "gpu-provisioner"),
            "--namespace",
            kube_namespace,
            "--kubeconfig",
            str(kube_cluster.kubeconfig),
            "--set",
            "replicaCount=0",
        )
        helm.run(
            "uninstall",
            "chart-dp-gp",
            "--namespace",
            kube_namespace,
            "--kubeconfig",
            str(kube_cluster.kubeconfig),
        )
        assert "replicaCount is 0: no provisioner pod runs" in provisioner.stdout
        assert "kubectl get nodeclaims" in provisioner.stdout
    finally:
        helm.run(
            "uninstall",
            release,
            "--namespace",
            kube_namespace,
            "--kubeconfig",
            str(kube_cluster.kubeconfig),
            "--wait",
        )
