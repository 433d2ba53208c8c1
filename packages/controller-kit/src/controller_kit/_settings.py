"""Load a controller's grouped, frozen settings dataclasses from environment variables.

Both controllers keep their knobs as ``Settings`` made of group dataclasses, each field mapped to
``<PREFIX>_<GROUP>_<FIELD>`` (upper case), which their Helm charts set. This is the one reader of
those variables: bool, int, float, str, enums, comma-separated tuples and optional values; a bad
value names its variable.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import types
import typing
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Mapping

T = TypeVar("T")
_TRUE = {"true", "1", "yes"}
_BOOLEAN = _TRUE | {"false", "0", "no"}


def load_settings(cls: type[T], *, prefix: str, environ: Mapping[str, str] | None = None) -> T:
    """``cls()`` with each group's fields overridden by ``<prefix>_<GROUP>_<FIELD>``."""
    env = os.environ if environ is None else environ
    hints = typing.get_type_hints(cls)
    groups = {
        group.name: _load_group(hints[group.name], f"{prefix}_{group.name.upper()}", env)
        for group in dataclasses.fields(cls)  # type: ignore[arg-type]
    }
    return cls(**groups)


def _load_group(group_type: type[Any], prefix: str, env: Mapping[str, str]) -> Any:
    values: dict[str, Any] = {}
    hints = typing.get_type_hints(group_type)
    for field in dataclasses.fields(group_type):
        key = f"{prefix}_{field.name.upper()}"
        if key in env:
            values[field.name] = _parse(hints[field.name], env[key], key)
    return group_type(**values)


def _parse(kind: Any, raw: str, key: str) -> Any:
    if isinstance(kind, types.UnionType):
        kind = next(k for k in typing.get_args(kind) if k is not type(None))
    if typing.get_origin(kind) is tuple:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    try:
        if kind is bool:
            if raw.strip().lower() not in _BOOLEAN:
                raise ValueError(raw)
            return raw.strip().lower() in _TRUE
        if kind in (int, float, str) or (isinstance(kind, type) and issubclass(kind, enum.Enum)):
            return kind(raw)
    except ValueError as exc:
        raise ValueError(f"{key}={raw!r} is not a valid {getattr(kind, '__name__', kind)}") from exc
    raise TypeError(f"{key}: unsupported setting type {kind!r}")
