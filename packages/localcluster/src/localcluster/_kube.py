"""Small async helpers over kubernetes-asyncio for tests that talk to the local cluster.

Why not the generated typed APIs: tests apply arbitrary YAML (CRDs, then custom resources of those
CRDs, then built-in kinds) whose kinds are not known in advance. So we resolve
``apiVersion``/``kind`` to a REST path through the API server's own discovery documents and send
raw JSON through the ApiClient's authenticated transport. Discovery is re-read on a miss, because a
CRD applied a moment ago becomes servable only once it is Established.

Everything that waits does so by polling with a deadline (:func:`poll_until`), never by sleeping
a fixed time. kubernetes-asyncio is imported lazily: importing its generated models takes seconds,
and ``python -m localcluster down`` should not pay for that.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import yaml

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from kubernetes_asyncio.client import ApiClient

    from localcluster._cluster import ClusterInfo

T = TypeVar("T")
Manifest = dict[str, Any]

FIELD_MANAGER = "localcluster-tests"
GPU_RESOURCE = "nvidia.com/gpu"


class ApplyError(RuntimeError):
    """The API server rejected a manifest; the message carries its Status message."""


def _status_message(exc: Exception) -> str:
    """``HTTP <code>: <Status.message>`` of an ApiException (its full dump is unreadable)."""
    import json  # noqa: PLC0415

    body = getattr(exc, "body", None)
    try:
        message = json.loads(body)["message"] if body else str(exc)
    except (ValueError, KeyError, TypeError):
        message = str(body)
    return f"HTTP {getattr(exc, 'status', '?')}: {message}"


def _not_found(exc: Exception) -> bool:
    """True for a kubernetes-asyncio ApiException with HTTP 404."""
    from kubernetes_asyncio.client.exceptions import ApiException  # noqa: PLC0415 - slow import

    return isinstance(exc, ApiException) and exc.status == 404


def new_api_client(info: ClusterInfo) -> ApiClient:
    """An ApiClient authenticated as the cluster admin, verifying the cluster CA.

    Must be called inside a running event loop (aiohttp binds its session to it); close it with
    ``await client.close()``.
    """
    from kubernetes_asyncio.client import ApiClient, Configuration  # noqa: PLC0415 - slow import

    configuration = Configuration(host=info.server)
    configuration.api_key = {"BearerToken": info.token}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    configuration.ssl_ca_cert = str(info.ca_cert)
    return ApiClient(configuration=configuration)


async def request(
    api: ApiClient,
    method: str,
    path: str,
    *,
    body: Any = None,
    query: Sequence[tuple[str, str]] = (),
    content_type: str = "application/json",
) -> Any:
    """Send one authenticated request and return the decoded JSON body.

    Raises :class:`kubernetes_asyncio.client.exceptions.ApiException` on a non-2xx status.
    """
    result = await api.call_api(
        path,
        method,
        query_params=list(query),
        header_params={"Content-Type": content_type, "Accept": "application/json"},
        body=body,
        response_types_map={200: "object", 201: "object", 202: "object"},
        auth_settings=["BearerToken"],
        _return_http_data_only=True,
    )
    return result


async def poll_until(
    check: Callable[[], Awaitable[T | None]],
    *,
    description: str,
    timeout_seconds: float = 30.0,
    interval_seconds: float = 0.1,
) -> T:
    """Await ``check()`` until it returns something other than None/False; return that value.

    Raises TimeoutError naming ``description`` and the last value seen once the deadline passes.
    """
    deadline = time.monotonic() + timeout_seconds
    last: object = None
    while True:
        value = await check()
        if value is not None and value is not False:
            return value
        last = value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{description}: not reached within {timeout_seconds}s ({last!r})")
        await asyncio.sleep(interval_seconds)


# -- REST mapping --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResourceRef:
    """The REST coordinates of one kind, as served by discovery."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, *, namespace: str | None = None, name: str | None = None) -> str:
        """Collection path (``name=None``) or object path."""
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced:
            if not namespace:
                raise ValueError(f"{self.kind} is namespaced; a namespace is required")
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


