"""settings_from_command_line: --help lists the variables load_settings reads; bad values exit 2."""

from __future__ import annotations

import dataclasses
import enum

import pytest

import controller_kit


class Mode(enum.StrEnum):
    FAST = "fast"
    SAFE = "safe"


@dataclasses.dataclass(frozen=True, kw_only=True)
class LoopSettings:
    """The loop."""

    workers: int = 4
    """Reconciles at once."""
    mode: Mode = Mode.SAFE
    """How carefully to go,
    spread over two lines."""
    names: tuple[str, ...] = ("a", "b")
    undocumented: bool = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class DemoSettings:
    loop: LoopSettings = dataclasses.field(default_factory=LoopSettings)


def test_describe_settings_follows_load_settings_names_and_attribute_docstrings() -> None:
    described = controller_kit.describe_settings(DemoSettings, prefix="DEMO")

    assert [s.variable for s in described] == [
        "DEMO_LOOP_WORKERS",
        "DEMO_LOOP_MODE",
        "DEMO_LOOP_NAMES",
        "DEMO_LOOP_UNDOCUMENTED",
    ]
    by_name = {s.variable: s for s in described}
    assert by_name["DEMO_LOOP_WORKERS"] == controller_kit.SettingHelp(
        "DEMO_LOOP_WORKERS", "int", "4", "Reconciles at once."
    )
    assert by_name["DEMO_LOOP_MODE"].type == "one of fast, safe"
    assert by_name["DEMO_LOOP_MODE"].default == "safe"
    assert by_name["DEMO_LOOP_MODE"].doc == "How carefully to go,\nspread over two lines."
    assert by_name["DEMO_LOOP_NAMES"].default == "'a,b'"
    assert by_name["DEMO_LOOP_UNDOCUMENTED"].doc == ""
    # Every described variable is one load_settings actually reads.
    loaded = controller_kit.load_settings(
        DemoSettings,
        prefix="DEMO",
        environ={
            "DEMO_LOOP_WORKERS": "9",
            "DEMO_LOOP_MODE": "fast",
            "DEMO_LOOP_NAMES": "x",
            "DEMO_LOOP_UNDOCUMENTED": "true",
        },
    )
    assert loaded.loop == LoopSettings(workers=9, mode=Mode.FAST, names=("x",), undocumented=True)


def test_help_lists_every_variable_with_default_and_doc(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        controller_kit.settings_from_command_line(
            DemoSettings,
            prefix="DEMO",
            prog="demo",
            description="Runs the ``demo``.",
            argv=["--help"],
        )

    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "Runs the demo." in out
    assert "DEMO_LOOP_WORKERS  (int, default 4)" in out
    assert "Reconciles at once." in out
    assert "How carefully to go, spread over two lines." in out
    assert "DEMO_LOOP_UNDOCUMENTED  (bool, default false)" in out


def test_bad_value_is_one_line_on_stderr_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        controller_kit.settings_from_command_line(
            DemoSettings,
            prefix="DEMO",
            prog="demo",
            description="",
            argv=[],
            environ={"DEMO_LOOP_MODE": "reckless"},
        )

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("demo: bad setting: DEMO_LOOP_MODE='reckless'")


def test_unknown_argument_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        controller_kit.settings_from_command_line(
            DemoSettings, prefix="DEMO", prog="demo", description="", argv=["--bogus"], environ={}
        )

    assert exited.value.code == 2
    assert "--bogus" in capsys.readouterr().err


def test_good_environment_gives_the_settings() -> None:
    settings = controller_kit.settings_from_command_line(
        DemoSettings,
        prefix="DEMO",
        prog="demo",
        description="",
        argv=[],
        environ={"DEMO_LOOP_WORKERS": "2"},
    )

    assert settings.loop.workers == 2
