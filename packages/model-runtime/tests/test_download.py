"""``download``: the tuning input URLs, fetched only from addresses that were checked.

A local aiohttp server on 127.0.0.1 stands in for the internet. Names reach it through a
hosts-like resolver injected under :class:`CheckedResolver` (``127.0.0.1.nip.io`` and friends);
the policy refuses loopback, so the tests that must succeed admit 127.0.0.1 through the explicit
test-only ``allow`` parameter, and every refusal is proved by the server never being asked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import socket
from typing import TYPE_CHECKING, Any

import aiohttp.abc
import pytest
from aiohttp import web

from model_runtime import __main__ as entrypoint
from model_runtime import downloading
from model_runtime.downloading import CheckedResolver, DownloadLimits, RefusedError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

BODY = b"prompt,completion\nhi,there\n"
LOOPBACK = ipaddress.ip_address("127.0.0.1")


class HostsResolver(aiohttp.abc.AbstractResolver):
    """Answers from a fixed table, like /etc/hosts; counts the lookups."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        self.lookups.append(host)
        if host not in self.table:
            raise OSError(f"unknown host {host}")
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in self.table[host]
        ]

    async def close(self) -> None:
        pass


class Server:
    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.port = 0
        self.redirects: dict[str, str] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.hits[path] = self.hits.get(path, 0) + 1
        if path in self.redirects:
            raise web.HTTPFound(self.redirects[path])
        if path == "/flaky.csv" and self.hits[path] == 1:
            return web.Response(status=500, text="try again")
        if path in {"/train.csv", "/flaky.csv"}:
            return web.Response(body=BODY)
        if path == "/empty.csv":
            return web.Response(body=b"")
        if path == "/loop":
            raise web.HTTPFound("/loop")
        if path == "/slow.csv":
            response = web.StreamResponse()
            await response.prepare(request)
            await response.write(BODY)
            await asyncio.sleep(1)
            await response.write(BODY)
            return response
        return web.Response(status=404, text="not found")

    @property
    def total_hits(self) -> int:
        return sum(self.hits.values())


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()
    app = web.Application()
    app.router.add_get("/{tail:.*}", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    state.port = listener.getsockname()[1]
    site = web.SockSite(runner, listener)
    await site.start()
    try:
        yield state
    finally:
        await runner.cleanup()


def _hosts() -> HostsResolver:
    return HostsResolver(
        {
            "data.example.com": ["127.0.0.1"],
            "127.0.0.1.nip.io": ["127.0.0.1"],
            "metadata.example.com": ["169.254.169.254"],
            "private.example.com": ["10.1.2.3", "fd00:ec2::254"],
            "other.example.com": ["127.0.0.2"],
        }
    )


def _only_127_0_0_1(address: downloading.IPAddress) -> bool:
    return address == LOOPBACK


async def _download(
    tmp_path: Path,
    pairs: list[tuple[str, str]],
    *,
    resolver: CheckedResolver,
    limits: DownloadLimits | None = None,
) -> bool:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)

    async def no_sleep(_: float) -> None:
        pass

    return await downloading.download_all(
        pairs,
        data_dir=str(data),
        attempts=3,
        retry_delay_seconds=2,
        limits=limits,
        resolver=resolver,
        sleep=no_sleep,
    )


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "0.0.0.0",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "100.64.0.1",  # CGNAT
        "169.254.169.254",  # AWS/GCP/Azure metadata
        "168.63.129.16",  # Azure WireServer
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.10",  # documentation
        "::",
        "::1",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",  # AWS IPv6 metadata
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo of 127.0.0.1
    ],
)
def test_non_global_and_metadata_addresses_are_refused(address: str) -> None:
    assert downloading.refused_address_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "20.60.1.2", "2606:4700:4700::1111"])
def test_global_unicast_addresses_are_allowed(address: str) -> None:
    assert downloading.refused_address_reason(ipaddress.ip_address(address)) is None


