"""The probe and metrics endpoints: /healthz, /readyz and /metrics on one aiohttp server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import prometheus_client
from aiohttp import web
from prometheus_client import aiohttp as prometheus_aiohttp

Check = Callable[[], bool]


class ProbeServer:
    """Serves liveness, readiness (every named check must pass) and Prometheus metrics."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        readiness: Mapping[str, Check] | None = None,
        liveness: Mapping[str, Check] | None = None,
        registry: prometheus_client.CollectorRegistry = prometheus_client.REGISTRY,
    ) -> None:
        self._host = host
        self._port = port
        self._readiness = dict(readiness or {})
        self._liveness = dict(liveness or {})
        app = web.Application()
        app.router.add_get("/healthz", self._handler(self._liveness))
        app.router.add_get("/readyz", self._handler(self._readiness))
        app.router.add_get("/metrics", prometheus_aiohttp.make_aiohttp_handler(registry))
        self._runner = web.AppRunner(app, access_log=None)
        self.port = port

    @staticmethod
    def _handler(
        checks: Mapping[str, Check],
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            del request
            failed = [name for name, check in checks.items() if not check()]
            if failed:
                return web.Response(status=503, text="failed: " + ", ".join(sorted(failed)) + "\n")
            return web.Response(text="ok\n")

        return handle

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        sockets = self._runner.addresses
        if sockets:
            self.port = int(sockets[0][1])

    async def stop(self) -> None:
        await self._runner.cleanup()