async def resolve(
    api: ApiClient, api_version: str, kind: str, *, timeout_seconds: float = 30.0
) -> ResourceRef:
    """Map ``apiVersion``/``kind`` to its REST resource, waiting up to ``timeout_seconds`` for
    it to appear in discovery (e.g. right after its CRD was created)."""
    path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"

    async def lookup() -> ResourceRef | None:
        try:
            listing = await request(api, "GET", path)
        except Exception as exc:
            if _not_found(exc):
                return None
            raise
        for resource in listing.get("resources", []):
            if resource.get("kind") == kind and "/" not in resource["name"]:
                return ResourceRef(
                    api_version=api_version,
                    kind=kind,
                    plural=resource["name"],
                    namespaced=bool(resource["namespaced"]),
                )
        return None

    return await poll_until(
        lookup, description=f"{api_version} {kind} served", timeout_seconds=timeout_seconds
    )


# -- objects ---------------------------------------------------------------------------------------


ManifestSource = str | Path | Iterable[Mapping[str, Any] | Path]
"""YAML text (``str``), a file (``Path``), or an iterable of parsed documents and/or files."""


def load_manifests(source: ManifestSource) -> list[Manifest]:
    """The documents of ``source``, in order.

    Empty documents are dropped and ``kind: List`` is flattened into its items.
    """
    if isinstance(source, Path):
        raw: Iterable[Any] = yaml.safe_load_all(source.read_text(encoding="utf-8"))
    elif isinstance(source, str):
        raw = yaml.safe_load_all(source)
    else:
        raw = source
    docs: list[Manifest] = []
    for doc in raw:
        if isinstance(doc, Path):
            docs.extend(load_manifests(doc))
            continue
        if not doc:
            continue
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise ValueError(f"not a Kubernetes object: {doc!r:.200}")
        if doc["kind"] == "List" or (doc["kind"].endswith("List") and "items" in doc):
            docs.extend(load_manifests(doc.get("items") or []))
        else:
            docs.append(dict(doc))
    return docs


async def apply_manifests(
    api: ApiClient,
    source: ManifestSource,
    *,
    namespace: str | None = None,
    field_manager: str = FIELD_MANAGER,
    timeout_seconds: float = 60.0,
) -> list[Manifest]:
    """Server-side apply every document, in order, and return what the server stored.

    Namespaced objects without ``metadata.namespace`` go to ``namespace`` (required then).
    Objects with only ``metadata.generateName`` are created instead of applied. A
    CustomResourceDefinition is waited on until Established, so later documents of the same source
    may be instances of it. A rejected document raises :class:`ApplyError` with the server's
    message.
    """
    applied: list[Manifest] = []
    for doc in load_manifests(source):
        ref = await resolve(api, doc["apiVersion"], doc["kind"], timeout_seconds=timeout_seconds)
        metadata = dict(doc.get("metadata") or {})
        ns: str | None = None
        if ref.namespaced:
            ns = metadata.get("namespace") or namespace
            if not ns:
                raise ValueError(f"{doc['kind']} {metadata.get('name')!r} needs a namespace")
            metadata["namespace"] = ns
        body = {**doc, "metadata": metadata}
        name = metadata.get("name")
        try:
            if name:
                stored = await request(
                    api,
                    "PATCH",
                    ref.path(namespace=ns, name=name),
                    body=body,
                    query=[("fieldManager", field_manager), ("force", "true")],
                    content_type="application/apply-patch+yaml",
                )
            else:
                stored = await request(api, "POST", ref.path(namespace=ns), body=body)
        except Exception as exc:
            if getattr(exc, "status", None) is None or getattr(exc, "body", None) is None:
                raise
            label = name or f"{metadata.get('generateName')}*"
            raise ApplyError(f"{doc['kind']} {label!r}: {_status_message(exc)}") from None
        if doc["kind"] == "CustomResourceDefinition":
            await wait_crd_established(api, stored["metadata"]["name"], timeout_seconds)
        applied.append(cast("Manifest", stored))
    return applied


