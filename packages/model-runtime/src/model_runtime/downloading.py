"""``download``: the tuning Job's init container that fetches the input URLs into ``$DATA_DIR``.

The URLs are the Workspace author's, and the request leaves from a GPU node, so a URL could aim
at the node's own services, the cloud metadata endpoint (and its credentials) or anything inside
the cluster. The controller rejects such URLs by their text, but a name is only text until it is
resolved: ``127.0.0.1.nip.io`` and any name its owner re-points after the check reach loopback or
private addresses. So the downloader resolves every host itself and connects only to addresses it
has checked:

- :class:`CheckedResolver` wraps the system resolver and keeps only global unicast addresses (no
  loopback, private, link-local, CGNAT, multicast, reserved, unspecified, documentation, NAT64 or
  IPv4-embedding addresses that point at those, nor the cloud host services 169.254.169.254,
  fd00:ec2::254 and 168.63.129.16); aiohttp's connector then connects to exactly the addresses
  it returns, so a second, different answer (DNS rebinding) is never used;
- IP literals, which aiohttp connects to without asking the resolver, are checked before each
  request;
- redirects are followed by hand, at most :data:`MAX_REDIRECTS`, each hop checked again (scheme,
  literal, resolution); proxies from the environment are ignored (``trust_env=False``).

Each ``FILE URL`` pair is saved as ``$DATA_DIR/FILE`` (written to a hidden temporary name, renamed
once complete), tried ``$ATTEMPTS`` times ``$RETRY_DELAY_SECONDS`` apart; a download must answer
HTTP 200 with a non-empty body of at most ``$MAX_BYTES`` within ``$TIMEOUT_SECONDS``. A refused
destination is not retried.
Logs name the file, never the URL: it may carry a signed token.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import os
import socket
from typing import TYPE_CHECKING, Final

import aiohttp
import aiohttp.abc
from yarl import URL

from model_runtime import contract
from model_runtime import logs as jsonlog

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

__all__ = [
    "CheckedResolver",
    "DownloadError",
    "DownloadLimits",
    "RefusedError",
    "download_all",
    "main",
    "refused_address_reason",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES: Final = frozenset({"http", "https"})
MAX_REDIRECTS: Final = 5
REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
DEFAULT_MAX_BYTES: Final = 100 * 1024**3
"""Largest file accepted (env ``MAX_BYTES``): 100 GiB, far above any tuning data set."""
DEFAULT_TIMEOUT_SECONDS: Final = 6 * 3600.0
"""Longest one request may take (env ``TIMEOUT_SECONDS``): 100 GiB at about 5 MB/s."""
_CHUNK = 1024 * 1024

# Globally routable addresses that still reach the host or the cloud's control plane.
_HOST_SERVICES: Final = frozenset(
    ipaddress.ip_address(a) for a in ("168.63.129.16", "169.254.169.254", "fd00:ec2::254")
)
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
_CGNAT: Final = ipaddress.ip_network("100.64.0.0/10")

_log = logging.getLogger("model_runtime.download")


class DownloadError(Exception):
    """One attempt failed in a way that may pass (HTTP error, empty body, network error)."""


class RefusedError(Exception):
    """The destination is not allowed; retrying cannot help."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class DownloadLimits:
    """Bounds of one download attempt."""

    max_bytes: int = DEFAULT_MAX_BYTES
    connect_timeout_seconds: float = 30.0
    read_timeout_seconds: float = 300.0
    """Longest wait for the next bytes of a response."""
    total_timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    """Longest one request may take, body included (env ``TIMEOUT_SECONDS``)."""
    max_redirects: int = MAX_REDIRECTS


def refused_address_reason(address: IPAddress) -> str | None:
    """Why a connection to ``address`` is refused, or None for a global unicast address.

    An IPv4 address carried inside an IPv6 one (mapped, 6to4, Teredo, NAT64) is where the packet
    really goes, so it is checked as well.
    """
    candidates: list[IPAddress] = []
    if isinstance(address, ipaddress.IPv6Address):
        embedded = [address.ipv4_mapped, address.sixtofour]
        if address.teredo is not None:
            embedded.append(address.teredo[1])
        candidates += [a for a in embedded if a is not None]
        if address in _NAT64:
            candidates.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    candidates.append(address)
    for candidate in candidates:
        checks = (
            (candidate in _HOST_SERVICES, "a cloud metadata or host-service"),
            (candidate.is_unspecified, "an unspecified"),
            (candidate.is_loopback, "a loopback"),
            (candidate.is_link_local, "a link-local"),
            (candidate.is_multicast, "a multicast"),
            (isinstance(candidate, ipaddress.IPv4Address) and candidate in _CGNAT, "a CGNAT"),
            (candidate.is_private, "a private"),
            (candidate.is_reserved, "a reserved"),
            (not candidate.is_global, "a non-global"),
        )
        kind = next((kind for matched, kind in checks if matched), None)
        if kind is not None:
            return f"{kind} address"
    return None


