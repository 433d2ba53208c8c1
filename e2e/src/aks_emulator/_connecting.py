"""How an Azure SDK client reaches the emulator: base URL, credential, client keyword arguments.

Over https (the default) the client keeps the SDK's own ARM bearer-token policy and only learns to
trust the emulator's CA (``connection_verify``); that is the production code path with a different
endpoint and credential. Over plain http the default policy refuses to send a token, so the helper
swaps in :class:`PlainHttpBearerPolicy` instead; use that only for tools that cannot take a CA.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, NamedTuple

from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.pipeline.policies import SansIOHTTPPolicy

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType

    from azure.core.credentials import TokenRequestOptions
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.core.pipeline import PipelineRequest

__all__ = ["DEFAULT_TOKEN", "PlainHttpBearerPolicy", "SdkConnection", "StaticTokenCredential"]

DEFAULT_TOKEN = "aks-emulator-token"


class StaticTokenCredential:
    """An ``AsyncTokenCredential`` (and ``AsyncSupportsTokenInfo``) that always returns one
    token, valid for an hour from each request."""

    def __init__(self, token: str = DEFAULT_TOKEN, *, lifetime_seconds: int = 3600) -> None:
        self._token = token
        self._lifetime = lifetime_seconds

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + self._lifetime)

    async def get_token_info(
        self, *scopes: str, options: TokenRequestOptions | None = None
    ) -> AccessTokenInfo:
        return AccessTokenInfo(self._token, int(time.time()) + self._lifetime)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> StaticTokenCredential:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        return None


class PlainHttpBearerPolicy(SansIOHTTPPolicy[Any, Any]):
    """Adds ``Authorization: Bearer <token>`` without the https check (plain-http mode only)."""

    def __init__(self, token: str = DEFAULT_TOKEN) -> None:
        super().__init__()
        self._token = token

    def on_request(self, request: PipelineRequest[Any]) -> None:
        request.http_request.headers["Authorization"] = f"Bearer {self._token}"


class SdkConnection(NamedTuple):
    """Unpacks as ``base_url, credential, client_kwargs``::

    base_url, credential, kwargs = emulator.connection()
    client = ContainerServiceClient(credential, subscription, base_url=base_url, **kwargs)
    """

    base_url: str
    credential: AsyncTokenCredential
    client_kwargs: dict[str, Any]


def sdk_connection(
    base_url: str,
    *,
    ca_cert: Path | None,
    token: str = DEFAULT_TOKEN,
    polling_interval: float | None = 0.05,
) -> SdkConnection:
    """Connection settings for an emulator at ``base_url`` (https needs its ``ca_cert``).

    ``polling_interval`` (seconds between LRO polls; the SDK's default is 30) is included unless
    None.
    """
    kwargs: dict[str, Any] = {}
    if base_url.startswith("https://"):
        if ca_cert is None:
            raise ValueError("an https emulator needs its CA certificate (ca_cert)")
        kwargs["connection_verify"] = str(ca_cert)
    else:
        kwargs["authentication_policy"] = PlainHttpBearerPolicy(token)
    if polling_interval is not None:
        kwargs["polling_interval"] = polling_interval
    return SdkConnection(base_url, StaticTokenCredential(token), kwargs)
