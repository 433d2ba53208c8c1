"""Kubernetes Events about the objects a controller manages, aggregated like client-go's recorder.

An Event repeated for the same object, reason and message bumps ``count`` and ``lastTimestamp``
instead of creating a new object. Recording never fails a reconcile: API errors are logged.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import structlog
from kubernetes_asyncio.client.exceptions import ApiException

from controller_kit import _conditions, _resources
from controller_kit._clock import Clock, SystemClock
from controller_kit._controlling import describe

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kubernetes_asyncio.client import ApiClient

NORMAL = "Normal"
WARNING = "Warning"
_log = structlog.get_logger("controller_kit.events")


class EventRecorder:
    """Records core/v1 Events as ``component``."""

    def __init__(
        self,
        api: ApiClient,
        *,
        component: str,
        default_namespace: str = "default",
        clock: Clock | None = None,
        cache_size: int = 4096,
    ) -> None:
        self._api = api
        self._component = component
        self._default_namespace = default_namespace
        self._clock = clock or SystemClock()
        self._seen: OrderedDict[tuple[str, str, str, str], tuple[str, str, int]] = OrderedDict()
        self._cache_size = cache_size

    async def record(
        self, obj: Mapping[str, Any], *, type_: str, reason: str, message: str
    ) -> None:
        """Record that ``reason: message`` happened to ``obj``."""
        meta = obj["metadata"]
        namespace = meta.get("namespace") or self._default_namespace
        key = (meta.get("uid", ""), type_, reason, message)
        now = _conditions.rfc3339(self._clock.now())
        try:
            previous = self._seen.get(key)
            if previous is not None and await self._bump(key, previous, now):
                return
            name = f"{meta['name']}.{secrets.token_hex(8)}"
            event = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": {
                    "apiVersion": obj.get("apiVersion"),
                    "kind": obj.get("kind"),
                    "name": meta["name"],
                    "namespace": meta.get("namespace"),
                    "uid": meta.get("uid"),
                    "resourceVersion": meta.get("resourceVersion"),
                },
                "reason": reason,
                "message": message[:1024],
                "type": type_,
                "source": {"component": self._component},
                "reportingComponent": self._component,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
            }
            await _resources.create(self._api, _resources.EVENTS, event)
            self._remember(key, (namespace, name, 1))
        except Exception as exc:
            _log.warning("could not record event", reason=reason, error=describe(exc))

    async def _bump(
        self, key: tuple[str, str, str, str], previous: tuple[str, str, int], now: str
    ) -> bool:
        """Count one more occurrence on the existing Event; False if it is gone (expired)."""
        event_namespace, name, count = previous
        try:
            await _resources.patch(
                self._api,
                _resources.EVENTS,
                name,
                {"count": count + 1, "lastTimestamp": now},
                namespace=event_namespace,
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
            del self._seen[key]
            return False
        self._remember(key, (event_namespace, name, count + 1))
        return True

    def _remember(self, key: tuple[str, str, str, str], value: tuple[str, str, int]) -> None:
        self._seen[key] = value
        self._seen.move_to_end(key)
        while len(self._seen) > self._cache_size:
            self._seen.popitem(last=False)
