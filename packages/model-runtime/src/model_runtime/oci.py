"""The adapter as a one-layer OCI image, and a minimal registry client to push it.

Image layout (Kaito's, so its pullers and ours read it): one ``tar+gzip`` layer holding
``data/adapter_config.json`` and ``data/adapter_model.safetensors``; an image config whose
``rootfs.diff_ids`` names the uncompressed layer (so containerd and skopeo accept it); a manifest
annotated ``sh.kaito.model.name=<preset>``. The layer is reproducible: fixed mtime, owner and
modes, so pushing the same adapter twice gives the same digests.

The client speaks the distribution API (``/v2/``): blob existence check, monolithic upload
(POST then PUT with the digest), manifest PUT. Credentials come from a docker ``config.json``;
a registry answering 401 gets them as Basic auth, or, for a ``Bearer`` challenge, they are traded
at the token realm for a token scoped to ``pull,push`` on the repository.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "ANNOTATION_MODEL_NAME",
    "CONFIG_MEDIA_TYPE",
    "LAYER_MEDIA_TYPE",
    "MANIFEST_MEDIA_TYPE",
    "Blob",
    "Image",
    "ImageReference",
    "PushError",
    "RegistryClient",
    "adapter_image",
    "credentials_for",
    "parse_reference",
    "read_docker_config",
]

MANIFEST_MEDIA_TYPE: Final = "application/vnd.oci.image.manifest.v1+json"
CONFIG_MEDIA_TYPE: Final = "application/vnd.oci.image.config.v1+json"
LAYER_MEDIA_TYPE: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
ANNOTATION_MODEL_NAME: Final = "sh.kaito.model.name"
DOCKER_HUB: Final = "registry-1.docker.io"
_LOOPBACK: Final = ("localhost", "127.0.0.1", "[::1]")


class PushError(RuntimeError):
    """The registry refused the push; ``permanent`` when retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclasses.dataclass(frozen=True, kw_only=True)
class ImageReference:
    """``registry/repository:tag`` split up (``registry`` is a host[:port])."""

    registry: str
    repository: str
    tag: str

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"


def parse_reference(reference: str) -> ImageReference:
    """Split an image reference; Docker Hub names get their implied host and ``library/``."""
    name, tag = reference, "latest"
    if "@" in name:
        raise ValueError(f"push to a tag, not a digest: {reference!r}")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = DOCKER_HUB, name
        if "/" not in repository:
            repository = f"library/{repository}"
    if registry == "docker.io":
        registry = DOCKER_HUB
    if not re.fullmatch(r"[a-z0-9]+([._/-]+[a-z0-9]+)*", repository):
        raise ValueError(f"invalid repository name in {reference!r}")
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag):
        raise ValueError(f"invalid tag in {reference!r}")
    return ImageReference(registry=registry, repository=repository, tag=tag)


@dataclasses.dataclass(frozen=True)
class Blob:
    """Content and its descriptor fields."""

    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data)}


@dataclasses.dataclass(frozen=True)
class Image:
    """A manifest with its config and layers."""

    manifest: Blob
    config: Blob
    layers: tuple[Blob, ...]