async def test_the_resolver_returns_only_checked_addresses() -> None:
    inner = HostsResolver({"mixed.example.com": ["127.0.0.1", "20.60.1.2", "10.0.0.1"]})
    resolved = await CheckedResolver(inner).resolve("mixed.example.com", 443)
    assert [r["host"] for r in resolved] == ["20.60.1.2"]
    with pytest.raises(RefusedError, match="loopback"):
        await CheckedResolver(_hosts()).resolve("127.0.0.1.nip.io", 80)


@pytest.mark.parametrize(
    "host", ["127.0.0.1.nip.io", "data.example.com", "metadata.example.com", "private.example.com"]
)
async def test_a_name_resolving_to_a_refused_address_is_not_downloaded(
    record: Any, server: Server, tmp_path: Path, host: str
) -> None:
    hosts = _hosts()
    with record() as records:
        ok = await _download(
            tmp_path,
            [("train.csv", f"http://{host}:{server.port}/train.csv?sig=secret")],
            resolver=CheckedResolver(hosts),
        )
    assert not ok
    assert server.total_hits == 0
    assert hosts.lookups == [host], "refused at once, not retried"
    assert [e["file"] for e in records.named("download_refused")] == ["train.csv"]
    assert not list((tmp_path / "data").iterdir())


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/train.csv",
        "http://[::ffff:127.0.0.1]:{port}/train.csv",
        "http://169.254.169.254/latest/meta-data/",
        "ftp://data.example.com/train.csv",
    ],
)
async def test_refused_literals_and_schemes_are_not_requested(
    server: Server, tmp_path: Path, url: str
) -> None:
    hosts = _hosts()
    ok = await _download(
        tmp_path, [("x.csv", url.format(port=server.port))], resolver=CheckedResolver(hosts)
    )
    assert not ok
    assert server.total_hits == 0
    assert hosts.lookups == []


async def test_a_permitted_download_saves_each_file_and_never_logs_the_url(
    record: Any, server: Server, tmp_path: Path
) -> None:
    server.redirects["/moved.csv"] = "/train.csv"
    resolver = CheckedResolver(_hosts(), allow=_only_127_0_0_1)
    base = f"http://data.example.com:{server.port}"
    with record() as records:
        ok = await _download(
            tmp_path,
            [("train.csv", f"{base}/train.csv?sig=s3cret"), ("moved.csv", f"{base}/moved.csv")],
            resolver=resolver,
        )
    assert ok
    assert (tmp_path / "data/train.csv").read_bytes() == BODY
    assert (tmp_path / "data/moved.csv").read_bytes() == BODY
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["moved.csv", "train.csv"]
    assert [e["file"] for e in records.named("downloaded")] == ["train.csv", "moved.csv"]
    logged = json.dumps(records.events)
    assert "s3cret" not in logged
    assert "example.com" not in logged


@pytest.mark.parametrize(
    "location",
    [
        "http://other.example.com:{port}/train.csv",  # resolves to 127.0.0.2, refused
        "http://127.0.0.2:{port}/train.csv",
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
    ],
)
async def test_every_redirect_hop_is_checked_again(
    record: Any, server: Server, tmp_path: Path, location: str
) -> None:
    server.redirects["/moved.csv"] = location.format(port=server.port)
    resolver = CheckedResolver(_hosts(), allow=_only_127_0_0_1)
    with record() as records:
        ok = await _download(
            tmp_path,
            [("moved.csv", f"http://data.example.com:{server.port}/moved.csv")],
            resolver=resolver,
        )
    assert not ok
    assert server.hits == {"/moved.csv": 1}
    assert records.named("download_refused")
    assert not list((tmp_path / "data").iterdir())


async def test_redirects_are_bounded(server: Server, tmp_path: Path) -> None:
    resolver = CheckedResolver(_hosts(), allow=_only_127_0_0_1)
    ok = await _download(
        tmp_path, [("loop.csv", f"http://data.example.com:{server.port}/loop")], resolver=resolver
    )
    assert not ok
    assert server.hits["/loop"] == 3 * (downloading.MAX_REDIRECTS + 1)


