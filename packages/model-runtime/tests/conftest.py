"""Session fixtures: a tiny Phi-3 and Llama, a messages parquet, one LoRA run, a real registry.

Everything is built locally (nothing is downloaded) and the heavy libraries are imported once per
session. Third-party deprecation notices between transformers 5, trl and peft (each still calls
the other's older names) are ignored by their exact message for this package's tests only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from model_runtime import tiny, training

if TYPE_CHECKING:
    from collections.abc import Iterator

_DEPRECATED = r"`(is_)?gradient_checkpointing\w*` is deprecated and will be removed in v6"
_LIBRARY_DEPRECATIONS = f"ignore:{_DEPRECATED}:FutureWarning"
REGISTRY_BINARY = "/usr/bin/docker-registry"
REGISTRY_USER = "pusher"
REGISTRY_PASSWORD = "s3cret-pass"
# bcrypt of REGISTRY_PASSWORD (the registry's htpasswd accepts bcrypt only).
_HTPASSWD = "pusher:$2y$05$hJ6A.1jCPEYei7zaFpcIiOxveYBaCwNJeEtLS34FkpbjvqVVQs8sq\n"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.filterwarnings(_LIBRARY_DEPRECATIONS))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Records(logging.Handler):
    """Collects the runtime's JSON-log events (message plus fields)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.events: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(record, "fields", {})
        self.events.append({"event": record.getMessage(), **fields})

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == name]


@contextlib.contextmanager
def recording(logger: str = "model_runtime") -> Iterator[Records]:
    handler = Records()
    target = logging.getLogger(logger)
    previous = target.level
    target.addHandler(handler)
    target.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        target.removeHandler(handler)
        target.setLevel(previous)


@pytest.fixture(scope="session")
def phi3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    training.quiet_libraries()
    directory = tmp_path_factory.mktemp("phi3")
    tiny.build_model(str(directory), architecture="phi3")
    return directory


@pytest.fixture(scope="session")
def llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("llama")
    tiny.build_model(str(directory), architecture="llama")
    return directory


@pytest.fixture(scope="session")
def messages_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("data")
    tiny.write_parquet(tiny.sample_conversations(), str(directory / "train.parquet"))
    return directory


def write_config(path: Path, output_dir: Path, **sections: dict[str, Any]) -> Path:
    config: dict[str, Any] = {
        "ModelConfig": {"torch_dtype": "float32", "local_files_only": True, "device_map": "auto"},
        "LoraConfig": {"r": 8, "lora_alpha": 16, "lora_dropout": 0.0},
        "TrainingArguments": {
            "output_dir": str(output_dir),
            "max_steps": 12,
            "per_device_train_batch_size": 8,
            "learning_rate": 0.01,
            "logging_steps": 1,
            "save_strategy": "no",
        },
        "DataCollator": {"mlm": True},
        "DatasetConfig": {"shuffle_dataset": True, "train_test_split": 1},
    }
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values}
    path.write_text(yaml.safe_dump({"training_config": config}))
    return path


class Tuned:
    """One ``tune`` run of the tiny Phi-3 through the entrypoint, and what it left behind."""

    def __init__(self, output_dir: Path, events: Records, exit_code: int, metrics: str) -> None:
        self.output_dir = output_dir
        self.events = events
        self.exit_code = exit_code
        self.metrics = metrics


@pytest.fixture(scope="session")
def tuned(tmp_path_factory: pytest.TempPathFactory, phi3_dir: Path, messages_dir: Path) -> Tuned:
    work = tmp_path_factory.mktemp("tune")
    output = work / "results"
    config = write_config(work / "training_config.yaml", output)
    port = free_port()
    env = {
        "YAML_FILE_PATH": str(config),
        "MODEL_DIR": str(phi3_dir),
        "DATASET_FOLDER_PATH": str(messages_dir),
        "TUNING_METHOD": "lora",
        "DEFAULT_TARGET_MODULES": "qkv_proj,o_proj,gate_up_proj,down_proj",
        "GPU_COUNT": "1",
        "PORT": str(port),
        "HF_HUB_OFFLINE": "1",
    }
    with recording() as events:
        code = training.main(env)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        scraped = response.read().decode()
    return Tuned(output, events, code, scraped)


class Registry:
    def __init__(self, address: str, root: Path) -> None:
        self.address = address
        self.root = root


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """CNCF distribution 2.8 (Debian's docker-registry) on loopback, htpasswd auth, tmp storage."""
    if not os.access(REGISTRY_BINARY, os.X_OK):
        pytest.fail(
            f"{REGISTRY_BINARY} is missing: install Debian's docker-registry package "
            "(apt-get install -y docker-registry) to run the push tests"
        )
    root = tmp_path_factory.mktemp("registry")
    (root / "htpasswd").write_text(_HTPASSWD)
    port = free_port()
    (root / "config.yml").write_text(
        f"""version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root / "data"}
http:
  addr: 127.0.0.1:{port}
auth:
  htpasswd:
    realm: test-registry
    path: {root / "htpasswd"}
"""
    )
    log = (root / "registry.log").open("wb")
    process = subprocess.Popen(
        [REGISTRY_BINARY, "serve", str(root / "config.yml")], stdout=log, stderr=log
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                urllib.request.urlopen(f"http://{address}/v2/", timeout=1)
            except urllib.error.HTTPError as error:
                if error.code == 401:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the registry did not start: {(root / 'registry.log').read_text()}")
            time.sleep(0.1)
        yield Registry(address, root)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture
def config_writer() -> Any:
    """``write_config(path, output_dir, **sections)``: a training config for the tiny model."""
    return write_config


@pytest.fixture
def record() -> Any:
    """``with record() as events:`` collects the runtime's log events."""
    return recording


@pytest.fixture
def adapter_copy(tuned: Tuned, tmp_path: Path) -> Path:
    """A fresh output directory holding the trained adapter and the marker."""
    target = tmp_path / "results"
    shutil.copytree(tuned.output_dir, target)
    return target
