"""The runtime works on a read-only root filesystem, writing only to the pods' emptyDirs.

The controller's pods set ``readOnlyRootFilesystem: true`` and mount an emptyDir wherever a
container writes (/tmp, the runtime's home and caches, the weights, data and results). Here the
tune and serve entrypoints run as in those pods: the container's environment from the
controller's real builders, every path rebased under a temporary root (``/tmp`` becomes
``<root>/tmp``), in a user and mount namespace (``unshare -rm``) where the whole root filesystem
is remounted read-only and only the rebased emptyDir mount points stay writable. A write
anywhere else (the old home, a cache the environment does not redirect, a fixed /tmp path)
fails the run.
"""

from __future__ import annotations

import copy
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

import preset_catalog
from kaito_apis.workspace import v1alpha1, v1beta1
from workspace_controller.manifests import inference, tuning
from workspace_controller.settings import ImageSettings

if TYPE_CHECKING:
    from collections.abc import Iterator

SEED = (
    Path(__file__).resolve().parents[3] / "examples/fine-tuning/kaito_workspace_tuning_phi_3.yaml"
)
NC6S_V3 = preset_catalog.get_instance_type("Standard_NC6s_v3")
# Runs its arguments with / read-only except for the directories passed before "--".
_READ_ONLY_ROOT = r"""
while [ "$1" != -- ]; do mount --bind "$1" "$1"; shift; done
shift
mount -o remount,bind,ro /
exec "$@"
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -o remount,bind,ro / && ! touch /.probe"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(
    not _unshare_works(), reason="needs unprivileged user and mount namespaces (unshare -rm)"
)


def _seed() -> v1beta1.Workspace:
    doc: dict[str, Any] = yaml.safe_load(SEED.read_text())
    doc = copy.deepcopy(doc)
    doc["metadata"].update(namespace="default", uid="00000000-0000-0000-0000-000000000001")
    doc["tuning"]["method"] = "lora"  # this machine has no GPU for qlora
    wire = v1alpha1.Workspace.model_validate(doc).to_wire()
    return v1beta1.Workspace.model_validate({**wire, "apiVersion": v1beta1.API_VERSION})


def _rebased_env(container: dict[str, Any], root: Path) -> dict[str, str]:
    """The container's literal env, every absolute path moved under ``root``."""
    env: dict[str, str] = {}
    for entry in container["env"]:
        value = entry.get("value")
        if value is None:
            continue
        env[entry["name"]] = f"{root}{value}" if value.startswith("/") else value
    return env


def _writable_dirs(pod: dict[str, Any], container: dict[str, Any], root: Path) -> list[Path]:
    """The container's writable emptyDir mounts, rebased and created (/dev/shm stays as it is)."""
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    dirs: list[Path] = []
    for mount in container["volumeMounts"]:
        if mount["name"] in empty_dirs and not mount.get("readOnly"):
            if mount["mountPath"] == "/dev/shm":
                continue  # a tmpfs of its own here too
            path = Path(f"{root}{mount['mountPath']}")
            path.mkdir(parents=True, exist_ok=True)
            dirs.append(path)
    return dirs


def _command(writable: list[Path], *argv: str) -> list[str]:
    return ["unshare", "-rm", "sh", "-c", _READ_ONLY_ROOT, "sh", *map(str, writable), "--", *argv]


def _process_env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HF_HUB_OFFLINE": "1"}


def _files(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def test_the_tuning_pod_trains_with_a_read_only_root(
    phi3_dir: Path, messages_dir: Path, tmp_path: Path
) -> None:
    ws = _seed()
    preset = preset_catalog.resolve_preset("phi-3-mini-128k-instruct").preset
    config = preset_catalog.default_tuning_config(
        preset_catalog.TuningMethod.LORA, preset=preset, instance_type=NC6S_V3
    )
    output_dir = config["training_config"]["TrainingArguments"]["output_dir"]
    job = tuning.tuning_job(
        ws,
        preset=preset,
        instance_type=NC6S_V3,
        config_map_name="params",
        output_dir=output_dir,
        revision="r",
        images=ImageSettings(),
    )
    pod = job["spec"]["template"]["spec"]
    trainer = pod["containers"][0]
    root = tmp_path / "pod"
    writable = _writable_dirs(pod, trainer, root)
    env = _rebased_env(trainer, root)
    # What the volumes would hold: the ConfigMap (read-only), the data, the weights.
    config_file = Path(env["YAML_FILE_PATH"])
    config_file.parent.mkdir(parents=True)
    document = copy.deepcopy(config)
    arguments = document["training_config"]["TrainingArguments"]
    arguments.update(output_dir=f"{root}{output_dir}", max_steps=2)
    document["training_config"]["ModelConfig"]["torch_dtype"] = "float32"
    config_file.write_text(yaml.safe_dump(document))
    shutil.copytree(messages_dir, env["DATASET_FOLDER_PATH"], dirs_exist_ok=True)
    shutil.copytree(phi3_dir, env["MODEL_DIR"], dirs_exist_ok=True)
    env["PORT"] = str(free_port())

    result = subprocess.run(
        _command(writable, sys.executable, "-m", "model_runtime", "tune"),
        env=_process_env(env),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert {"adapter_config.json", "adapter_model.safetensors", "fine_tuning_completed.txt"} <= set(
        _files(Path(f"{root}{output_dir}"))
    )
    # The datasets cache went where HF_HOME points: the runtime home's emptyDir.
    home = Path(env["HOME"])
    assert any(f.startswith(".cache/huggingface/") for f in _files(home)), _files(home)


@pytest.fixture
def server_process(phi3_dir: Path, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    ws = v1beta1.Workspace.model_validate(
        {
            "apiVersion": v1beta1.API_VERSION,
            "kind": "Workspace",
            "metadata": {"name": "ws", "namespace": "default", "uid": "u"},
            "resource": {
                "instanceType": "Standard_NC6s_v3",
                "labelSelector": {"matchLabels": {"apps": "ws"}},
            },
            "inference": {"preset": {"name": "phi-3-mini-4k-instruct"}},
        }
    )
    workload = inference.inference_workload(
        ws,
        preset=preset_catalog.resolve_preset("phi-3-mini-4k-instruct").preset,
        instance_type=NC6S_V3,
        replicas=1,
        revision="r",
        images=ImageSettings(),
        runtime="transformers",
    )
    pod = workload["spec"]["template"]["spec"]
    server = pod["containers"][0]
    root = tmp_path / "pod"
    writable = _writable_dirs(pod, server, root)
    env = _rebased_env(server, root)
    shutil.copytree(phi3_dir, env["MODEL_DIR"], dirs_exist_ok=True)
    port = free_port()
    env["PORT"] = str(port)
    log = tmp_path / "server.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            _command(writable, sys.executable, "-m", "model_runtime", "serve"),
            env=_process_env(env),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            yield port, log
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_the_inference_pod_serves_with_a_read_only_root(
    server_process: tuple[int, Path],
) -> None:
    port, log = server_process
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as health:
                if health.status == 200:
                    break
        except (urllib.error.URLError, OSError):
            pass
        assert time.monotonic() < deadline, log.read_text()[-4000:]
        time.sleep(0.5)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/completions",
        data=b'{"prompt": "hello", "max_tokens": 4}',
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200
