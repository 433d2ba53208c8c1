"""List+watch one kind into an in-memory cache and tell handlers what changed.

Reconcilers read from these caches, never from the API server directly, so a burst of events
costs one list and a stream of watch events rather than a GET per reconcile. The informer lists
(paginated), then watches from the list's resourceVersion with bookmarks; when the watch expires
it resumes from the last version seen; when the server answers 410 Gone it relists and emits the
differences, so handlers never miss a change for long. Errors (the API server refusing
connections, a 5xx while etcd is down) back off exponentially, up to ``MAX_BACKOFF_SECONDS``,
and never end the informer; while they last, :attr:`Informer.synced` is cleared, so a leader's
readiness shows that its caches may be stale, and set again by the next successful list.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

import structlog
from kubernetes_asyncio import watch
from kubernetes_asyncio.client.exceptions import ApiException

from controller_kit import _resources
from controller_kit._clock import Clock, SystemClock
from controller_kit._resources import Object, Resource

if TYPE_CHECKING:
    import builtins

    from kubernetes_asyncio.client import ApiClient

EventType = Literal["ADDED", "MODIFIED", "DELETED"]
Handler = Callable[[EventType, Object | None, Object | None], None]
"""Called with (event, old object or None, new object or None); must not block."""

_log = structlog.get_logger("controller_kit.informer")
MAX_BACKOFF_SECONDS = 10.0


def object_key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj["metadata"]
    return meta.get("namespace") or "", meta["name"]


def matches_labels(obj: Mapping[str, Any], selector: Mapping[str, str]) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


class Informer:
    """A watched, cached view of one kind (optionally one namespace and/or a label selector)."""

    def __init__(
        self,
        api: ApiClient,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        page_size: int = 500,
        watch_timeout_seconds: tuple[int, int] = (300, 600),
        clock: Clock | None = None,
    ) -> None:
        self.resource = resource
        self._api = api
        self._namespace = namespace
        self._label_selector = label_selector
        self._page_size = page_size
        self._watch_timeout = watch_timeout_seconds
        self._clock = clock or SystemClock()
        self._store: dict[tuple[str, str], Object] = {}
        self._handlers: list[Handler] = []
        self._resource_version = ""
        self.synced = asyncio.Event()
        """Set once a list has filled the cache and while list/watch keeps it current; cleared
        while they fail."""
        self._log = _log.bind(kind=resource.kind)

    # -- reading ---------------------------------------------------------------------------------

    def get(self, name: str, namespace: str = "") -> Object | None:
        """The cached object, or None."""
        return self._store.get((namespace, name))

    def list(
        self, *, namespace: str | None = None, labels: Mapping[str, str] | None = None
    ) -> list[Object]:
        """Cached objects, filtered by namespace and exact label matches."""
        return [
            obj
            for (ns, _), obj in self._store.items()
            if (namespace is None or ns == namespace)
            and (labels is None or matches_labels(obj, labels))
        ]

    def __iter__(self) -> Iterator[Object]:
        return iter(list(self._store.values()))

    def __len__(self) -> int:
        return len(self._store)

    # -- events ----------------------------------------------------------------------------------

    def add_handler(self, handler: Handler) -> None:
        """Register ``handler``; it also receives ADDED for everything already cached."""
        self._handlers.append(handler)
        for obj in list(self._store.values()):
            handler("ADDED", None, obj)

    def _emit(self, event: EventType, old: Object | None, new: Object | None) -> None:
        for handler in self._handlers:
            try:
                handler(event, old, new)
            except Exception:
                self._log.exception("event handler failed", event_type=event)

    def _apply(self, event: EventType, obj: Object) -> None:
        key = object_key(obj)
        old = self._store.get(key)
        if event == "DELETED":
            self._store.pop(key, None)
            self._emit("DELETED", old, obj)
            return
        self._store[key] = obj
        self._emit("ADDED" if old is None else "MODIFIED", old, obj)

    # -- running ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """List and watch until cancelled."""
        failures = 0
        relist = True
        while True:
            try:
                if relist:
                    await self._relist()
                    relist = False
                await self._watch_once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except ApiException as exc:
                if exc.status == 410:  # our resourceVersion is too old: start over
                    self._log.info("watch expired, relisting")
                    relist = True
                    continue
                failures += 1
                relist = True
                await self._backoff(failures, exc)
            except Exception as exc:
                failures += 1
                relist = True
                await self._backoff(failures, exc)

    async def _backoff(self, failures: int, exc: BaseException) -> None:
        if self.synced.is_set():
            self.synced.clear()
            self._log.warning("cache out of sync until list/watch succeeds again")
        delay = min(MAX_BACKOFF_SECONDS, 0.2 * 2 ** min(failures, 8)) * (0.5 + random.random() / 2)
        self._log.warning(
            "list/watch failed",
            error=str(exc) or type(exc).__name__,
            retry_in_seconds=round(delay, 2),
        )
        await self._clock.sleep(delay)

    def _query(self) -> builtins.list[tuple[str, str]]:
        return [("labelSelector", self._label_selector)] if self._label_selector else []

    async def _relist(self) -> None:
        items: builtins.list[Object] = []
        continue_token = ""
        while True:
            query = [*self._query(), ("limit", str(self._page_size))]
            if continue_token:
                query.append(("continue", continue_token))
            page = await _resources.call(
                self._api, "GET", self.resource.path(namespace=self._namespace), query=query
            )
            kind = self.resource.kind
            for item in page.get("items") or []:
                item.setdefault("apiVersion", self.resource.api_version)
                item.setdefault("kind", kind)
                items.append(item)
            continue_token = (page.get("metadata") or {}).get("continue") or ""
            if not continue_token:
                self._resource_version = page["metadata"]["resourceVersion"]
                break
        fresh = {object_key(o): o for o in items}
        for key in [k for k in self._store if k not in fresh]:
            self._emit("DELETED", self._store.pop(key), None)
        for obj in fresh.values():
            old = self._store.get(object_key(obj))
            if old is None or old["metadata"].get("resourceVersion") != obj["metadata"].get(
                "resourceVersion"
            ):
                self._apply("MODIFIED" if old else "ADDED", obj)
        self.synced.set()

    async def _list_page(self, **kwargs: Any) -> Any:
        """The function kubernetes-asyncio's Watch calls (with watch=True, resource_version=...)."""
        names = {
            "resource_version": "resourceVersion",
            "allow_watch_bookmarks": "allowWatchBookmarks",
            "timeout_seconds": "timeoutSeconds",
            "watch": "watch",
        }
        query = self._query()
        for key, value in kwargs.items():
            if key in names:
                query.append(
                    (names[key], str(value).lower() if isinstance(value, bool) else str(value))
                )
        timeout = int(kwargs.get("timeout_seconds", 300))
        return await _resources.call(
            self._api,
            "GET",
            self.resource.path(namespace=self._namespace),
            query=query,
            preload=bool(kwargs.get("_preload_content", True)),
            timeout_seconds=timeout + 30,
        )

    async def _watch_once(self) -> None:
        low, high = self._watch_timeout
        stream = watch.Watch(return_type="object")
        try:
            events = stream.stream(
                self._list_page,
                resource_version=self._resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=random.randint(low, high),
            )
            async for event in events:
                kind = event["type"]
                obj = event["raw_object"]
                if kind == "BOOKMARK":
                    self._resource_version = obj["metadata"]["resourceVersion"]
                    continue
                if kind not in ("ADDED", "MODIFIED", "DELETED"):
                    continue
                obj.setdefault("apiVersion", self.resource.api_version)
                obj.setdefault("kind", self.resource.kind)
                self._resource_version = obj["metadata"]["resourceVersion"]
                self._apply(kind, obj)
        finally:
            await stream.close()
