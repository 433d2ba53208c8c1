"""The helper containers' shell scripts, run for real with the environment the builders give them.

curl is real and talks to a loopback HTTP server; skopeo is replaced by a small fake on PATH that
records its arguments, so the scripts' own logic (retries, layer order, /data extraction) is what
is tested. Every run uses the env and command of a container built by the real builder, with
paths and delays overridden. (The adapter pusher is the model runtime's ``push`` entrypoint and
is tested in packages/model-runtime.)
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import pathlib
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

import preset_catalog as pc
from kaito_apis.workspace import v1beta1
from workspace_controller.manifests import tuning
from workspace_controller.settings import ImageSettings

if TYPE_CHECKING:
    from collections.abc import Iterator

ToWorkspace = Callable[[dict[str, Any]], v1beta1.Workspace]


pytestmark = pytest.mark.skipif(
    shutil.which("sh") is None or shutil.which("tar") is None, reason="needs sh and tar"
)

BUSYBOX_APPLETS = ("sh", "tr", "grep", "sha256sum", "tar", "gzip", "cut", "mktemp", "sleep", "cp")
PRESET = pc.resolve_preset("phi-3-mini-128k-instruct").preset
NC6S_V3 = pc.get_instance_type("Standard_NC6s_v3")


def _seed_job(ws: v1beta1.Workspace) -> dict[str, Any]:
    return tuning.tuning_job(
        ws,
        preset=PRESET,
        instance_type=NC6S_V3,
        config_map_name="params",
        output_dir="/mnt/results",
        revision="r",
        images=ImageSettings(),
    )


def _container(job: dict[str, Any], name: str) -> dict[str, Any]:
    pod = job["spec"]["template"]["spec"]
    return next(
        c for c in [*pod.get("initContainers", []), *pod["containers"]] if c["name"] == name
    )


@pytest.fixture(params=["sh", "busybox"])
def shell(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> list[str]:
    """Directories to put first on PATH: none for the system shell, busybox applets otherwise.

    The curl image is Alpine-based, so the scripts also run under busybox.
    """
    if request.param == "sh":
        return []
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox is not installed")
    applets = tmp_path / "busybox-bin"
    applets.mkdir()
    for applet in BUSYBOX_APPLETS:
        (applets / applet).symlink_to(busybox)
    return [str(applets)]


def _environment(
    container: dict[str, Any], tmp_path: pathlib.Path, path_first: list[str], **overrides: str
) -> dict[str, str]:
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    path = ":".join([*path_first, os.environ.get("PATH", "/usr/bin:/bin")])
    return (
        env | {"PATH": path, "TMPDIR": str(tmp_path), "NO_PROXY": "*", "no_proxy": "*"} | overrides
    )


def _command(command: list[str], path_first: list[str]) -> list[str]:
    """``/bin/sh -c ...`` run by the first ``sh`` on the test PATH."""
    shells = [pathlib.Path(d) / "sh" for d in path_first if (pathlib.Path(d) / "sh").exists()]
    return [str(shells[-1]) if shells else "sh", *command[1:]]


def _run(
    command: list[str],
    container: dict[str, Any],
    tmp_path: pathlib.Path,
    *,
    path_first: list[str],
    **overrides: str,
) -> subprocess.CompletedProcess[str]:
    env = _environment(container, tmp_path, path_first, **overrides)
    return subprocess.run(
        _command(command, path_first),
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _fake(bin_dir: pathlib.Path, name: str, body: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / name
    tool.write_text("#!/bin/sh\n" + body)
    tool.chmod(0o755)


# -- data-downloader ------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[dict[str, int]] = {}

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        self.hits[path] = self.hits.get(path, 0) + 1
        if path == "/flaky.csv" and self.hits[path] == 1:
            self._reply(500, b"try again")
        elif path in {"/train.csv", "/flaky.csv"}:
            self._reply(200, b"prompt,completion\nhi,there\n")
        elif path == "/empty.csv":
            self._reply(200, b"")
        elif path == "/moved.csv":
            self.send_response(302)
            self.send_header("Location", "/train.csv")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._reply(404, b"not found")

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.hits = {}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def downloader(seed: v1beta1.Workspace) -> dict[str, Any]:
    return _container(_seed_job(seed), "data-downloader")


def _download(
    downloader: dict[str, Any],
    tmp_path: pathlib.Path,
    shell: list[str],
    pairs: list[tuple[str, str]],
) -> subprocess.CompletedProcess[str]:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    args = [item for pair in pairs for item in pair]
    command = [*downloader["command"][:4], *args]
    return _run(
        command, downloader, tmp_path, path_first=shell, DATA_DIR=str(data), RETRY_DELAY_SECONDS="0"
    )


needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")


@needs_curl
def test_downloader_saves_each_url_under_its_file_name(
    downloader: dict[str, Any], tmp_path: pathlib.Path, shell: list[str], server: str
) -> None:
    result = _download(
        downloader,
        tmp_path,
        shell,
        [("train.csv", f"{server}/train.csv?download=true"), ("moved.csv", f"{server}/moved.csv")],
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data/train.csv").read_text().startswith("prompt,completion")
    assert (tmp_path / "data/moved.csv").read_text().startswith("prompt,completion")
    assert "download=true" not in result.stdout + result.stderr  # URLs are not logged


@needs_curl
def test_downloader_retries_a_failed_download(
    downloader: dict[str, Any], tmp_path: pathlib.Path, shell: list[str], server: str
) -> None:
    result = _download(downloader, tmp_path, shell, [("flaky.csv", f"{server}/flaky.csv")])
    assert result.returncode == 0, result.stderr
    assert _Handler.hits["/flaky.csv"] == 2


@needs_curl
@pytest.mark.parametrize("path", ["/missing.csv", "/empty.csv"])
def test_downloader_gives_up_after_three_attempts_on_errors_and_empty_files(
    downloader: dict[str, Any], tmp_path: pathlib.Path, shell: list[str], server: str, path: str
) -> None:
    result = _download(downloader, tmp_path, shell, [("data.csv", f"{server}{path}")])
    assert result.returncode == 1
    assert _Handler.hits[path] == 3
    assert "giving up on data.csv" in result.stderr
    assert not (tmp_path / "data/data.csv").exists()


# -- data-puller ----------------------------------------------------------------------------------


def _layer(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _image_dir(root: pathlib.Path, layers: list[dict[str, bytes]]) -> pathlib.Path:
    """A skopeo ``dir:`` layout: manifest.json plus blobs named by their hex digest."""
    root.mkdir()
    config = b'{"rootfs":{"type":"layers"}}'
    blobs = [config, *(_layer(files) for files in layers)]
    digests = [hashlib.sha256(b).hexdigest() for b in blobs]
    for digest, blob in zip(digests, blobs, strict=True):
        (root / digest).write_bytes(blob)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": f"sha256:{d}"}
            for d in digests[1:]
        ],
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": f"sha256:{digests[0]}",
        },
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return root


FAKE_SKOPEO = r"""
printf '%s\n' "$*" >> "$FAKE_LOG"
auth=""
dest=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    --authfile) auth=$2; shift ;;
    dir:*) dest=${1#dir:} ;;
  esac
  shift
done
if [ -n "${FAKE_GOOD_AUTH:-}" ] && [ "$auth" != "$FAKE_GOOD_AUTH" ]; then
  echo "unauthorized" >&2
  exit 1
fi
mkdir -p "$dest"
cp -R "$FAKE_IMAGE/." "$dest/"
"""


@pytest.fixture
def puller(seed_doc: dict[str, Any], to_workspace: ToWorkspace) -> dict[str, Any]:
    seed_doc["tuning"]["input"] = {"image": "registry.example.com/data:1"}
    return _container(_seed_job(to_workspace(seed_doc)), "data-puller")


def _pull(
    puller: dict[str, Any], tmp_path: pathlib.Path, image: pathlib.Path, **overrides: str
) -> subprocess.CompletedProcess[str]:
    _fake(tmp_path / "bin", "skopeo", FAKE_SKOPEO)
    dest = tmp_path / "dest"
    command = [*puller["command"][:5], str(dest)]
    auth_dir = tmp_path / "auth"
    auth_dir.mkdir(exist_ok=True)
    return _run(
        command,
        puller,
        tmp_path,
        path_first=[str(tmp_path / "bin")],
        AUTH_DIR=str(auth_dir),
        RETRY_DELAY_SECONDS="0",
        FAKE_LOG=str(tmp_path / "skopeo.log"),
        FAKE_IMAGE=str(image),
        **overrides,
    )


def test_puller_copies_the_images_data_directory_layer_by_layer(
    puller: dict[str, Any], tmp_path: pathlib.Path
) -> None:
    image = _image_dir(
        tmp_path / "image",
        [
            {"data/train.csv": b"old", "etc/passwd": b"x", "data/sub/a.json": b"{}"},
            {"data/train.csv": b"new", "./data/extra.parquet": b"p"},
            {"usr/bin/tool": b"not data"},
        ],
    )
    result = _pull(puller, tmp_path, image)
    assert result.returncode == 0, result.stderr
    dest = tmp_path / "dest"
    assert (dest / "train.csv").read_bytes() == b"new"  # the later layer wins
    assert (dest / "sub/a.json").read_bytes() == b"{}"
    assert (dest / "extra.parquet").read_bytes() == b"p"
    assert sorted(p.name for p in dest.iterdir()) == ["extra.parquet", "sub", "train.csv"]
    log = (tmp_path / "skopeo.log").read_text()
    assert "docker://registry.example.com/data:1" in log
    assert "--authfile" not in log


def test_puller_tries_each_pull_secret(puller: dict[str, Any], tmp_path: pathlib.Path) -> None:
    image = _image_dir(tmp_path / "image", [{"data/train.csv": b"x"}])
    for secret in ("first", "second"):
        (tmp_path / "auth" / secret).mkdir(parents=True)
        (tmp_path / "auth" / secret / "config.json").write_text("{}")
    good = str(tmp_path / "auth/second/config.json")
    result = _pull(puller, tmp_path, image, FAKE_GOOD_AUTH=good)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "skopeo.log").read_text().count("--authfile") == 2


def test_puller_fails_after_its_attempts_when_no_secret_works(
    puller: dict[str, Any], tmp_path: pathlib.Path
) -> None:
    image = _image_dir(tmp_path / "image", [{"data/train.csv": b"x"}])
    result = _pull(puller, tmp_path, image, FAKE_GOOD_AUTH="nope")
    assert result.returncode == 1
    assert (tmp_path / "skopeo.log").read_text().count("copy") == 3


def test_puller_fails_for_an_image_without_data(
    puller: dict[str, Any], tmp_path: pathlib.Path
) -> None:
    image = _image_dir(tmp_path / "image", [{"etc/hostname": b"x"}])
    result = _pull(puller, tmp_path, image)
    assert result.returncode == 1
    assert "has no /data directory" in result.stderr