async def test_a_failed_download_is_retried(server: Server, tmp_path: Path) -> None:
    resolver = CheckedResolver(_hosts(), allow=_only_127_0_0_1)
    ok = await _download(
        tmp_path, [("flaky.csv", f"http://127.0.0.1:{server.port}/flaky.csv")], resolver=resolver
    )
    assert ok
    assert server.hits["/flaky.csv"] == 2
    assert (tmp_path / "data/flaky.csv").read_bytes() == BODY


@pytest.mark.parametrize("path", ["/missing.csv", "/empty.csv"])
async def test_errors_and_empty_bodies_give_up_after_the_attempts(
    record: Any, server: Server, tmp_path: Path, path: str
) -> None:
    resolver = CheckedResolver(_hosts(), allow=_only_127_0_0_1)
    with record() as records:
        ok = await _download(
            tmp_path, [("data.csv", f"http://127.0.0.1:{server.port}{path}")], resolver=resolver
        )
    assert not ok
    assert server.hits[path] == 3
    assert [e["attempt"] for e in records.named("download_failed")] == [1, 2, 3]
    assert records.named("download_gave_up") == [
        {"event": "download_gave_up", "file": "data.csv", "attempts": 3}
    ]
    assert not list((tmp_path / "data").iterdir())


async def test_a_body_over_the_size_bound_is_refused(server: Server, tmp_path: Path) -> None:
    resolver = CheckedResolver(_hosts(), allow=_only_127_0_0_1)
    ok = await _download(
        tmp_path,
        [("train.csv", f"http://127.0.0.1:{server.port}/train.csv")],
        resolver=resolver,
        limits=DownloadLimits(max_bytes=len(BODY) - 1),
    )
    assert not ok
    assert server.hits["/train.csv"] == 1
    assert not list((tmp_path / "data").iterdir())


async def test_a_download_over_the_time_bound_fails_each_attempt(
    server: Server, tmp_path: Path
) -> None:
    resolver = CheckedResolver(_hosts(), allow=_only_127_0_0_1)
    ok = await _download(
        tmp_path,
        [("slow.csv", f"http://127.0.0.1:{server.port}/slow.csv")],
        resolver=resolver,
        limits=DownloadLimits(total_timeout_seconds=0.2),
    )
    assert not ok
    assert server.hits["/slow.csv"] == 3
    assert not list((tmp_path / "data").iterdir())


async def test_proxies_from_the_environment_are_ignored(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The "proxy" is the test server itself: a proxied request would arrive with an absolute URL
    # for a host the server does not serve, and is counted under its path too.
    proxy = f"http://127.0.0.1:{server.port}"
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    resolver = CheckedResolver(_hosts())
    ok = await _download(
        tmp_path, [("train.csv", "http://metadata.example.com/train.csv")], resolver=resolver
    )
    assert not ok
    assert server.total_hits == 0


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The entrypoint configures the root logger for a process; put it back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.captureWarnings(False)


@pytest.mark.usefixtures("restore_logging")
def test_the_entrypoint_refuses_loopback_whatever_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real system resolver: ``localhost`` is refused, and no variable of the environment
    can allow it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    data = tmp_path / "data"
    data.mkdir()
    for name in ("ALLOW_LOOPBACK", "ALLOW_PRIVATE", "DOWNLOAD_ALLOW", "NO_PROXY"):
        monkeypatch.setenv(name, "true")
    monkeypatch.setenv("DATA_DIR", str(data))
    monkeypatch.setenv("RETRY_DELAY_SECONDS", "0")
    try:
        code = entrypoint.main(["download", "a.csv", f"http://localhost:{port}/a.csv?token=abc"])
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    finally:
        listener.close()
    assert code == 1
    assert not list(data.iterdir())
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(e["event"], e.get("file")) for e in events] == [
        ("download_refused", "a.csv"),
        ("download_incomplete", None),
    ]
    assert events[-1]["level"] == "error"
    assert "token" not in json.dumps(events)


@pytest.mark.usefixtures("restore_logging")
def test_the_entrypoint_needs_file_url_pairs() -> None:
    assert entrypoint.main(["download", "only-a-file.csv"]) == 1
    assert entrypoint.main(["download"]) == 1
