"""Chat templates: the tokenizer's own, one shipped with the runtime, a file, or inline Jinja.

The catalog names templates shipped in the runtime image (``chat_template: falcon-instruct`` for
models whose tokenizer has none); the controller passes the name as ``$CHAT_TEMPLATE``. A value
that is not a shipped name is read as a file path, and failing that as inline Jinja.
"""

from __future__ import annotations

import importlib.resources
import os

__all__ = ["resolve_chat_template", "shipped_templates"]

_PACKAGE_DIR = "chat_templates"
_SUFFIX = ".jinja"


def shipped_templates() -> list[str]:
    """Names of the templates shipped with the runtime."""
    folder = importlib.resources.files("model_runtime").joinpath(_PACKAGE_DIR)
    return sorted(
        entry.name.removesuffix(_SUFFIX)
        for entry in folder.iterdir()
        if entry.name.endswith(_SUFFIX)
    )


def resolve_chat_template(value: str) -> str:
    """The Jinja text for ``value``: a shipped name, a file path, or the template itself."""
    value = value.strip()
    if not value:
        raise ValueError("the chat template is empty")
    if value in shipped_templates():
        folder = importlib.resources.files("model_runtime").joinpath(_PACKAGE_DIR)
        return folder.joinpath(value + _SUFFIX).read_text(encoding="utf-8")
    if "{" not in value and os.path.isfile(value):
        with open(value, encoding="utf-8") as handle:
            return handle.read()
    if "{%" in value or "{{" in value:
        return value
    raise ValueError(
        f"chat template {value!r} is neither a shipped template "
        f"({', '.join(shipped_templates())}), a file, nor Jinja text"
    )
