"""Load a controller's grouped, frozen settings dataclasses from environment variables.

Both controllers keep their knobs as ``Settings`` made of group dataclasses, each field mapped to
``<PREFIX>_<GROUP>_<FIELD>`` (upper case), which their Helm charts set. This is the one reader of
those variables: bool, int, float, str, enums, comma-separated tuples and optional values; a bad
value names its variable. :func:`settings_from_command_line` gives each controller's entry point a
``--help`` that lists those variables from the dataclasses and their attribute docstrings.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import enum
import inspect
import itertools
import os
import sys
import textwrap
import types
import typing
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

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


@dataclasses.dataclass(frozen=True)
class SettingHelp:
    """One environment variable of a settings class: its name, type, default and docstring."""

    variable: str
    type: str
    default: str
    doc: str


def describe_settings(cls: type[Any], *, prefix: str) -> list[SettingHelp]:
    """Every variable :func:`load_settings` reads for ``cls``, in declaration order, documented by
    the attribute docstrings that follow each field in the source."""
    out: list[SettingHelp] = []
    hints = typing.get_type_hints(cls)
    for group in dataclasses.fields(cls):
        group_type = hints[group.name]
        docs = _attribute_docstrings(group_type)
        group_hints = typing.get_type_hints(group_type)
        defaults = group_type()
        for field in dataclasses.fields(group_type):
            out.append(
                SettingHelp(
                    variable=f"{prefix}_{group.name.upper()}_{field.name.upper()}",
                    type=_type_name(group_hints[field.name]),
                    default=_show_default(getattr(defaults, field.name)),
                    doc=docs.get(field.name, ""),
                )
            )
    return out


def settings_from_command_line(
    cls: type[T],
    *,
    prefix: str,
    prog: str,
    description: str,
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> T:
    """The entry point's command line: ``--help`` lists every environment variable (from
    :func:`describe_settings`) and exits 0; a bad value is one line on stderr and exit 2."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description.replace("``", ""),
        epilog=_settings_epilog(cls, prefix),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.parse_args(argv)
    try:
        return load_settings(cls, prefix=prefix, environ=environ)
    except (ValueError, TypeError) as exc:
        print(f"{prog}: bad setting: {exc}", file=sys.stderr)
        sys.exit(2)


def _settings_epilog(cls: type[Any], prefix: str) -> str:
    lines = ["settings (environment variables; the Helm chart sets them from its values):"]
    for setting in describe_settings(cls, prefix=prefix):
        lines.append(f"  {setting.variable}  ({setting.type}, default {setting.default})")
        for doc_line in textwrap.wrap(" ".join(setting.doc.split()), width=88):
            lines.append(f"      {doc_line}")
    return "\n".join(lines)


def _attribute_docstrings(group_type: type[Any]) -> dict[str, str]:
    try:
        source = textwrap.dedent(inspect.getsource(group_type))
    except (OSError, TypeError):
        return {}
    body = ast.parse(source).body[0]
    if not isinstance(body, ast.ClassDef):
        return {}
    docs: dict[str, str] = {}
    for node, following in itertools.pairwise(body.body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = inspect.cleandoc(following.value.value)
    return docs


def _type_name(kind: Any) -> str:
    optional = isinstance(kind, types.UnionType)
    if optional:
        kind = next(k for k in typing.get_args(kind) if k is not type(None))
    if typing.get_origin(kind) is tuple:
        name = "comma-separated list"
    elif isinstance(kind, type) and issubclass(kind, enum.Enum):
        name = "one of " + ", ".join(str(member.value) for member in kind)
    else:
        name = getattr(kind, "__name__", str(kind))
    return f"{name}, optional" if optional else name


def _show_default(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, tuple):
        return repr(",".join(str(v) for v in value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "unset"
    return repr(value) if isinstance(value, str) else str(value)