def adapter_image(files: Mapping[str, bytes], *, model_name: str) -> Image:
    """The one-layer image holding ``files`` under ``data/``, annotated with ``model_name``."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        archive.addfile(_tar_entry("data", directory=True))
        for name in sorted(files):
            content = files[name]
            archive.addfile(_tar_entry(f"data/{name}", size=len(content)), io.BytesIO(content))
    uncompressed = raw.getvalue()
    layer = Blob(LAYER_MEDIA_TYPE, gzip.compress(uncompressed, compresslevel=6, mtime=0))
    config_document = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {
            "type": "layers",
            "diff_ids": ["sha256:" + hashlib.sha256(uncompressed).hexdigest()],
        },
    }
    config = Blob(CONFIG_MEDIA_TYPE, _canonical(config_document))
    manifest_document = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": config.descriptor(),
        "layers": [layer.descriptor()],
        "annotations": {ANNOTATION_MODEL_NAME: model_name},
    }
    return Image(Blob(MANIFEST_MEDIA_TYPE, _canonical(manifest_document)), config, (layer,))


def credentials_for(docker_config: Mapping[str, Any], registry: str) -> tuple[str, str] | None:
    """``(user, password)`` for ``registry`` from a docker ``config.json``, if it has any.

    Keys may be a bare host, a URL (``https://host/v1/``), or for Docker Hub the legacy index
    URL. Entries carry ``auth`` (base64 ``user:password``) or ``username``/``password``.
    """
    auths = docker_config.get("auths")
    if not isinstance(auths, Mapping):
        return None
    wanted = {registry}
    if registry == DOCKER_HUB:
        wanted |= {"docker.io", "index.docker.io"}
    for key, entry in auths.items():
        host = urllib.parse.urlsplit(key if "://" in key else f"//{key}").netloc
        if host not in wanted or not isinstance(entry, Mapping):
            continue
        if entry.get("auth"):
            decoded = base64.b64decode(str(entry["auth"])).decode()
            user, _, password = decoded.partition(":")
            return user, password
        if entry.get("username"):
            return str(entry["username"]), str(entry.get("password", ""))
    return None


class RegistryClient:
    """Pushes and fetches blobs and manifests of one repository."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        reference: ImageReference,
        *,
        credentials: tuple[str, str] | None = None,
        plain_http: bool | None = None,
    ) -> None:
        self._session = session
        self._reference = reference
        self._credentials = credentials
        if plain_http is None:
            plain_http = reference.registry.rsplit(":", 1)[0] in _LOOPBACK
        self._base = f"{'http' if plain_http else 'https'}://{reference.registry}"
        self._authorization: str | None = None

    async def push(self, image: Image) -> str:
        """Upload the blobs (skipping those present) and the manifest; the manifest digest."""
        for blob in (*image.layers, image.config):
            if not await self._blob_exists(blob.digest):
                await self._upload(blob)
        repository, tag = self._reference.repository, self._reference.tag
        async with await self._request(
            "PUT",
            f"/v2/{repository}/manifests/{tag}",
            data=image.manifest.data,
            headers={"Content-Type": image.manifest.media_type},
        ) as response:
            await _expect(response, 201, "upload the manifest")
        return image.manifest.digest

    async def manifest(self, reference: str) -> bytes:
        """The raw manifest for a tag or digest."""
        path = f"/v2/{self._reference.repository}/manifests/{reference}"
        async with await self._request(
            "GET", path, headers={"Accept": MANIFEST_MEDIA_TYPE}
        ) as response:
            await _expect(response, 200, "fetch the manifest")
            return await response.read()

    async def blob(self, digest: str) -> bytes:
        """A blob's content, checked against its digest."""
        path = f"/v2/{self._reference.repository}/blobs/{digest}"
        async with await self._request("GET", path) as response:
            await _expect(response, 200, f"fetch blob {digest}")
            data = await response.read()
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise PushError(f"blob {digest} came back with other content")
        return data

    async def _blob_exists(self, digest: str) -> bool:
        path = f"/v2/{self._reference.repository}/blobs/{digest}"
        async with await self._request("HEAD", path) as response:
            if response.status == 200:
                return True
            if response.status == 404:
                return False
            await _expect(response, 200, f"check blob {digest}")
            return False

    async def _upload(self, blob: Blob) -> None:
        path = f"/v2/{self._reference.repository}/blobs/uploads/"
        async with await self._request("POST", path) as response:
            await _expect(response, 202, "start a blob upload")
            location = response.headers.get("Location", "")
        if not location:
            raise PushError("the registry started an upload without a Location")
        url = urllib.parse.urljoin(self._base + path, location)
        separator = "&" if "?" in url else "?"
        url = f"{url}{separator}digest={urllib.parse.quote(blob.digest)}"
        async with await self._request(
            "PUT",
            url,
            data=blob.data,
            headers={"Content-Type": "application/octet-stream"},
        ) as response:
            await _expect(response, 201, f"upload blob {blob.digest}")

    async def _request(
        self,
        method: str,
        path_or_url: str,
        *,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        """Send once; on a 401 answer the challenge and send again with the credentials."""
        url = path_or_url if "://" in path_or_url else self._base + path_or_url
        for attempt in range(2):
            sent = dict(headers or {})
            if self._authorization:
                sent["Authorization"] = self._authorization
            response = await self._session.request(method, url, data=data, headers=sent)
            if response.status != 401 or attempt == 1:
                return response
            challenge = response.headers.get("WWW-Authenticate", "")
            response.release()
            await self._authenticate(challenge)
        raise AssertionError("unreachable")

    async def _authenticate(self, challenge: str) -> None:
        scheme, _, rest = challenge.partition(" ")
        if scheme.lower() == "basic":
            if self._credentials is None:
                raise PushError(
                    f"{self._reference.registry} wants credentials and the docker config has "
                    "none for it",
                    permanent=True,
                )
            self._authorization = _basic(*self._credentials)
            return
        if scheme.lower() != "bearer":
            raise PushError(f"unsupported authentication challenge {challenge!r}", permanent=True)
        params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        realm = params.pop("realm", "")
        if not realm:
            raise PushError(f"bearer challenge without a realm: {challenge!r}", permanent=True)
        query = {"service": params.get("service", "")}
        query["scope"] = f"repository:{self._reference.repository}:pull,push"
        headers = {"Authorization": _basic(*self._credentials)} if self._credentials else {}
        async with self._session.get(realm, params=query, headers=headers) as response:
            if response.status != 200:
                raise PushError(
                    f"the token service {realm} answered {response.status}", permanent=True
                )
            body = await response.json(content_type=None)
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise PushError(f"the token service {realm} returned no token", permanent=True)
        self._authorization = f"Bearer {token}"


async def _expect(response: aiohttp.ClientResponse, status: int, action: str) -> None:
    if response.status == status:
        return
    text = (await response.text())[:500]
    permanent = response.status in (400, 401, 403, 404, 405)
    raise PushError(
        f"could not {action}: HTTP {response.status} {text.strip()}", permanent=permanent
    )


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _tar_entry(name: str, *, size: int = 0, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if directory:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.size = size
        info.mode = 0o644
    return info


def _canonical(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def read_docker_config(directory: str) -> dict[str, Any]:
    """``<directory>/config.json`` as a dict; ``{}`` when there is none."""
    path = os.path.join(directory, "config.json")
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except FileNotFoundError:
        return {}
    if not isinstance(document, dict):
        raise ValueError(f"{path} is not a JSON object")
    return document