class CheckedResolver(aiohttp.abc.AbstractResolver):
    """A resolver that returns only the addresses a download may connect to.

    ``inner`` does the lookup (the system resolver by default). ``allow`` is a test seam: it
    admits addresses the policy refuses (a test server on loopback); production code never
    passes it, and no environment variable reaches it.
    """

    def __init__(
        self,
        inner: aiohttp.abc.AbstractResolver | None = None,
        *,
        allow: Callable[[IPAddress], bool] | None = None,
    ) -> None:
        self._inner = inner if inner is not None else aiohttp.ThreadedResolver()
        self._allow = allow

    def reason(self, address: IPAddress) -> str | None:
        """Why ``address`` is refused, or None."""
        if self._allow is not None and self._allow(address):
            return None
        return refused_address_reason(address)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        kept: list[aiohttp.abc.ResolveResult] = []
        reasons: set[str] = set()
        for result in results:
            try:
                address = ipaddress.ip_address(result["host"])
            except ValueError:
                reasons.add("not an IP address")
                continue
            reason = self.reason(address)
            if reason is None:
                # The connector connects to result["host"]: the address checked here.
                kept.append({**result, "host": str(address)})
            else:
                reasons.add(reason)
        if not kept:
            raise RefusedError(f"the host resolves only to {', '.join(sorted(reasons))}")
        return kept

    async def close(self) -> None:
        await self._inner.close()


def _checked_url(url: URL, resolver: CheckedResolver) -> URL:
    """``url`` if its scheme and (literal) host may be requested; RefusedError otherwise."""
    if url.scheme not in ALLOWED_SCHEMES:
        raise RefusedError(f"scheme {url.scheme or '(none)'!r} is not allowed")
    if not url.host:
        raise RefusedError("the URL has no host")
    try:
        literal = ipaddress.ip_address(url.host)
    except ValueError:
        return url  # a name: the resolver checks what it resolves to
    reason = resolver.reason(literal)
    if reason is not None:
        raise RefusedError(f"the host is {reason}")
    return url


async def _fetch_once(
    session: aiohttp.ClientSession,
    resolver: CheckedResolver,
    url: URL,
    target: str,
    limits: DownloadLimits,
) -> int:
    """One attempt: follow checked redirects, stream the body to ``target``; the byte count."""
    for _ in range(limits.max_redirects + 1):
        url = _checked_url(url, resolver)
        async with session.get(url, allow_redirects=False) as response:
            if response.status in REDIRECT_STATUSES:
                location = response.headers.get("Location")
                if not location:
                    raise DownloadError(f"HTTP status {response.status} without a Location")
                url = response.url.join(URL(location))
                continue
            if response.status != 200:
                raise DownloadError(f"HTTP status {response.status}")
            if (response.content_length or 0) > limits.max_bytes:
                raise RefusedError(f"the body is larger than {limits.max_bytes} bytes")
            size = 0
            # Blocking writes are fine: the process does nothing else while it downloads.
            with open(target, "wb") as handle:  # noqa: ASYNC230
                async for chunk in response.content.iter_chunked(_CHUNK):
                    size += len(chunk)
                    if size > limits.max_bytes:
                        raise RefusedError(f"the body is larger than {limits.max_bytes} bytes")
                    handle.write(chunk)
            if size == 0:
                raise DownloadError("the body is empty")
            return size
    raise DownloadError(f"more than {limits.max_redirects} redirects")


def _describe(error: BaseException) -> str:
    """A reason to log that cannot contain the URL (aiohttp's messages often do)."""
    if isinstance(error, (DownloadError, RefusedError)):
        return str(error)
    if isinstance(error, aiohttp.ClientResponseError):
        return f"HTTP status {error.status}"
    if isinstance(error, aiohttp.ClientConnectorError):
        return f"cannot connect ({error.os_error.strerror or type(error.os_error).__name__})"
    return type(error).__name__


