"""What one Workspace can cost, and what the user sees when it cannot go on (issue #13).

On the real control plane: claims come in bounded batches and never once the Workspace is being
deleted; the instance type is matched in any case; a quota error on a claim and a rejected claim
create are conditions *and* Warning Events on the Workspace, with the API server's own words.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import pathlib
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from kubernetes_asyncio.client.exceptions import ApiException

import localcluster
from controller_kit import EventRecorder, Request, SystemClock, resources
from workspace_controller import caches as caches_module
from workspace_controller.reconciler import WorkspaceReconciler
from workspace_controller.settings import NodeProvisioningApi, ProvisioningSettings, Settings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from kubernetes_asyncio.client import ApiClient

    from .conftest import StartController

REPO = pathlib.Path(__file__).resolve().parents[4]
SEED = REPO / "examples/fine-tuning/kaito_workspace_tuning_phi_3.yaml"
WS_V1BETA1 = "kaito.sh/v1beta1"
NODECLAIMS = "/apis/karpenter.sh/v1/nodeclaims"


def _template_workspace(namespace: str, name: str, *, count: int) -> dict[str, Any]:
    """A Workspace running the user's own pod template: its node count is ``count`` as given."""
    return {
        "apiVersion": WS_V1BETA1,
        "kind": "Workspace",
        "metadata": {"name": name, "namespace": namespace},
        "resource": {
            "instanceType": "Standard_NC6s_v3",
            "count": count,
            "labelSelector": {"matchLabels": {"apps": name}},
        },
        "inference": {
            "template": {"spec": {"containers": [{"name": "server", "image": "example.com/s:1"}]}}
        },
    }


