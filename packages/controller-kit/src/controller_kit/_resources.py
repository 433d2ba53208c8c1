"""REST coordinates of a kind, and raw JSON access to it through kubernetes-asyncio's ApiClient.

The controllers work on plain JSON dicts (parsed into typed models where they read them), for
built-in kinds and custom resources alike, so one code path serves Nodes, Jobs and NodeClaims.
"""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.parse
from typing import TYPE_CHECKING, Any, cast

from kubernetes_asyncio.client.exceptions import ApiException

from controller_kit import _metrics

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from kubernetes_asyncio.client import ApiClient

Object = dict[str, Any]
"""A Kubernetes object as JSON."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Resource:
    """One kind's REST coordinates (group "" is the core group)."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, *, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base = f"{base}/namespaces/{namespace}"
        base = f"{base}/{self.plural}"
        return f"{base}/{name}" if name else base


NODES = Resource(group="", version="v1", plural="nodes", kind="Node", namespaced=False)
PODS = Resource(group="", version="v1", plural="pods", kind="Pod", namespaced=True)
EVENTS = Resource(group="", version="v1", plural="events", kind="Event", namespaced=True)
SERVICES = Resource(group="", version="v1", plural="services", kind="Service", namespaced=True)
CONFIGMAPS = Resource(
    group="", version="v1", plural="configmaps", kind="ConfigMap", namespaced=True
)
JOBS = Resource(group="batch", version="v1", plural="jobs", kind="Job", namespaced=True)
DEPLOYMENTS = Resource(
    group="apps", version="v1", plural="deployments", kind="Deployment", namespaced=True
)
STATEFULSETS = Resource(
    group="apps", version="v1", plural="statefulsets", kind="StatefulSet", namespaced=True
)
LEASES = Resource(
    group="coordination.k8s.io", version="v1", plural="leases", kind="Lease", namespaced=True
)


async def call(
    api: ApiClient,
    method: str,
    path: str,
    *,
    body: Any = None,
    query: Sequence[tuple[str, str]] = (),
    content_type: str = "application/json",
    preload: bool = True,
    timeout_seconds: float | None = None,
) -> Any:
    """One authenticated request; the JSON body as a dict (or the raw response if not preloaded).

    Raises ``kubernetes_asyncio.client.exceptions.ApiException`` on a non-2xx status. Every
    request is counted in client-go's ``rest_client_requests_total{code,method,host}`` (code
    ``<error>`` when no HTTP answer came) and timed, up to its response head, in
    ``rest_client_request_duration_seconds{verb,host}``.
    """
    host = urllib.parse.urlsplit(str(api.configuration.host)).netloc
    code = _metrics.REST_CLIENT_ERROR_CODE
    started = time.monotonic()
    try:
        response = await api.call_api(
            path,
            method,
            query_params=list(query),
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body,
            response_types_map={200: "object", 201: "object", 202: "object"},
            auth_settings=["BearerToken"],
            _return_http_data_only=False,
            _preload_content=preload,
            _request_timeout=timeout_seconds,
        )
        if not preload:  # the raw aiohttp response, its body still to be read (a watch)
            code = str(response.status)
            return response
        data, status, _headers = response
        code = str(status)
        return data
    except ApiException as exc:
        if exc.status:  # 0: kubernetes-asyncio could not even build the request
            code = str(exc.status)
        raise
    finally:
        _metrics.REST_CLIENT_REQUESTS.labels(code=code, method=method.upper(), host=host).inc()
        _metrics.REST_CLIENT_DURATION.labels(verb=method.upper(), host=host).observe(
            time.monotonic() - started
        )


async def get(
    api: ApiClient, resource: Resource, name: str, namespace: str | None = None
) -> Object:
    return cast("Object", await call(api, "GET", resource.path(namespace=namespace, name=name)))


async def create(api: ApiClient, resource: Resource, obj: Mapping[str, Any]) -> Object:
    namespace = obj.get("metadata", {}).get("namespace")
    return cast("Object", await call(api, "POST", resource.path(namespace=namespace), body=obj))


async def patch(
    api: ApiClient,
    resource: Resource,
    name: str,
    body: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    namespace: str | None = None,
    subresource: str | None = None,
    patch_type: str = "application/merge-patch+json",
) -> Object:
    path = resource.path(namespace=namespace, name=name)
    if subresource:
        path = f"{path}/{subresource}"
    return cast("Object", await call(api, "PATCH", path, body=body, content_type=patch_type))


async def replace_status(api: ApiClient, resource: Resource, obj: Mapping[str, Any]) -> Object:
    """PUT the status subresource (optimistic concurrency through metadata.resourceVersion)."""
    meta = obj["metadata"]
    path = resource.path(namespace=meta.get("namespace"), name=meta["name"]) + "/status"
    return cast("Object", await call(api, "PUT", path, body=obj))


async def delete(
    api: ApiClient,
    resource: Resource,
    name: str,
    *,
    namespace: str | None = None,
    propagation_policy: str = "Background",
    preconditions_uid: str | None = None,
) -> Object:
    body: dict[str, Any] = {"propagationPolicy": propagation_policy}
    if preconditions_uid:
        body["preconditions"] = {"uid": preconditions_uid}
    path = resource.path(namespace=namespace, name=name)
    return cast("Object", await call(api, "DELETE", path, body=body))


def decode(data: bytes | str) -> Object:
    return cast("Object", json.loads(data))


ERROR_MESSAGE_LIMIT = 1024
"""The longest message :func:`error_message` returns (an Event's message is cut at 1 KiB)."""


def error_message(exc: BaseException, *, limit: int = ERROR_MESSAGE_LIMIT) -> str:
    """A short, readable account of a failed call, for conditions, Events and logs.

    For an API error (``ApiException``) it is the HTTP reason, then the API server's ``Status``
    message, then each of its ``details.causes`` (``field: message``) the message does not
    already spell out; a body that is not a ``Status`` is quoted as it came. Anything else is
    ``str(exc)``. The result is at most ``limit`` characters (cut with an ellipsis).
    """
    if not isinstance(exc, ApiException):
        return _bounded(str(exc) or type(exc).__name__, limit)
    reason = exc.reason or "error"
    head = f"{reason} ({exc.status})" if exc.status else str(reason)
    body: Any = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        status = json.loads(body) if body else None
    except ValueError:
        status = None
    if not isinstance(status, dict):
        text = " ".join(str(body or "").split())
        return _bounded(f"{head}: {text}" if text else head, limit)
    message = str(status.get("message") or "")
    parts = [message] if message else []
    causes = (status.get("details") or {}).get("causes") or []
    for cause in causes if isinstance(causes, list) else []:
        if not isinstance(cause, dict):
            continue
        text = str(cause.get("message") or cause.get("reason") or "")
        field = str(cause.get("field") or "")
        rendered = f"{field}: {text}" if field else text
        if rendered and rendered not in message and rendered not in parts:
            parts.append(rendered)
    return _bounded(f"{head}: {'; '.join(parts)}" if parts else head, limit)


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "\u2026"
