"""The image puller's shell script, run for real with the environment the builders give it.

skopeo is replaced by a small fake on PATH that records its arguments, so the script's own logic
(retries, layer order, /data extraction) is what is tested. Every run uses the env and command of
a container built by the real builder, with paths and delays overridden. (The URL downloader and
the adapter pusher are the model runtime's ``download`` and ``push`` entrypoints and are tested
in packages/model-runtime.)
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from typing import Any

import pytest

import preset_catalog as pc
from kaito_apis.workspace import v1beta1
from workspace_controller.manifests import tuning
from workspace_controller.settings import ImageSettings

ToWorkspace = Callable[[dict[str, Any]], v1beta1.Workspace]


pytestmark = pytest.mark.skipif(
    shutil.which("sh") is None or shutil.which("tar") is None, reason="needs sh and tar"
)

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
