"""The pod contract with the workspace-controller: environment variables, paths, port, marker.

Every name here matches what the controller's manifests set (workspace_controller.manifests
``common``, ``tuning`` and ``inference``); the two packages do not import each other, so this
module and the controller's ``common`` module are the two halves of one agreement.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "ADAPTERS_DIR",
    "COMPLETION_MARKER",
    "DATASET_FOLDER",
    "DEFAULT_OUTPUT_DIR",
    "SERVER_PORT",
    "TRAINING_CONFIG",
    "WEIGHTS_DIR",
    "env_float",
    "env_int",
    "env_str",
]

TRAINING_CONFIG: Final = "/mnt/config/training_config.yaml"
"""The tuning ConfigMap's file (env ``YAML_FILE_PATH`` or ``TRAINING_CONFIG`` overrides)."""
DATASET_FOLDER: Final = "/mnt/data"
"""Where the training data lands (env ``DATASET_FOLDER_PATH``)."""
DEFAULT_OUTPUT_DIR: Final = "/mnt/results"
"""``TrainingArguments.output_dir`` when the config does not set it."""
WEIGHTS_DIR: Final = "/workspace/weights"
"""The base model's weights (env ``MODEL_DIR``)."""
ADAPTERS_DIR: Final = "/mnt/adapter"
"""One sub-directory per adapter to serve (env ``ADAPTERS_DIR``)."""
COMPLETION_MARKER: Final = "fine_tuning_completed.txt"
"""Written to the output directory after the adapter files (env ``MARKER`` for the pusher)."""
SERVER_PORT: Final = 5000
"""The server, and the trainer's metrics, listen here (env ``PORT``)."""


def env_str(env: Mapping[str, str], name: str, default: str) -> str:
    """``env[name]`` unless unset or blank."""
    value = env.get(name, "").strip()
    return value or default


def env_int(env: Mapping[str, str], name: str, default: int) -> int:
    """``env[name]`` as an int; a malformed value is an error naming the variable."""
    text = env_str(env, name, str(default))
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"environment variable {name}={text!r} is not an integer") from None


def env_float(env: Mapping[str, str], name: str, default: float) -> float:
    """``env[name]`` as a float; a malformed value is an error naming the variable."""
    text = env_str(env, name, str(default))
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"environment variable {name}={text!r} is not a number") from None


def process_env() -> Mapping[str, str]:
    """The process environment (one place to read it, so everything else takes a mapping)."""
    return os.environ
