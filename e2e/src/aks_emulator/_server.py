"""The emulator's HTTP surface: an aiohttp server answering the ARM calls the gpu-provisioner
makes, plus the ``/_admin`` endpoint.

Every ARM request goes through one pipeline, in the order Azure's front door and resource
provider apply them: count it (by operation and final status) → require a bearer token → check
the api-version → injected latency → injected 429/5xx → the handler. Injected faults fire before
the handler, so a throttled or failed request changes nothing, as with real ARM. Paths match
case-insensitively, as ARM's do.

The state and rules live in :class:`~aks_emulator._provider.ResourceProvider`; this module only
routes, checks scopes and renders documents.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import logging
import random
import re
import socket
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

from aks_emulator._clock import Clock, SystemClock
from aks_emulator._config import EmulatorConfig
from aks_emulator._connecting import DEFAULT_TOKEN, SdkConnection, sdk_connection
from aks_emulator._entra import ENTRA_TOKEN_OPERATION, entra_assertion_error
from aks_emulator._errors import ArmError, ErrorDetail, invalid_parameter, not_found_resource
from aks_emulator._faults import Faults, FaultsError
from aks_emulator._nodes import KubeNodeJoiner
from aks_emulator._pools import (
    Operation,
    managed_cluster_document,
    pool_document,
    vmss_vm_documents,
)
from aks_emulator._provider import ResourceProvider
from aks_emulator._skus import REGIONAL_USAGE, SkuTable, resource_sku_document, usage_document
from aks_emulator._tls import TlsFiles, write_local_ca

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from aks_emulator._faults import LatencySpec
    from aks_emulator._nodes import NodeJoiner

__all__ = ["ADMIN_PREFIX", "AksEmulator"]

log = logging.getLogger("aks_emulator")

ADMIN_PREFIX = "/_admin"
ENTRA_TOKEN_PATH = "/{tenant}/oauth2/v2.0/token"
"""Microsoft Entra ID's token endpoint, relative to an authority host (``AZURE_AUTHORITY_HOST``)."""
_SUB = r"/subscriptions/(?P<sub>[^/]+)"
_RG = _SUB + r"/resourcegroups/(?P<rg>[^/]+)"
_MC = _RG + r"/providers/microsoft\.containerservice/managedclusters/(?P<cluster>[^/]+)"
_POOL = _MC + r"/agentpools/(?P<pool>[^/]+)"
_OPS = _SUB + r"/providers/microsoft\.containerservice/locations/(?P<loc>[^/]+)"
_COMPUTE = _SUB + r"/providers/microsoft\.compute"
_VMSS = _RG + r"/providers/microsoft\.compute/virtualmachinescalesets/(?P<vmss>[^/]+)"
AKS_PROVIDER = "microsoft.containerservice"
COMPUTE_PROVIDER = "microsoft.compute"
_SERVER_ERROR_CODES = {
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    operation: str
    """The name requests are counted under and faults match against."""
    provider: str
    handler: Callable[[web.Request, Mapping[str, str]], Awaitable[web.StreamResponse]]


class AksEmulator:
    """A local ARM for one AKS cluster. Use as ``async with AksEmulator(...) as emulator``.

    ``nodes`` (a :class:`NodeJoiner`, e.g. ``KubeNodeJoiner(api_client)``) or ``kubeconfig`` make
    pool operations create and delete Nodes in that cluster; with neither, pools exist only in
    ARM. ``tls=False`` serves plain http. ``tls_dir`` keeps the generated CA (default: a temporary
    directory removed on close). ``clock`` times latency and operations; ``config.seed`` seeds
    fault rates and random latencies.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        faults: Faults | None = None,
        nodes: NodeJoiner | None = None,
        kubeconfig: Path | None = None,
        clock: Clock | None = None,
        skus: SkuTable | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = True,
        tls_dir: Path | None = None,
    ) -> None:
        if nodes is not None and kubeconfig is not None:
            raise ValueError("pass nodes or kubeconfig, not both")
        self.config = config or EmulatorConfig()
        self._clock: Clock = clock or SystemClock()
        self.provider = ResourceProvider(
            self.config,
            skus=skus or SkuTable.from_catalog(),
            faults=faults or Faults(),
            clock=self._clock,
            nodes=nodes,
        )
        self._kubeconfig = kubeconfig
        self._host, self._port = host, port
        self._tls, self._tls_dir = tls, tls_dir
        self._rng = random.Random(self.config.seed)
        self._counts: dict[str, Counter[int]] = {}
        self._runner: web.AppRunner | None = None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self.tls_files: TlsFiles | None = None
        self.base_url = ""
        self._routes = [
            self._route("PUT", _POOL, "agentPools.createOrUpdate", self._put_pool),
            self._route("GET", _POOL, "agentPools.get", self._get_pool),
            self._route("DELETE", _POOL, "agentPools.delete", self._delete_pool),
            self._route("GET", _MC + "/agentpools", "agentPools.list", self._list_pools),
            self._route("GET", _MC, "managedClusters.get", self._get_cluster),
            self._route("GET", _OPS + "/operations/(?P<op>[^/]+)", "operations.get",
                        self._get_operation),
            self._route("GET", _OPS + "/operationresults/(?P<op>[^/]+)", "operationResults.get",
                        self._get_operation_result),
            self._route("GET", _COMPUTE + "/skus", "resourceSkus.list", self._list_skus),
            self._route("GET", _COMPUTE + "/locations/(?P<loc>[^/]+)/usages", "usages.list",
                        self._list_usages),
            self._route("GET", _VMSS + "/virtualmachines", "virtualMachineScaleSetVMs.list",
                        self._list_vmss_vms),
        ]  # fmt: skip

    @staticmethod
    def _route(
        method: str,
        pattern: str,
        operation: str,
        handler: Callable[[web.Request, Mapping[str, str]], Awaitable[web.StreamResponse]],
    ) -> _Route:
        return _Route(
            method=method,
            pattern=re.compile(f"^{pattern}$", re.IGNORECASE),
            operation=operation,
            provider=COMPUTE_PROVIDER if "compute" in pattern else AKS_PROVIDER,
            handler=handler,
        )

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._kubeconfig is not None:
            self.provider.nodes = await KubeNodeJoiner.from_kubeconfig(self._kubeconfig)
        ssl_context = None
        if self._tls:
            directory = self._tls_dir
            if directory is None:
                self._tempdir = tempfile.TemporaryDirectory(prefix="aks-emulator-")
                directory = Path(self._tempdir.name)
            self.tls_files = write_local_ca(directory, hosts=(self._host, "localhost"))
            ssl_context = self.tls_files.server_context()
        app = web.Application()
        admin = app.router
        admin.add_get(f"{ADMIN_PREFIX}/healthz", self._admin_health)
        admin.add_get(f"{ADMIN_PREFIX}/counts", self._admin_counts)
        admin.add_delete(f"{ADMIN_PREFIX}/counts", self._admin_reset_counts)
        admin.add_get(f"{ADMIN_PREFIX}/faults", self._admin_faults)
        admin.add_put(f"{ADMIN_PREFIX}/faults", self._admin_put_faults)
        admin.add_patch(f"{ADMIN_PREFIX}/faults", self._admin_patch_faults)
        admin.add_get(f"{ADMIN_PREFIX}/state", self._admin_state)
        app.router.add_post(ENTRA_TOKEN_PATH, self._entra_token)
        app.router.add_route("*", "/{tail:.*}", self._arm)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock, ssl_context=ssl_context).start()
        self.base_url = f"{'https' if self._tls else 'http'}://{self._host}:{port}"
        log.info("AKS emulator serving %s", self.base_url)

    async def close(self) -> None:
        await self.provider.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._kubeconfig is not None and self.provider.nodes is not None:
            await self.provider.nodes.close()  # the joiner this emulator built
            self.provider.nodes = None
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    async def __aenter__(self) -> AksEmulator:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def connection(self, *, polling_interval: float | None = 0.05) -> SdkConnection:
        """``(base_url, credential, client_kwargs)`` for an Azure SDK client of this emulator."""
        return sdk_connection(
            self.base_url,
            ca_cert=self.tls_files.ca_cert if self.tls_files else None,
            token=self.config.bearer_token or DEFAULT_TOKEN,
            polling_interval=polling_interval,
        )

    @property
    def admin_url(self) -> str:
        return f"{self.base_url}{ADMIN_PREFIX}"

    # -- faults, counts, state (also served under /_admin) ---------------------------------------

    @property
    def faults(self) -> Faults:
        return self.provider.faults

    def set_faults(self, faults: Faults) -> None:
        """Replace the faults. ``times`` budgets restart; stuck operations re-check."""
        self.provider.set_faults(faults)

    def counts(self) -> dict[str, Any]:
        """Requests per operation and HTTP status, plus Node joins and deletions issued."""
        operations = {
            op: {str(status): n for status, n in sorted(statuses.items())}
            for op, statuses in sorted(self._counts.items())
        }
        return {
            "operations": operations,
            "total": sum(sum(s.values()) for s in self._counts.values()),
            "nodes_joined": self.provider.nodes_joined,
            "nodes_deleted": self.provider.nodes_deleted,
        }

    def requests(self, operation: str, status: int | None = None) -> int:
        """How many requests of ``operation`` were answered (with ``status``, if given)."""
        statuses = self._counts.get(operation, Counter())
        return statuses[status] if status is not None else sum(statuses.values())

    def reset_counts(self) -> None:
        self._counts.clear()
        self.provider.nodes_joined = self.provider.nodes_deleted = 0

    def state(self) -> dict[str, Any]:
        """Pools (with their Node names), vCPU usage and operations, for humans and tests."""
        identity = self.config.identity
        per_family, total = self.provider.usage()
        return {
            "pools": [
                {
                    "name": p.spec.name,
                    "vmSize": p.spec.vm_size,
                    "count": p.spec.count,
                    "provisioningState": p.provisioning_state,
                    "nodes": [identity.node_name(p.spec.name, i.instance_id) for i in p.instances],
                }
                for p in self.provider.pools()
            ],
            "usage": {REGIONAL_USAGE: total, **per_family},
            "operations": [
                op.document() | {"kind": op.kind, "pool": op.pool}
                for op in self.provider.operations()
            ],
        }

    # -- the ARM pipeline ------------------------------------------------------------------------

    def _match(self, method: str, path: str) -> tuple[_Route, dict[str, str]] | None:
        path = path.rstrip("/") or "/"
        path_matched = False
        for route in self._routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            path_matched = True
            if route.method == method:
                return route, found.groupdict()
        if path_matched:
            raise ArmError(405, "MethodNotAllowed", f"The method '{method}' is not supported here.")
        return None

    async def _arm(self, request: web.Request) -> web.StreamResponse:
        operation = "unknown"
        try:
            matched = self._match(request.method, request.path)
            if matched is not None:
                operation = matched[0].operation
            response = await self._pipeline(request, operation, matched)
        except ArmError as error:
            response = web.json_response(error.body(), status=error.status, headers=error.headers)
        self._counts.setdefault(operation, Counter())[response.status] += 1
        response.headers["x-ms-request-id"] = str(uuid.uuid4())
        for header in ("x-ms-client-request-id", "x-ms-correlation-request-id"):
            if header in request.headers:
                response.headers[header] = request.headers[header]
        return response

    async def _pipeline(
        self,
        request: web.Request,
        operation: str,
        matched: tuple[_Route, dict[str, str]] | None,
    ) -> web.StreamResponse:
        self._authenticate(request)
        if matched is None:
            raise ArmError(
                404,
                "InvalidResourceType",
                f"The AKS emulator does not serve {request.method} {request.path}.",
            )
        route, params = matched
        self._check_api_version(request, route)
        latency = self.faults.latency_for(operation)
        if latency is not None:
            await self._clock.sleep(self._draw_latency(latency))
        self._inject_errors(operation)
        return await route.handler(request, params)

    # -- Microsoft Entra ID (workload identity) -------------------------------------------------

    async def _entra_token(self, request: web.Request) -> web.Response:
        """The client-credentials grant with a federated assertion, as workload identity sends it.

        A process configured like an AKS workload-identity pod (``AZURE_AUTHORITY_HOST`` = this
        emulator, ``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID``, ``AZURE_FEDERATED_TOKEN_FILE`` = a
        Kubernetes ServiceAccount token) gets an ARM token here through azure-identity's own
        ``DefaultAzureCredential``. The assertion's claims are checked as Entra checks a federated
        credential (audience, and the subject when one is configured); its signature is not.
        """
        form = await request.post()
        error = entra_assertion_error(
            form, tenant=request.match_info["tenant"], subject=self.config.federated_subject
        )
        counts = self._counts.setdefault(ENTRA_TOKEN_OPERATION, Counter())
        if error is not None:
            counts[error.status] += 1
            return web.json_response(error.body(), status=error.status)
        counts[200] += 1
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": self.config.bearer_token or DEFAULT_TOKEN,
            }
        )

    def _authenticate(self, request: web.Request) -> None:
        challenge = {
            "WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/'
            'common", error="invalid_token", error_description="a bearer token is required"'
        }
        header = request.headers.get("Authorization")
        if header is None:
            raise ArmError(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
                headers=challenge,
            )
        scheme, _, token = header.partition(" ")
        expected = self.config.bearer_token
        if scheme.lower() != "bearer" or not token.strip() or (expected and token != expected):
            raise ArmError(
                401, "InvalidAuthenticationToken", "The access token is invalid.", headers=challenge
            )

    def _check_api_version(self, request: web.Request, route: _Route) -> None:
        version = request.query.get("api-version")
        if not version:
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        supported = self.config.api_versions.get(route.provider, frozenset())
        if version not in supported:
            raise ArmError(
                400,
                "NoRegisteredProviderFound",
                f"No registered resource provider found for location "
                f"'{self.config.identity.location}' and API version '{version}' for "
                f"{route.operation}. The supported api-versions are "
                f"'{', '.join(sorted(supported))}'.",
            )

    def _draw_latency(self, spec: LatencySpec) -> float:
        return self._rng.uniform(*spec) if isinstance(spec, tuple) else spec

    def _fires(
        self, key: str, *, rate: float, operations: tuple[str, ...], times: int | None, op: str
    ) -> bool:
        """Whether a rate fault fires for ``op``; draws from the random source only if the fault
        applies, so a seed gives the same sequence for the same requests."""
        if not any(fnmatch.fnmatchcase(op, pattern) for pattern in operations):
            return False
        if not self.provider.within_budget(key, times) or self._rng.random() >= rate:
            return False
        self.provider.spend(key)
        return True

    def _inject_errors(self, op: str) -> None:
        throttle = self.faults.throttle
        if throttle is not None and self._fires(
            "throttle",
            rate=throttle.rate,
            operations=throttle.operations,
            times=throttle.times,
            op=op,
        ):
            seconds = throttle.retry_after_seconds
            raise ArmError(
                429,
                "TooManyRequests",
                f"The request was throttled (injected by the AKS emulator); retry after "
                f"{seconds:g} seconds.",
                headers={"Retry-After": f"{seconds:g}"},
            )
        errors = self.faults.server_errors
        if errors is not None and self._fires(
            "server_errors",
            rate=errors.rate,
            operations=errors.operations,
            times=errors.times,
            op=op,
        ):
            status = self._rng.choice(errors.statuses)
            raise ArmError(
                status,
                _SERVER_ERROR_CODES[status],
                "The server encountered an internal error (injected by the AKS emulator).",
            )

    # -- scope checks ----------------------------------------------------------------------------

    def _check_subscription(self, params: Mapping[str, str]) -> None:
        if params["sub"].lower() != self.config.identity.subscription.lower():
            message = f"The subscription '{params['sub']}' could not be found."
            raise ArmError(404, "SubscriptionNotFound", message)

    def _check_resource_group(self, params: Mapping[str, str], expected: str) -> None:
        self._check_subscription(params)
        if params["rg"].lower() != expected.lower():
            message = f"Resource group '{params['rg']}' could not be found."
            raise ArmError(404, "ResourceGroupNotFound", message)

    def _check_cluster(self, params: Mapping[str, str]) -> None:
        identity = self.config.identity
        self._check_resource_group(params, identity.resource_group)
        if params["cluster"].lower() != identity.cluster.lower():
            kind = "Microsoft.ContainerService/managedClusters"
            raise not_found_resource(kind, params["cluster"], params["rg"])

    # -- Microsoft.ContainerService --------------------------------------------------------------

    async def _put_pool(self, request: web.Request, params: Mapping[str, str]) -> web.Response:
        self._check_cluster(params)
        try:
            body = await request.json()
        except ValueError:
            message = "The request content is not valid JSON."
            raise ArmError(400, "InvalidRequestContent", message) from None
        pool, op = self.provider.put_pool(params["pool"], body)
        return web.json_response(
            pool_document(pool, config=self.config),
            status=201 if op.kind == "create" else 200,
            headers=self._lro_headers(op),
        )

    async def _get_pool(self, request: web.Request, params: Mapping[str, str]) -> web.Response:
        self._check_cluster(params)
        pool = self.provider.pool(params["pool"])
        return web.json_response(pool_document(pool, config=self.config))

    async def _delete_pool(self, request: web.Request, params: Mapping[str, str]) -> web.Response:
        self._check_cluster(params)
        op = self.provider.delete_pool(params["pool"])
        return web.Response(status=202, headers=self._lro_headers(op))

    async def _list_pools(self, request: web.Request, params: Mapping[str, str]) -> web.Response:
        self._check_cluster(params)
        pools = [pool_document(p, config=self.config) for p in self.provider.pools()]
        return self._page(request, pools)

    async def _get_cluster(self, request: web.Request, params: Mapping[str, str]) -> web.Response:
        self._check_cluster(params)
        pools = self.provider.pools()
        return web.json_response(managed_cluster_document(pools, config=self.config))

    def _lro_headers(self, op: Operation) -> dict[str, str]:
        """Absolute URLs, as ARM sends them (the SDK polls them as given)."""
        identity = self.config.identity
        base = (
            f"{self.base_url}/subscriptions/{identity.subscription}/providers/"
            f"Microsoft.ContainerService/locations/{identity.location}"
        )
        version = max(self.config.api_versions.get(AKS_PROVIDER, frozenset({"2026-08-01"})))
        return {
            "Azure-AsyncOperation": f"{base}/operations/{op.id}?api-version={version}",
            "Location": f"{base}/operationresults/{op.id}?api-version={version}",
        }

    def _operation_or_404(self, params: Mapping[str, str]) -> Operation:
        self._check_subscription(params)
        op = self.provider.operation(params["op"])
        if op is None or params["loc"].lower() != self.config.identity.location:
            raise ArmError(404, "NotFound", f"Operation '{params['op']}' was not found.")
        return op

    async def _get_operation(self, request: web.Request, params: Mapping[str, str]) -> web.Response:
        return web.json_response(self._operation_or_404(params).document())

    async def _get_operation_result(
        self, request: web.Request, params: Mapping[str, str]
    ) -> web.Response:
        """Location-header polling: 202 while running, 204 on success, the error on failure."""
        op = self._operation_or_404(params)
        if not op.done:
            return web.Response(status=202, headers={"Location": self._lro_headers(op)["Location"]})
        if op.status == "Succeeded":
            return web.Response(status=204)
        error = op.error or ErrorDetail(code="OperationFailed", message="The operation failed.")
        return web.json_response({"error": error.to_json()}, status=400)

    # -- Microsoft.Compute -----------------------------------------------------------------------

    async def _list_skus(self, request: web.Request, params: Mapping[str, str]) -> web.Response:
        self._check_subscription(params)
        location = self.config.identity.location
        wanted = request.query.get("$filter")
        if wanted is not None:
            found = re.fullmatch(r"\s*location\s+eq\s+'([^']*)'\s*", wanted, re.IGNORECASE)
            if found is None:
                raise invalid_parameter(
                    f"The $filter '{wanted}' is not supported; only location eq '<location>' is.",
                    target="$filter",
                )
            if found.group(1).lower() != location:
                return self._page(request, [])
        faults, zones = self.faults, self.config.zones
        documents = [
            resource_sku_document(sku, location=location, zones=zones, faults=faults)
            for sku in self.provider.skus
        ]
        return self._page(request, documents)

    async def _list_usages(self, request: web.Request, params: Mapping[str, str]) -> web.Response:
        self._check_subscription(params)
        if params["loc"].lower() != self.config.identity.location:
            raise invalid_parameter(
                f"Location '{params['loc']}' is not served here; the emulator serves "
                f"'{self.config.identity.location}'.",
                target="location",
            )
        per_family, total = self.provider.usage()
        limit = self.provider.limit
        documents = [usage_document(REGIONAL_USAGE, current=total, limit=limit(REGIONAL_USAGE))]
        for family in self.provider.skus.families():
            current = per_family.get(family.lower(), 0)
            documents.append(usage_document(family, current=current, limit=limit(family)))
        return self._page(request, documents)

    async def _list_vmss_vms(self, request: web.Request, params: Mapping[str, str]) -> web.Response:
        self._check_resource_group(params, self.config.identity.node_resource_group)
        pool = self.provider.pool_of_vmss(params["vmss"])
        if pool is None:
            kind = "Microsoft.Compute/virtualMachineScaleSets"
            raise not_found_resource(kind, params["vmss"], params["rg"])
        return self._page(request, vmss_vm_documents(pool, config=self.config))

    def _page(self, request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        """One page of ``items``; ``nextLink`` carries the offset in ``$skipToken``."""
        token = request.query.get("$skipToken", "0")
        if not token.isdigit():
            raise invalid_parameter(f"Invalid $skipToken '{token}'.", target="$skipToken")
        start = int(token)
        end = start + self.config.page_size
        body: dict[str, Any] = {"value": items[start:end]}
        if end < len(items):
            query = {k: v for k, v in request.query.items() if k != "$skipToken"}
            query["$skipToken"] = str(end)
            body["nextLink"] = f"{self.base_url}{request.path}?{urlencode(query)}"
        return web.json_response(body)

    # -- admin -----------------------------------------------------------------------------------

    async def _admin_health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "base_url": self.base_url})

    async def _admin_counts(self, request: web.Request) -> web.Response:
        return web.json_response(self.counts())

    async def _admin_reset_counts(self, request: web.Request) -> web.Response:
        self.reset_counts()
        return web.Response(status=204)

    async def _admin_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self.faults.to_json())

    async def _admin_state(self, request: web.Request) -> web.Response:
        return web.json_response(self.state())

    async def _admin_put_faults(self, request: web.Request) -> web.Response:
        return await self._admin_change_faults(request, Faults.from_mapping)

    async def _admin_patch_faults(self, request: web.Request) -> web.Response:
        return await self._admin_change_faults(request, self.faults.merged)

    async def _admin_change_faults(
        self, request: web.Request, build: Callable[[Mapping[str, Any]], Faults]
    ) -> web.Response:
        try:
            document = await request.json()
            if not isinstance(document, dict):
                raise FaultsError("the body must be a JSON object")
            faults = build(document)
        except (ValueError, json.JSONDecodeError) as exc:
            error = {"code": "InvalidFaults", "message": str(exc)}
            return web.json_response({"error": error}, status=400)
        self.set_faults(faults)
        return web.json_response(faults.to_json())