async def _workspace(api: ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    return await localcluster.get_object(api, WS_V1BETA1, "Workspace", name, namespace=namespace)


def _condition(ws: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    for c in ((ws or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return dict(c)
    return {}


async def _until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 60) -> Any:
    return await localcluster.poll_until(
        check, description=what, timeout_seconds=timeout, interval_seconds=0.2
    )


async def _claims(api: ApiClient, namespace: str, name: str) -> list[dict[str, Any]]:
    selector = f"kaito.sh/workspace={name},kaito.sh/workspacenamespace={namespace}"
    found = await localcluster.request(api, "GET", NODECLAIMS, query=[("labelSelector", selector)])
    return list(found["items"])


async def _warnings(api: ApiClient, namespace: str, name: str) -> list[dict[str, Any]]:
    """Warning Events whose involved object is the Workspace itself."""
    selector = f"involvedObject.kind=Workspace,involvedObject.name={name},type=Warning"
    found = await localcluster.request(
        api, "GET", f"/api/v1/namespaces/{namespace}/events", query=[("fieldSelector", selector)]
    )
    return list(found["items"])


@contextlib.asynccontextmanager
async def _cleanup(api: ApiClient, namespace: str, name: str) -> AsyncIterator[None]:
    """Whatever happens, leave no claim (cluster-scoped) and no Workspace held by a finalizer."""
    try:
        yield
    finally:
        ws = await _workspace(api, namespace, name)
        if ws is not None and ws["metadata"].get("finalizers"):
            path = f"/apis/kaito.sh/v1beta1/namespaces/{namespace}/workspaces/{name}"
            await localcluster.request(
                api,
                "PATCH",
                path,
                body={"metadata": {"finalizers": None}},
                content_type="application/merge-patch+json",
            )
        for claim in await _claims(api, namespace, name):
            await localcluster.delete_object(
                api, "karpenter.sh/v1", "NodeClaim", claim["metadata"]["name"]
            )


def _denies(api: ApiClient, namespace: str) -> Callable[[], Awaitable[bool]]:
    """Whether a server-side dry run of a claim from ``namespace`` is rejected yet."""
    claim = {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {
            "generateName": "probe-",
            "labels": {"kaito.sh/workspace": "probe", "kaito.sh/workspacenamespace": namespace},
        },
        "spec": {
            "requirements": [
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["x"]}
            ],
            "nodeClassRef": {"group": "karpenter.azure.com", "kind": "AKSNodeClass", "name": "d"},
        },
    }

    async def probe() -> bool:
        try:
            await localcluster.request(
                api, "POST", NODECLAIMS, body=claim, query=[("dryRun", "All")]
            )
        except ApiException as exc:
            if "ValidatingAdmissionPolicy" in str(exc.body):
                return True
            raise
        return False

    return probe


# -- bounded creation, nothing while deleting -----------------------------------------------------


@dataclasses.dataclass
class Direct:
    """A reconciler whose passes the test calls one at a time, over live caches (no provider
    runs, so claims stay unready and provisioning stays open)."""

    api: ApiClient
    namespace: str
    cache: caches_module.Caches
    reconciler: WorkspaceReconciler

    async def settled(self, name: str) -> bool:
        """The cache shows the Workspace as the server has it (the last write included)."""
        ws = await _workspace(self.api, self.namespace, name)
        cached = self.cache.workspaces.get(name, self.namespace)
        if ws is None or cached is None:
            return ws is None and cached is None
        return bool(cached["metadata"]["resourceVersion"] == ws["metadata"]["resourceVersion"])

    async def reconcile(self, name: str) -> None:
        await _until(lambda: self.settled(name), "the cache caught up with the Workspace")
        await self.reconciler.reconcile(Request(self.namespace, name))

    async def claims_cached(self, name: str, count: int) -> None:
        async def seen() -> bool:
            return len(self.cache.claims_of(self.namespace, name)) == count

        await _until(seen, f"{count} claims in the cache")


@pytest.fixture
async def direct(
    kube_api: ApiClient,
    kube_api_client_factory: Callable[[], ApiClient],
    kube_namespace: str,
    crds: None,
) -> AsyncIterator[Direct]:
    del crds
    client = kube_api_client_factory()
    cache = caches_module.Caches.create(client, claim_api="nodeclaim")
    settings = Settings(
        provisioning=ProvisioningSettings(
            node_provisioning_api=NodeProvisioningApi("nodeclaim"), node_ready_poll_seconds=0.5
        )
    )
    reconciler = WorkspaceReconciler(
        api=client,
        caches=cache,
        settings=settings,
        claim_api="nodeclaim",
        events=EventRecorder(client, component="workspace-controller-test"),
        clock=SystemClock(),
        claim_batch_size=2,
    )
    informers = [asyncio.create_task(i.run()) for i in cache.all()]

    async def synced() -> bool:
        return cache.synced()

    try:
        await _until(synced, "caches synced")
        yield Direct(api=kube_api, namespace=kube_namespace, cache=cache, reconciler=reconciler)
    finally:
        for task in informers:
            task.cancel()
        await asyncio.gather(*informers, return_exceptions=True)


async def test_claims_come_in_bounded_batches_and_never_once_the_workspace_is_deleting(
    kube_api: ApiClient, kube_namespace: str, direct: Direct
) -> None:
    """Each pass creates at most a batch of claims (2 here) and writes the status; once the
    Workspace is being deleted a pass creates nothing, and deletion ends."""
    name = "ws-many"
    async with _cleanup(kube_api, kube_namespace, name):
        await localcluster.apply_manifests(
            kube_api, [_template_workspace(kube_namespace, name, count=5)]
        )
        await direct.reconcile(name)  # adds the finalizer
        for wanted in (2, 4):
            await direct.reconcile(name)
            claims = await _claims(kube_api, kube_namespace, name)
            assert len(claims) == wanted, f"one pass creates at most 2 claims, not {len(claims)}"
            await direct.claims_cached(name, wanted)
            ws = await _workspace(kube_api, kube_namespace, name)
            assert _condition(ws, "NodeClaimReady")["status"] == "False", "status written"
            assert ws is not None
            assert ws["status"]["targetNodeCount"] == 5

        await localcluster.delete_object(
            kube_api, WS_V1BETA1, "Workspace", name, namespace=kube_namespace
        )
        for _ in range(3):
            await direct.reconcile(name)
            claims = await _claims(kube_api, kube_namespace, name)
            assert len(claims) <= 4, "a Workspace being deleted gets no new claim"

        async def released() -> bool:
            if direct.cache.claims_of(kube_namespace, name):
                return False
            await direct.reconcile(name)
            return await _workspace(kube_api, kube_namespace, name) is None

        await _until(released, "claims deleted and the Workspace released")
        assert await _claims(kube_api, kube_namespace, name) == []


async def test_a_pass_stops_creating_claims_when_the_workspace_is_deleted_under_it(
    kube_api: ApiClient, kube_namespace: str, direct: Direct, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Workspace is deleted right after the pass's first claim create: the pass, though its
    batch has room for another, creates no second claim."""
    name = "ws-raced"
    real_create = resources.create
    creates: list[str] = []

    async def create_then_delete(api: ApiClient, resource: Any, obj: Any) -> Any:
        created = await real_create(api, resource, obj)
        if obj.get("kind") != "NodeClaim":
            return created  # an Event
        creates.append(obj["metadata"]["name"])
        if len(creates) == 1:
            await localcluster.delete_object(
                kube_api, WS_V1BETA1, "Workspace", name, namespace=kube_namespace
            )

            async def deleting() -> bool:
                ws = direct.cache.workspaces.get(name, kube_namespace) or {"metadata": {}}
                return bool(ws["metadata"].get("deletionTimestamp"))

            await _until(deleting, "the cache shows the deletion")
        return created

    async with _cleanup(kube_api, kube_namespace, name):
        await localcluster.apply_manifests(
            kube_api, [_template_workspace(kube_namespace, name, count=2)]
        )
        await direct.reconcile(name)  # adds the finalizer
        monkeypatch.setattr(resources, "create", create_then_delete)
        await direct.reconcile(name)
        assert len(creates) == 1
        assert len(await _claims(kube_api, kube_namespace, name)) == 1
        monkeypatch.undo()
        await direct.claims_cached(name, 1)

        async def released() -> bool:
            if direct.cache.claims_of(kube_namespace, name):
                return False
            await direct.reconcile(name)
            return await _workspace(kube_api, kube_namespace, name) is None

        await direct.reconcile(name)  # deletes the claim
        await _until(released, "the claim deleted and the Workspace released")


async def test_the_controller_applies_the_namespaces_node_cap_as_admission_does(
    kube_api: ApiClient, kube_namespace: str, direct: Direct
) -> None:
    """Above the global cap (10) a Workspace is reported, not provisioned; the namespace's
    kaito.sh/max-nodes-per-workspace annotation raises the cap there, as in the policy."""
    name = "ws-capped"
    async with _cleanup(kube_api, kube_namespace, name):
        await localcluster.apply_manifests(
            kube_api, [_template_workspace(kube_namespace, name, count=12)]
        )
        await direct.reconcile(name)  # adds the finalizer
        await direct.reconcile(name)
        ws = await _workspace(kube_api, kube_namespace, name)
        assert _condition(ws, "ResourceReady")["reason"] == "TooManyNodes"
        assert await _claims(kube_api, kube_namespace, name) == []
        warnings = await _warnings(kube_api, kube_namespace, name)
        assert [e["reason"] for e in warnings] == ["TooManyNodes"]

        await localcluster.request(
            kube_api,
            "PATCH",
            f"/api/v1/namespaces/{kube_namespace}",
            body={"metadata": {"annotations": {"kaito.sh/max-nodes-per-workspace": "12"}}},
            content_type="application/merge-patch+json",
        )
        await direct.reconcile(name)
        assert len(await _claims(kube_api, kube_namespace, name)) == 2, "one batch"
        ws = await _workspace(kube_api, kube_namespace, name)
        assert _condition(ws, "ResourceReady")["reason"] == "NodeClaimNotReady"


# -- instance types in any case --------------------------------------------------------------------


async def test_the_seed_with_a_lower_case_instance_type_converges(
    kube_api: ApiClient, kube_namespace: str, start_controller: StartController
) -> None:
    """AKS labels the node ``Standard_NC6s_v3`` whatever case the Workspace used."""
    doc: dict[str, Any] = yaml.safe_load(SEED.read_text())
    doc["metadata"]["namespace"] = kube_namespace
    doc["tuning"]["output"] = {"volumeSource": {"emptyDir": {}}}  # no registry in the test cluster
    doc["resource"]["instanceType"] = "standard_nc6s_v3"
    name = doc["metadata"]["name"]
    async with _cleanup(kube_api, kube_namespace, name), start_controller():
        await localcluster.apply_manifests(kube_api, [doc])

        async def succeeded() -> dict[str, Any] | None:
            ws = await _workspace(kube_api, kube_namespace, name)
            return ws if _condition(ws, "WorkspaceSucceeded").get("status") == "True" else None

        try:
            ws = await _until(succeeded, "WorkspaceSucceeded=True", timeout=90)
        except TimeoutError:
            ws = await _workspace(kube_api, kube_namespace, name)
            raise AssertionError(f"status: {(ws or {}).get('status')}") from None
        (claim,) = await _claims(kube_api, kube_namespace, name)
        requirement = {r["key"]: r["values"] for r in claim["spec"]["requirements"]}
        assert requirement["node.kubernetes.io/instance-type"] == ["Standard_NC6s_v3"]
        assert requirement["karpenter.azure.com/sku-name"] == ["Standard_NC6s_v3"]
        assert ws["status"]["workerNodes"] == [claim["metadata"]["name"]]


# -- failures on the Workspace itself -------------------------------------------------------------


async def test_a_quota_error_is_one_warning_event_on_the_workspace_and_deletion_completes(
    kube_api: ApiClient, kube_namespace: str, start_controller: StartController
) -> None:
    message = "exceeding approved standardNCSv3Family Cores quota: 6 needed, 0 available"
    name = "ws-quota-many"
    doc = _template_workspace(kube_namespace, name, count=3)
    async with (
        _cleanup(kube_api, kube_namespace, name),
        start_controller(fail_launch={"Standard_NC6s_v3": ("QuotaExceeded", message)}),
    ):
        await localcluster.apply_manifests(kube_api, [doc])

        async def warned() -> list[dict[str, Any]] | None:
            found = [e for e in await _warnings(kube_api, kube_namespace, name)
                     if e["reason"] == "QuotaExceeded"]  # fmt: skip
            return found or None

        (event,) = await _until(warned, "a QuotaExceeded Warning Event on the Workspace")
        assert message in event["message"]
        ws = await _workspace(kube_api, kube_namespace, name)
        assert _condition(ws, "ResourceReady")["reason"] == "QuotaExceeded"
        assert len(await _claims(kube_api, kube_namespace, name)) == 3

        # More passes (each annotation change is one) announce nothing new.
        for index in range(3):
            doc["metadata"]["annotations"] = {"example.com/poke": str(index)}
            await localcluster.apply_manifests(kube_api, [doc])
        await asyncio.sleep(3)  # the controller requeues every 2.5 s here too
        events = [e for e in await _warnings(kube_api, kube_namespace, name)
                  if e["reason"] == "QuotaExceeded"]  # fmt: skip
        assert len(events) == 1
        assert events[0]["count"] == 1, "one Warning for the failure, not one per reconcile"

        await localcluster.delete_object(
            kube_api, WS_V1BETA1, "Workspace", name, namespace=kube_namespace
        )

        async def gone() -> bool:
            return await _workspace(kube_api, kube_namespace, name) is None and not (
                await _claims(kube_api, kube_namespace, name)
            )

        await _until(gone, "the Workspace and its claims deleted")


async def test_a_rejected_claim_create_shows_the_api_servers_causes_on_the_workspace(
    kube_api: ApiClient, kube_namespace: str, start_controller: StartController
) -> None:
    """An admission rule (here a ValidatingAdmissionPolicy) rejects the claim: the condition and
    the Warning Event carry the server's message, and the status is written regardless."""
    name = "ws-rejected"
    policy = f"deny-claims-{kube_namespace}"[:63]
    denial = f"claims of {kube_namespace}/{name} are not allowed here"
    manifests = [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": policy},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": ["karpenter.sh"],
                            "apiVersions": ["*"],
                            "operations": ["CREATE"],
                            "resources": ["nodeclaims"],
                        }
                    ]
                },
                "matchConditions": [
                    {
                        "name": "this-workspace",
                        "expression": "has(object.metadata.labels) && "
                        "'kaito.sh/workspacenamespace' in object.metadata.labels && "
                        "object.metadata.labels['kaito.sh/workspacenamespace'] == "
                        f"'{kube_namespace}'",
                    }
                ],
                "validations": [{"expression": "false", "message": denial}],
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": policy},
            "spec": {"policyName": policy, "validationActions": ["Deny"]},
        },
    ]
    await localcluster.apply_manifests(kube_api, manifests)
    try:
        await _until(_denies(kube_api, kube_namespace), "the policy is in force")
        async with _cleanup(kube_api, kube_namespace, name), start_controller():
            await localcluster.apply_manifests(
                kube_api, [_template_workspace(kube_namespace, name, count=1)]
            )

            async def reported() -> dict[str, Any] | None:
                ws = await _workspace(kube_api, kube_namespace, name)
                condition = _condition(ws, "NodeClaimReady")
                return ws if condition.get("reason") == "NodeClaimCreationFailed" else None

            ws = await _until(reported, "NodeClaimReady=False NodeClaimCreationFailed")
            for type_ in ("NodeClaimReady", "ResourceReady"):
                assert denial in _condition(ws, type_)["message"], type_
            assert ws["status"]["state"] == "Pending"

            async def warned() -> list[dict[str, Any]] | None:
                found = [e for e in await _warnings(kube_api, kube_namespace, name)
                         if e["reason"] == "NodeClaimCreationFailed"]  # fmt: skip
                return found or None

            (event,) = await _until(warned, "a NodeClaimCreationFailed Warning on the Workspace")
            assert denial in event["message"]
            assert await _claims(kube_api, kube_namespace, name) == []
    finally:
        for kind in ("ValidatingAdmissionPolicyBinding", "ValidatingAdmissionPolicy"):
            await localcluster.delete_object(
                kube_api, "admissionregistration.k8s.io/v1", kind, policy
            )
