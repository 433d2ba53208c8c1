"""``push``: the adapter goes to a real registry (CNCF distribution) and comes back unchanged."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import io
import json
import socket
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from aiohttp import web

from model_runtime import oci, pushing

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import Registry

USER, PASSWORD = "pusher", "s3cret-pass"


def _docker_config(
    directory: Path, registry: str, user: str = USER, password: str = PASSWORD
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (directory / "config.json").write_text(json.dumps({"auths": {registry: {"auth": auth}}}))
    return directory


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _basic() -> str:
    return "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def _env(output: Path, image: str, docker_config: Path, **extra: str) -> dict[str, str]:
    return {
        "OUTPUT_DIR": str(output),
        "IMAGE": image,
        "PRESET_NAME": "phi-3-mini-4k-instruct",
        "DOCKER_CONFIG": str(docker_config),
        "TRAINER_MATCH": f"model_runtime tune {uuid.uuid4()}",
        "POLL_SECONDS": "0.05",
        "ATTEMPTS": "2",
        "RETRY_DELAY_SECONDS": "0.01",
        **extra,
    }


async def _pull(
    address: str, repository: str, tag: str
) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    async with aiohttp.ClientSession(headers={"Authorization": _basic()}) as session:
        base = f"http://{address}/v2/{repository}"
        headers = {"Accept": oci.MANIFEST_MEDIA_TYPE}
        async with session.get(f"{base}/manifests/{tag}", headers=headers) as response:
            assert response.status == 200
            manifest = json.loads(await response.read())
        async with session.get(f"{base}/blobs/{manifest['config']['digest']}") as response:
            config = json.loads(await response.read())
        async with session.get(f"{base}/blobs/{manifest['layers'][0]['digest']}") as response:
            layer = await response.read()
    assert "sha256:" + hashlib.sha256(layer).hexdigest() == manifest["layers"][0]["digest"]
    return manifest, config, layer


def test_the_adapter_comes_back_identical(
    registry: Registry, adapter_copy: Path, tmp_path: Path
) -> None:
    image = f"{registry.address}/adapters/phi-3-tuned:v1"
    env = _env(adapter_copy, image, _docker_config(tmp_path / "docker", registry.address))
    assert pushing.main(env) == 0

    manifest, config, layer = asyncio.run(_pull(registry.address, "adapters/phi-3-tuned", "v1"))
    assert manifest["mediaType"] == oci.MANIFEST_MEDIA_TYPE
    assert manifest["annotations"] == {"sh.kaito.model.name": "phi-3-mini-4k-instruct"}
    assert manifest["layers"][0]["mediaType"] == oci.LAYER_MEDIA_TYPE
    uncompressed = gzip.decompress(layer)
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(uncompressed).hexdigest()]
    with tarfile.open(fileobj=io.BytesIO(uncompressed)) as archive:
        members = {m.name: m for m in archive.getmembers()}
        assert sorted(members) == [
            "data",
            "data/adapter_config.json",
            "data/adapter_model.safetensors",
        ]
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            pulled = archive.extractfile(members[f"data/{name}"])
            assert pulled is not None
            assert pulled.read() == (adapter_copy / name).read_bytes()


def test_pushing_twice_gives_the_same_digest(adapter_copy: Path) -> None:
    files = pushing.read_adapter(str(adapter_copy))
    first = oci.adapter_image(files, model_name="m")
    second = oci.adapter_image(files, model_name="m")
    assert first.manifest.digest == second.manifest.digest


def test_wrong_credentials_fail_without_retrying(
    registry: Registry, adapter_copy: Path, tmp_path: Path, record: Any
) -> None:
    docker = _docker_config(tmp_path / "docker", registry.address, password="wrong")
    env = _env(adapter_copy, f"{registry.address}/adapters/x:v1", docker, ATTEMPTS="5")
    with record() as events:
        assert pushing.main(env) == 1
    failures = events.named("push_failed")
    assert len(failures) == 1
    assert failures[0]["permanent"] is True
    assert "401" in failures[0]["error"]


def test_an_unreachable_registry_is_retried_then_given_up(
    adapter_copy: Path, tmp_path: Path, record: Any
) -> None:
    docker = _docker_config(tmp_path / "docker", "127.0.0.1")
    env = _env(adapter_copy, f"127.0.0.1:{_closed_port()}/adapters/x:v1", docker, ATTEMPTS="3")
    with record() as events:
        assert pushing.main(env) == 1
    assert [f["attempt"] for f in events.named("push_failed")] == [1, 2, 3]


def _trainer(match: str) -> subprocess.Popen[bytes]:
    """A stand-in trainer whose command line contains ``match``; it runs until its stdin closes.

    Returns once the process is visible under that command line (between fork and exec a child
    still shows its parent's)."""
    trainer = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()", *match.split()],
        stdin=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not pushing.trainer_running(match):
        assert time.monotonic() < deadline, "the stand-in trainer never appeared in /proc"
        time.sleep(0.01)
    return trainer


def _end(trainer: subprocess.Popen[bytes]) -> None:
    assert trainer.stdin is not None
    trainer.stdin.close()
    trainer.wait(timeout=30)


def test_a_trainer_that_dies_without_the_marker_fails_the_pusher(tmp_path: Path) -> None:
    match = f"model_runtime tune {uuid.uuid4()}"
    trainer = _trainer(match)
    try:
        with pytest.raises(pushing.TrainerFailedError, match="without writing"):
            pushing.wait_for_marker(
                str(tmp_path / "fine_tuning_completed.txt"),
                trainer_alive=lambda: pushing.trainer_running(match),
                poll_seconds=0.05,
                sleep=lambda _: _end(trainer),  # the trainer dies after it was seen
            )
    finally:
        _end(trainer)


def test_the_pusher_exits_1_when_the_trainer_is_gone(
    tmp_path: Path, record: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "results"
    output.mkdir()
    env = _env(output, "127.0.0.1:1/a/b:c", tmp_path)
    trainer = _trainer(env["TRAINER_MATCH"])
    seen = threading.Event()
    real = pushing.trainer_running

    def observed(match: str, proc: str = "/proc") -> bool:
        alive = real(match, proc)
        if alive:
            seen.set()
        return alive

    monkeypatch.setattr(pushing, "trainer_running", observed)

    def end_once_seen() -> None:  # so the pusher has seen the trainer alive, whatever the load
        seen.wait(timeout=60)
        _end(trainer)

    ender = threading.Thread(target=end_once_seen, daemon=True)
    ender.start()
    try:
        with record() as events:
            assert pushing.main(env) == 1
    finally:
        ender.join(timeout=60)
        _end(trainer)
    assert "without writing fine_tuning_completed.txt" in events.named("push_aborted")[0]["error"]


def test_bearer_token_challenge(registry: Registry, adapter_copy: Path, tmp_path: Path) -> None:
    """A front that answers 401 Bearer, hands out tokens for the right user, then proxies."""
    token = uuid.uuid4().hex
    seen_scopes: list[str] = []

    async def scenario() -> None:
        async def issue(request: web.Request) -> web.Response:
            if request.headers.get("Authorization") != _basic():
                return web.Response(status=401)
            seen_scopes.append(request.query.get("scope", ""))
            return web.json_response({"token": token})

        async def proxy(request: web.Request) -> web.StreamResponse:
            if request.headers.get("Authorization") != f"Bearer {token}":
                realm = f"http://{request.host}/token"
                challenge = f'Bearer realm="{realm}",service="test"'
                return web.Response(status=401, headers={"WWW-Authenticate": challenge})
            headers = {
                k: v
                for k, v in request.headers.items()
                if k.lower() not in ("host", "authorization")
            }
            target = f"http://{registry.address}{request.path_qs}"
            headers["Authorization"] = _basic()
            async with (
                aiohttp.ClientSession() as session,
                session.request(
                    request.method,
                    target,
                    data=await request.read(),
                    headers=headers,
                    allow_redirects=False,
                ) as upstream,
            ):
                body = await upstream.read()
                kept = {
                    k: v
                    for k, v in upstream.headers.items()
                    if k.lower() in ("location", "docker-content-digest", "content-type")
                }
                if "Location" in kept:
                    kept["Location"] = kept["Location"].replace(registry.address, request.host)
                return web.Response(status=upstream.status, body=body, headers=kept)

        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/token", issue)
        app.router.add_route("*", "/v2/{tail:.*}", proxy)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            address = f"127.0.0.1:{port}"
            reference = oci.parse_reference(f"{address}/adapters/bearer:v1")
            image = oci.adapter_image(pushing.read_adapter(str(adapter_copy)), model_name="m")
            docker = json.loads(
                (_docker_config(tmp_path / "d", address) / "config.json").read_text()
            )
            await pushing.push_adapter(image, reference, docker_config=docker, attempts=1,
                                       retry_delay_seconds=0)  # fmt: skip
        finally:
            await runner.cleanup()

    asyncio.run(scenario())
    assert seen_scopes == ["repository:adapters/bearer:pull,push"]
    manifest, _, _ = asyncio.run(_pull(registry.address, "adapters/bearer", "v1"))
    assert manifest["annotations"]["sh.kaito.model.name"] == "m"


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("myacr.azurecr.io/adapters/phi3:v1", ("myacr.azurecr.io", "adapters/phi3", "v1")),
        ("localhost:5000/a", ("localhost:5000", "a", "latest")),
        ("127.0.0.1:5000/a/b:c", ("127.0.0.1:5000", "a/b", "c")),
        ("user/adapter:1", ("registry-1.docker.io", "user/adapter", "1")),
        ("adapter", ("registry-1.docker.io", "library/adapter", "latest")),
        ("docker.io/user/x:2", ("registry-1.docker.io", "user/x", "2")),
    ],
)
def test_image_references(reference: str, expected: tuple[str, str, str]) -> None:
    parsed = oci.parse_reference(reference)
    assert (parsed.registry, parsed.repository, parsed.tag) == expected


@pytest.mark.parametrize("reference", ["a/B:1", "host.io/a@sha256:00", "host.io/a:t@g"])
def test_bad_image_references(reference: str) -> None:
    with pytest.raises(ValueError, match=r"invalid|digest"):
        oci.parse_reference(reference)


def test_credentials_from_docker_config() -> None:
    auth = base64.b64encode(b"u:p:w").decode()
    config = {
        "auths": {
            "https://index.docker.io/v1/": {"auth": auth},
            "myacr.azurecr.io": {"username": "00000000", "password": "tok"},
        }
    }
    assert oci.credentials_for(config, "registry-1.docker.io") == ("u", "p:w")
    assert oci.credentials_for(config, "myacr.azurecr.io") == ("00000000", "tok")
    assert oci.credentials_for(config, "other.io") is None
    assert oci.credentials_for({}, "other.io") is None


def test_the_pusher_does_not_import_torch() -> None:
    code = "import sys, model_runtime.pushing; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