async def get_object(
    api: ApiClient, api_version: str, kind: str, name: str, *, namespace: str | None = None
) -> Manifest | None:
    """The object, or None if it does not exist."""
    ref = await resolve(api, api_version, kind)
    try:
        return cast("Manifest", await request(api, "GET", ref.path(namespace=namespace, name=name)))
    except Exception as exc:
        if _not_found(exc):
            return None
        raise


async def delete_object(
    api: ApiClient,
    api_version: str,
    kind: str,
    name: str,
    *,
    namespace: str | None = None,
    propagation_policy: str = "Background",
) -> None:
    """Delete the object (a missing object is not an error)."""
    ref = await resolve(api, api_version, kind)
    body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation_policy}
    try:
        await request(api, "DELETE", ref.path(namespace=namespace, name=name), body=body)
    except Exception as exc:
        if not _not_found(exc):
            raise


def condition_status(obj: Mapping[str, Any] | None, condition_type: str) -> str | None:
    """``status.conditions[type].status`` of ``obj`` ("True"/"False"/"Unknown"), or None."""
    if obj is None:
        return None
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == condition_type:
            return cast("str", condition.get("status"))
    return None


async def wait_crd_established(api: ApiClient, name: str, timeout_seconds: float = 60.0) -> None:
    """Wait until the CRD ``name`` has condition Established=True."""

    async def established() -> bool:
        crd = await get_object(api, "apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
        return condition_status(crd, "Established") == "True"

    await poll_until(
        established, description=f"CRD {name} Established", timeout_seconds=timeout_seconds
    )


# -- kwok GPU nodes ------------------------------------------------------------------------------


async def create_gpu_node(
    api: ApiClient,
    name: str,
    *,
    gpu_count: int = 1,
    labels: Mapping[str, str] | None = None,
    taints: Sequence[Mapping[str, str]] = (),
    cpu: str = "32",
    memory: str = "256Gi",
    pods: str = "110",
    gpu_resource: str = GPU_RESOURCE,
    wait_ready: bool = True,
    timeout_seconds: float = 30.0,
) -> Manifest:
    """Create a Node that kwok manages (annotation ``kwok.x-k8s.io/node=fake``) with
    ``gpu_count`` units of ``gpu_resource`` in capacity and allocatable.

    ``taints`` are ``{"key": ..., "value": ..., "effect": ...}`` mappings. With ``wait_ready``
    the call returns once kwok has marked the node Ready.
    """
    resources = {"cpu": cpu, "memory": memory, "pods": pods, gpu_resource: str(gpu_count)}
    body: Manifest = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                **(labels or {}),
            },
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"taints": [dict(t) for t in taints]},
        "status": {"capacity": resources, "allocatable": resources},
    }
    node = cast("Manifest", await request(api, "POST", "/api/v1/nodes", body=body))
    capacity = (node.get("status") or {}).get("capacity") or {}
    if capacity.get(gpu_resource) != str(gpu_count):
        # the API server may drop status on create; the status subresource always takes it
        node = cast(
            "Manifest",
            await request(
                api,
                "PATCH",
                f"/api/v1/nodes/{name}/status",
                body={"status": {"capacity": resources, "allocatable": resources}},
                content_type="application/merge-patch+json",
            ),
        )
    if not wait_ready:
        return node

    async def ready() -> Manifest | None:
        current = await get_object(api, "v1", "Node", name)
        return current if condition_status(current, "Ready") == "True" else None

    return await poll_until(
        ready, description=f"kwok node {name} Ready", timeout_seconds=timeout_seconds
    )
