"""The base model's weights in ``$MODEL_DIR``: used as they are, fetched once when absent.

The controller mounts an empty directory at ``/workspace/weights`` and sets
``MODEL_REPOSITORY``/``MODEL_REVISION`` (and ``HF_TOKEN`` for gated models). When the directory
already holds a model (a ``config.json``) nothing is fetched, which is what the tests and images
with baked-in weights rely on. Loading itself always uses local files only.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["ensure_weights", "has_weights"]

_log = logging.getLogger(__name__)


def has_weights(model_dir: str) -> bool:
    """Whether ``model_dir`` holds a Hugging Face model."""
    return os.path.isfile(os.path.join(model_dir, "config.json"))


def ensure_weights(model_dir: str, env: Mapping[str, str]) -> None:
    """Fetch ``$MODEL_REPOSITORY`` into ``model_dir`` unless a model is already there."""
    if has_weights(model_dir):
        return
    repository = env.get("MODEL_REPOSITORY", "").strip()
    if not repository:
        raise FileNotFoundError(
            f"{model_dir} holds no model (no config.json) and MODEL_REPOSITORY is not set"
        )
    import huggingface_hub  # noqa: PLC0415 - only when weights are missing

    revision = env.get("MODEL_REVISION", "").strip() or None
    _log.info("fetching %s@%s into %s", repository, revision or "main", model_dir)
    huggingface_hub.snapshot_download(
        repository,
        revision=revision,
        local_dir=model_dir,
        token=env.get("HF_TOKEN") or None,
        allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.py"],
    )
