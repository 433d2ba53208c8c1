"""Both charts install with real helm into a real API server, and their RBAC is least privilege.

SubjectAccessReviews ask the API server's authorizer, for each chart's ServiceAccount, about what
its controller does (must be allowed) and about what it never needs (must be denied).

The cluster is the session's, shared with other tests, so the admission policy's bindings are
limited to namespaces with a label no other test uses, and the releases are not uninstalled:
deleting the last binding of the ConfigMap paramKind stops kube-apiserver 1.36's parameter
informer for the rest of the session (kubernetes/kubernetes#130887; see
workspace_controller/admission/policies.py), which would freeze other tests' policies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from localcluster import poll_until, request

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

    from localcluster import ClusterInfo

pytestmark = pytest.mark.cluster

SCOPED_ADMISSION = (
    "--set-string",
    "admission.namespaceSelector.kaito\\.sh/chart-install-test=true",
    # The release stays for the session: a device plugin DaemonSet would put pods on every GPU
    # node other tests create (test_conventions installs and removes its own).
    "--set",
    "nvidiaDevicePlugin.enabled=false",
)
RELEASES = {"workspace-controller": "chart-wc", "gpu-provisioner": "chart-gp"}
# (verb, group, resource, namespace, name); resource may be "resource/subresource".
Check = tuple[str, str, str, str, str]
WORKSPACE_ALLOWED: list[Check] = [
    ("list", "kaito.sh", "workspaces", "", ""),
    ("watch", "kaito.sh", "workspaces", "", ""),
    ("patch", "kaito.sh", "workspaces", "team-a", "ws"),
    ("update", "kaito.sh", "workspaces/status", "team-a", "ws"),
    ("create", "karpenter.sh", "nodeclaims", "", ""),
    ("delete", "karpenter.sh", "machines", "", "m"),
    ("patch", "", "nodes", "", "n"),
    ("watch", "", "pods", "", ""),
    ("get", "", "namespaces", "", "team-a"),
    ("create", "batch", "jobs", "team-a", ""),
    ("delete", "batch", "jobs", "team-a", "j"),
    ("update", "apps", "deployments", "team-a", "d"),
    ("create", "apps", "statefulsets", "team-a", ""),
    ("create", "", "services", "team-a", ""),
    ("get", "", "configmaps", "team-a", "user-config"),
    ("create", "", "events", "team-a", ""),
    ("create", "coordination.k8s.io", "leases", "chart-wc", ""),
    ("update", "coordination.k8s.io", "leases", "chart-wc", "workspace-controller"),
    ("watch", "coordination.k8s.io", "leases", "chart-wc", "workspace-controller"),
]
WORKSPACE_DENIED: list[Check] = [
    ("get", "", "secrets", "team-a", "s"),
    ("list", "", "secrets", "", ""),
    ("delete", "kaito.sh", "workspaces", "team-a", "ws"),
    ("update", "karpenter.sh", "nodeclaims/status", "", "c"),
    ("delete", "", "nodes", "", "n"),
    ("create", "", "pods", "team-a", ""),
    ("list", "", "namespaces", "", ""),
    ("update", "coordination.k8s.io", "leases", "kube-system", "workspace-controller"),
    ("update", "coordination.k8s.io", "leases", "chart-wc", "someone-else"),
    ("watch", "coordination.k8s.io", "leases", "chart-wc", ""),
    ("create", "rbac.authorization.k8s.io", "clusterrolebindings", "", ""),
]
PROVISIONER_ALLOWED: list[Check] = [
    ("watch", "karpenter.sh", "nodeclaims", "", ""),
    ("patch", "karpenter.sh", "machines", "", "m"),
    ("update", "karpenter.sh", "nodeclaims/status", "", "c"),
    ("update", "karpenter.sh", "machines/status", "", "m"),
    ("delete", "karpenter.sh", "nodeclaims", "", "c"),
    ("watch", "", "nodes", "", ""),
    ("delete", "", "nodes", "", "n"),
    ("list", "", "pods", "", ""),
    ("create", "", "pods/eviction", "team-a", "p"),
    ("delete", "", "pods", "team-a", "p"),
    ("patch", "", "events", "team-a", "e"),
    ("get", "coordination.k8s.io", "leases", "chart-gp", "gpu-provisioner-leader-election"),
    ("watch", "coordination.k8s.io", "leases", "chart-gp", "gpu-provisioner-leader-election"),
]
PROVISIONER_DENIED: list[Check] = [
    ("create", "karpenter.sh", "nodeclaims", "", ""),
    ("get", "kaito.sh", "workspaces", "team-a", "ws"),
    ("delete", "kaito.sh", "workspaces", "team-a", "ws"),
    ("get", "", "secrets", "chart-gp", "s"),
    ("list", "", "secrets", "", ""),
    ("create", "", "pods", "team-a", ""),
    ("update", "apps", "deployments", "team-a", "d"),
    ("update", "coordination.k8s.io", "leases", "chart-wc", "workspace-controller"),
]


async def allowed(api: ApiClient, namespace: str, account: str, check: Check) -> bool:
    verb, group, resource, ns, name = check
    resource, _, subresource = resource.partition("/")
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": f"system:serviceaccount:{namespace}:{account}",
            "groups": [
                "system:serviceaccounts",
                f"system:serviceaccounts:{namespace}",
                "system:authenticated",
            ],
            "resourceAttributes": {
                "verb": verb,
                "group": group,
                "resource": resource,
                "subresource": subresource,
                "namespace": ns,
                "name": name,
            },
        },
    }
    reply = await request(
        api, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", body=review
    )
    return bool(reply["status"].get("allowed"))


async def test_install_both_charts_and_check_rbac(
    kube_cluster: ClusterInfo, kube_api: ApiClient, helm: Any
) -> None:
    for chart, namespace in RELEASES.items():
        helm.run(
            "install",
            chart,
            str(helm.charts / chart),
            "--namespace",
            namespace,
            "--create-namespace",
            "--kubeconfig",
            str(kube_cluster.kubeconfig),
            "--set",
            "replicaCount=0",
            *(SCOPED_ADMISSION if chart == "workspace-controller" else ()),
            "--wait",
            "--timeout",
            "60s",
        )
    wrong = []
    for namespace, chart, allow, deny in (
        ("chart-wc", "workspace-controller", WORKSPACE_ALLOWED, WORKSPACE_DENIED),
        ("chart-gp", "gpu-provisioner", PROVISIONER_ALLOWED, PROVISIONER_DENIED),
    ):
        account = await request(
            kube_api, "GET", f"/api/v1/namespaces/{namespace}/serviceaccounts/{chart}"
        )
        assert account["metadata"]["name"] == chart
        for check in allow:
            if not await allowed(kube_api, namespace, chart, check):
                wrong.append(f"{chart} denied {check}")
        for check in deny:
            if await allowed(kube_api, namespace, chart, check):
                wrong.append(f"{chart} allowed {check}")
    assert not wrong, "\n".join(wrong)
    crds = await request(kube_api, "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
    names = {c["metadata"]["name"] for c in crds["items"]}
    assert {"workspaces.kaito.sh", "nodeclaims.karpenter.sh", "machines.karpenter.sh"} <= names

    async def checked_policy() -> dict[str, Any] | None:
        policy: dict[str, Any] = await request(
            kube_api,
            "GET",
            "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/"
            "workspace-catalog-rules",
        )
        status = policy.get("status") or {}
        generation = policy["metadata"]["generation"]
        return policy if status.get("observedGeneration") == generation else None

    policy = await poll_until(checked_policy, description="policy type-checked")
    assert not policy["status"].get("typeChecking", {}).get("expressionWarnings")
    bindings = await request(
        kube_api, "GET", "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings"
    )
    ours = [b for b in bindings["items"] if b["spec"]["policyName"] == "workspace-catalog-rules"]
    assert len(ours) == 2
    for binding in ours:
        assert binding["spec"]["paramRef"]["namespace"] == "chart-wc"
        selector = binding["spec"]["matchResources"]["namespaceSelector"]
        assert selector == {"matchLabels": {"kaito.sh/chart-install-test": "true"}}
