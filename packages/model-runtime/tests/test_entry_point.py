"""``python -m model_runtime``: each subcommand's --help lists the environment it reads, and a
malformed number is one line on stderr and exit 2 instead of a traceback."""

from __future__ import annotations

import ast
import inspect
from typing import TYPE_CHECKING

import pytest

from model_runtime import (
    __main__ as entrypoint,
)
from model_runtime import (
    downloading,
    generation,
    pushing,
    serving,
    training,
    weights,
)

if TYPE_CHECKING:
    from types import ModuleType

# The modules whose reads of the environment make up each subcommand's contract.
READERS: dict[str, tuple[ModuleType, ...]] = {
    "tune": (training, weights),
    "push": (pushing,),
    "serve": (serving, generation, weights),
    "download": (downloading,),
}


def _names_read(module: ModuleType) -> set[str]:
    """Literal variable names passed to ``contract.env_*(env, NAME, ...)`` or ``env.get(NAME)``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        func = node.func
        if func.attr in ("env_str", "env_int", "env_float") and len(node.args) >= 2:
            arg = node.args[1]
        elif func.attr == "get" and isinstance(func.value, ast.Name) and func.value.id == "env":
            arg = node.args[0]
        else:
            continue
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            names.add(arg.value)
    return names


@pytest.mark.parametrize("command", sorted(READERS))
def test_documented_environment_is_what_the_code_reads(command: str) -> None:
    read = set().union(*(_names_read(m) for m in READERS[command]))
    documented = {var.name for var in entrypoint.ENVIRONMENT[command]}

    assert read, "the reader scan found nothing: it no longer matches the code"
    assert read - documented == set()
    assert documented - read == {"DEBUG_MODE"} | (
        {"<adapter name>"} if command == "serve" else set()
    )


def test_download_defaults_are_the_downloaders() -> None:
    defaults = {var.name: var.default for var in entrypoint.ENVIRONMENT["download"]}

    assert defaults["MAX_BYTES"] == str(downloading.DEFAULT_MAX_BYTES)
    assert defaults["TIMEOUT_SECONDS"] == str(downloading.DEFAULT_TIMEOUT_SECONDS)


@pytest.mark.parametrize("command", sorted(READERS))
def test_subcommand_help_lists_its_environment(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        entrypoint.main([command, "--help"])

    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: python -m model_runtime {command}" in out
    for var in entrypoint.ENVIRONMENT[command]:
        assert f"{var.name}  (default {var.default})" in out


def test_top_level_help_lists_the_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        entrypoint.main(["--help"])

    assert exited.value.code == 0
    out = capsys.readouterr().out
    flat = " ".join(out.split())
    for command, summary in entrypoint.SUMMARIES.items():
        assert f"{command} {summary}" in flat
    assert '"""' not in out
    assert "``" not in out


@pytest.mark.parametrize(
    ("command", "variable", "value"),
    [("serve", "PORT", "abc"), ("download", "MAX_BYTES", "lots"), ("push", "POLL_SECONDS", "x")],
)
def test_malformed_number_is_one_line_and_exit_2(
    command: str,
    variable: str,
    value: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(variable, value)

    assert entrypoint.main([command]) == 2

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{variable}={value!r}" in err