async def download_all(
    pairs: Sequence[tuple[str, str]],
    *,
    data_dir: str,
    attempts: int,
    retry_delay_seconds: float,
    limits: DownloadLimits | None = None,
    resolver: CheckedResolver | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> bool:
    """Download each ``(file, url)`` into ``data_dir``; True when every file arrived."""
    limits = limits or DownloadLimits()
    resolver = resolver or CheckedResolver()
    timeout = aiohttp.ClientTimeout(
        total=limits.total_timeout_seconds,
        connect=limits.connect_timeout_seconds,
        sock_read=limits.read_timeout_seconds,
    )
    connector = aiohttp.TCPConnector(resolver=resolver)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, trust_env=False
    ) as session:
        for file_name, raw_url in pairs:
            if not await _download_one(
                session,
                resolver,
                file_name,
                raw_url,
                data_dir=data_dir,
                attempts=attempts,
                retry_delay_seconds=retry_delay_seconds,
                limits=limits,
                sleep=sleep,
            ):
                return False
    return True


async def _download_one(
    session: aiohttp.ClientSession,
    resolver: CheckedResolver,
    file_name: str,
    raw_url: str,
    *,
    data_dir: str,
    attempts: int,
    retry_delay_seconds: float,
    limits: DownloadLimits,
    sleep: Callable[[float], Awaitable[None]],
) -> bool:
    if not file_name or file_name.startswith(".") or "/" in file_name:
        jsonlog.event(_log, "download_refused", file=file_name, reason="invalid file name")
        return False
    target = os.path.join(data_dir, file_name)
    partial = os.path.join(data_dir, f".{file_name}.partial")
    for attempt in range(1, attempts + 1):
        try:
            # As given when it is ASCII (a signed URL must not be re-quoted), else quoted.
            url = URL(raw_url, encoded=raw_url.isascii())
            size = await _fetch_once(session, resolver, url, partial, limits)
        except RefusedError as error:
            _remove(partial)
            jsonlog.event(_log, "download_refused", file=file_name, reason=_describe(error))
            return False
        except (DownloadError, aiohttp.ClientError, OSError, TimeoutError, ValueError) as error:
            _remove(partial)
            jsonlog.event(
                _log,
                "download_failed",
                file=file_name,
                attempt=attempt,
                attempts=attempts,
                reason=_describe(error),
            )
            if attempt < attempts:
                await sleep(retry_delay_seconds)
            continue
        os.replace(partial, target)
        jsonlog.event(_log, "downloaded", file=file_name, bytes=size)
        return True
    jsonlog.event(_log, "download_gave_up", file=file_name, attempts=attempts)
    return False


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def main(env: Mapping[str, str], args: Sequence[str]) -> int:
    """The ``download`` entrypoint: ``FILE URL`` pairs as arguments; 0 once all are saved."""
    if not args or len(args) % 2:
        jsonlog.fatal(
            _log,
            "download_misconfigured",
            error="expected FILE URL pairs",
            fix="pass arguments as FILE URL [FILE URL ...]",
        )
        return 1
    pairs = list(zip(args[::2], args[1::2], strict=True))
    try:
        limits = DownloadLimits(
            max_bytes=contract.env_int(env, "MAX_BYTES", DEFAULT_MAX_BYTES),
            total_timeout_seconds=contract.env_float(
                env, "TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS
            ),
        )
        ok = asyncio.run(
            download_all(
                pairs,
                data_dir=contract.env_str(env, "DATA_DIR", contract.DATASET_FOLDER),
                attempts=max(1, contract.env_int(env, "ATTEMPTS", 3)),
                retry_delay_seconds=contract.env_float(env, "RETRY_DELAY_SECONDS", 2.0),
                limits=limits,
            )
        )
    except ValueError as error:
        jsonlog.fatal(
            _log,
            "download_misconfigured",
            error=str(error),
            fix="set MAX_BYTES, TIMEOUT_SECONDS, ATTEMPTS and RETRY_DELAY_SECONDS to numbers",
        )
        return 1
    if not ok:
        jsonlog.fatal(
            _log,
            "download_incomplete",
            fix="check that every URL answers with the file (see download_failed lines) "
            "and is reachable from the pod",
        )
        return 1
    return 0
