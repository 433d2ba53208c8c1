"""The informers the workspace controller reads from, and how their events map to Workspaces.

All reads of a reconcile pass come from these caches. Objects the controller creates carry the
``kaito.sh/workspace`` label (and claims, being cluster-scoped, ``kaito.sh/workspacenamespace``),
which is both the watch filter and the way back from an object to its Workspace.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from controller_kit import Informer, Request, matches_labels
from kaito_apis.workspace import constants
from workspace_controller import kinds

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kubernetes_asyncio.client import ApiClient

OWNED = constants.LABEL_WORKSPACE


@dataclasses.dataclass(frozen=True, kw_only=True)
class Caches:
    """One informer per kind; ``claims`` is None when no Karpenter claim API is served.

    ``configmaps`` holds every ConfigMap, not only the controller's own: a Workspace names the
    user's (``tuning.config``, ``inference.config``) and must hear when one is created or fixed.
    """

    workspaces: Informer
    claims: Informer | None
    nodes: Informer
    jobs: Informer
    deployments: Informer
    statefulsets: Informer
    services: Informer
    configmaps: Informer
    pods: Informer

    @classmethod
    def create(cls, api: ApiClient, *, claim_api: kinds.ClaimApi | None) -> Caches:
        def owned(resource: kinds.Resource) -> Informer:
            return Informer(api, resource, label_selector=OWNED)

        return cls(
            workspaces=Informer(api, kinds.WORKSPACES),
            claims=owned(kinds.CLAIMS[claim_api]) if claim_api else None,
            nodes=Informer(api, kinds.NODES),
            jobs=owned(kinds.JOBS),
            deployments=owned(kinds.DEPLOYMENTS),
            statefulsets=owned(kinds.STATEFULSETS),
            services=owned(kinds.SERVICES),
            configmaps=Informer(api, kinds.CONFIGMAPS),  # the users' too: Workspaces name them
            pods=owned(kinds.PODS),
        )

    def all(self) -> list[Informer]:
        return [
            i
            for i in (
                self.workspaces,
                self.claims,
                self.nodes,
                self.jobs,
                self.deployments,
                self.statefulsets,
                self.services,
                self.configmaps,
                self.pods,
            )
            if i is not None
        ]

    def synced(self) -> bool:
        return all(i.synced.is_set() for i in self.all())

    # -- lookups for one workspace ---------------------------------------------------------------

    def claims_of(self, namespace: str, name: str) -> list[dict[str, Any]]:
        if self.claims is None:
            return []
        return self.claims.list(
            labels={
                constants.LABEL_WORKSPACE: name,
                constants.LABEL_WORKSPACE_NAMESPACE: namespace,
            }
        )

    def pods_of(self, namespace: str, name: str) -> list[dict[str, Any]]:
        return self.pods.list(namespace=namespace, labels={OWNED: name})

    def nodes_for(
        self,
        *,
        namespace: str,
        name: str,
        selector: Mapping[str, str],
        preferred: tuple[str, ...] = (),
    ) -> list[dict[str, Any]]:
        """Nodes this Workspace may use: its own (by label), BYO nodes matching its selector, and
        preferred nodes by name; never a node another Workspace's claim created."""
        found = []
        for node in self.nodes:
            labels = node["metadata"].get("labels") or {}
            owner = labels.get(constants.LABEL_WORKSPACE)
            owner_ns = labels.get(constants.LABEL_WORKSPACE_NAMESPACE, namespace)
            if owner is not None and (owner, owner_ns) != (name, namespace):
                continue
            if (
                (owner == name and owner_ns == namespace)
                or (selector and matches_labels(node, selector))
                or node["metadata"]["name"] in preferred
            ):
                found.append(node)
        return found


def workspace_of(obj: Mapping[str, Any]) -> list[Request]:
    """The Workspace that owns a labelled object (claims name their namespace in a label)."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    name = labels.get(constants.LABEL_WORKSPACE)
    if not name:
        return []
    namespace = labels.get(constants.LABEL_WORKSPACE_NAMESPACE) or meta.get("namespace") or ""
    return [Request(namespace, name)]


def referenced_configmaps(workspace: Mapping[str, Any]) -> set[str]:
    """The ConfigMaps (in its own namespace) a Workspace object names."""
    names = {
        ((workspace.get(section) or {}).get("config") or "") for section in ("tuning", "inference")
    }
    return names - {""}


def workspaces_using_configmap(caches: Caches) -> Any:
    """Map a ConfigMap event to the Workspace that owns it, or to the Workspaces of its namespace
    that reference it (so creating or fixing a missing ConfigMap resumes them)."""

    def mapper(configmap: Mapping[str, Any]) -> list[Request]:
        owned = workspace_of(configmap)
        if owned:
            return owned
        meta = configmap.get("metadata") or {}
        namespace, name = meta.get("namespace") or "", meta.get("name")
        return [
            Request(namespace, ws["metadata"]["name"])
            for ws in caches.workspaces.list(namespace=namespace)
            if name in referenced_configmaps(ws)
        ]

    return mapper


def workspaces_using_node(caches: Caches) -> Any:
    """Map a Node event to the Workspaces whose selector (or label) it matches."""

    def mapper(node: Mapping[str, Any]) -> list[Request]:
        owned = workspace_of(node)
        if owned:
            return owned
        requests = []
        for ws in caches.workspaces:
            selector = ((ws.get("resource") or {}).get("labelSelector") or {}).get("matchLabels")
            if selector and matches_labels(node, selector):
                meta = ws["metadata"]
                requests.append(Request(meta.get("namespace") or "", meta["name"]))
        return requests

    return mapper
