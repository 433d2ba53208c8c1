"""Is a tuning input URL safe to download from inside the cluster?

The download runs in an init container on a GPU node, so a URL is a request made with the node's
network position: a Workspace author could otherwise read the cloud metadata service (and its
credentials), the kubelet, or any in-cluster Service. The CRD already rejects the obvious cases
with one CEL regular expression; this check runs again when the Job is built because it can
parse what CEL cannot: every spelling of an IPv4 address that ``inet_aton`` (and so curl)
accepts (``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``), IPv6 literals with embedded
IPv4 addresses, and internationalised host names that normalise to digits.

What it cannot do without I/O is resolve names: ``data.example.com`` may still resolve to a
private address (or be re-pointed after the check). Names that only resolve inside the cluster
(single-label names, ``*.svc``, ``*.cluster.local``, ``*.internal``) are rejected for that reason,
and so are names that spell out a non-global IPv4 address, dotted or dashed
(``127.0.0.1.nip.io``, ``10-0-0-1.sslip.io``), which wildcard DNS services resolve to that
address. Any other name is checked where it matters: the downloader (the model runtime's
``download``) resolves it itself and connects only to the public addresses it checked, each
redirect again, so DNS rebinding and other wildcard names get nowhere either.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import urllib.parse

__all__ = ["unsafe_url_reason"]

ALLOWED_SCHEMES = frozenset({"http", "https"})

# Names that reach the node itself, a cloud metadata service, or the cluster's own DNS zone.
_BLOCKED_NAMES = frozenset(
    {"localhost", "metadata", "metadata.google.internal", "metadata.azure.com", "instance-data"}
)
_BLOCKED_SUFFIXES = (".localhost", ".local", ".internal", ".svc", ".cluster.local")

# Addresses that are globally routable but still reach the host: Azure's WireServer.
_BLOCKED_ADDRESSES = frozenset({ipaddress.ip_address("168.63.129.16")})

_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known NAT64 prefix

_FORBIDDEN_CHARACTERS = re.compile(r"[\s\\\x00-\x1f\x7f]")
_DASHED_IPV4 = re.compile(r"(?<![0-9])([0-9]{1,3})-([0-9]{1,3})-([0-9]{1,3})-([0-9]{1,3})(?![0-9])")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


def unsafe_url_reason(url: str) -> str | None:
    """Why ``url`` must not be downloaded, or ``None`` when it may be.

    Allowed: absolute ``http``/``https`` URLs whose host is a public DNS name or a globally
    routable IP address.
    """
    if _FORBIDDEN_CHARACTERS.search(url):
        return "it contains whitespace, a backslash or control characters"
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - parsing the port validates it
    except ValueError as exc:
        return f"it is not a valid URL ({exc})"
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        return f"scheme {scheme or '(none)'!r} is not allowed; use http or https"
    host = parts.hostname
    if not host:
        return "it has no host"
    return _unsafe_host_reason(host)


def _unsafe_host_reason(host: str) -> str | None:
    if ":" in host:  # urlsplit only leaves a colon in a bracketed IPv6 literal
        try:
            return _unsafe_address_reason(host, ipaddress.ip_address(host))
        except ValueError:
            return f"host {host!r} is not a valid IPv6 address"
    try:
        # The IDNA codec applies Unicode normalisation, as a resolver would: fullwidth digits
        # become ASCII digits here, and then get the numeric checks below.
        name = host.encode("idna").decode("ascii").lower().rstrip(".")
    except UnicodeError:
        return f"host {host!r} is not a valid host name"
    if not name:
        return "it has no host"
    address = _inet_aton(name)
    if address is not None:
        return _unsafe_address_reason(host, address)
    last_label = name.rsplit(".", 1)[-1]
    if _NUMERIC_LABEL.match(last_label):
        return f"host {host!r} is neither a valid IPv4 address nor a DNS name"
    if name in _BLOCKED_NAMES or name.endswith(_BLOCKED_SUFFIXES):
        return f"host {host!r} is the local host, a metadata service or a cluster-internal name"
    if "." not in name:
        return f"host {host!r} is a single-label name that resolves inside the cluster"
    for embedded in _spelled_ipv4(name):
        reason = _unsafe_address_reason(host, embedded)
        if reason is not None:
            return f"{reason}: wildcard DNS resolves a name spelling an address to it"
    return None


def _spelled_ipv4(name: str) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses written into a name: four dotted labels or one dashed label."""
    labels = name.split(".")
    found: list[ipaddress.IPv4Address] = []
    for start in range(len(labels) - 3):
        with contextlib.suppress(ValueError):
            found.append(ipaddress.IPv4Address(".".join(labels[start : start + 4])))
    for label in labels:
        for match in _DASHED_IPV4.finditer(label):
            with contextlib.suppress(ValueError):
                found.append(ipaddress.IPv4Address(".".join(match.groups())))
    return found


def _unsafe_address_reason(
    host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address
) -> str | None:
    # An IPv4 address embedded in an IPv6 one is where the packet really goes: check it first,
    # so that the reason names it.
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    if isinstance(address, ipaddress.IPv6Address):
        embedded = [address.ipv4_mapped, address.sixtofour]
        if address.teredo is not None:
            embedded.append(address.teredo[1])
        candidates += [a for a in embedded if a is not None]
        if address in _NAT64:
            candidates.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    candidates.append(address)
    for candidate in candidates:
        kind = _address_kind(candidate)
        if kind is not None:
            return f"host {host!r} is {kind} address ({candidate})"
    return None


def _address_kind(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    checks = (
        (address.is_unspecified, "an unspecified"),
        (address.is_loopback, "a loopback"),
        (address.is_link_local, "a link-local (cloud metadata)"),
        (address.is_private, "a private"),
        (address.is_multicast, "a multicast"),
        (address.is_reserved, "a reserved"),
        (address in _BLOCKED_ADDRESSES, "a cloud host-service"),
        (not address.is_global, "a non-global"),
    )
    return next((kind for matched, kind in checks if matched), None)


def _inet_aton(name: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address ``inet_aton`` would read from ``name``, or None if it is not one.

    Accepts 1 to 4 dot-separated parts in decimal, octal (leading 0) or hex (0x); the last part
    fills the remaining bytes (``127.1`` is 127.0.0.1, ``2130706433`` is 127.0.0.1).
    """
    parts = name.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        value = _parse_number(part)
        if value is None:
            return None
        values.append(value)
    *leading, last = values
    if any(v > 0xFF for v in leading) or last >= 256 ** (4 - len(leading)):
        return None
    number = last
    for index, value in enumerate(leading):
        number |= value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def _parse_number(part: str) -> int | None:
    try:
        if part.startswith("0x"):
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part.startswith("0"):
            return int(part, 8)
        return int(part, 10) if part.isascii() and part.isdigit() else None
    except ValueError:
        return None
