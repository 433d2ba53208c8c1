"""``python -m preset_catalog`` in a shell: plain choices, quiet pipes, estimate agrees with fit."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from preset_catalog._cli import main


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (
            ["fit", "falcon-40b", "--instance-type", "Standard_NC6s_v3", "--tuning", "full"],
            "(choose from 'lora', 'qlora')",
        ),
        (
            ["fit", "falcon-40b", "--instance-type", "Standard_NC6s_v3", "--runtime", "tgi"],
            "(choose from 'vllm', 'transformers')",
        ),
        (["tuning-config", "full"], "(choose from 'lora', 'qlora')"),
    ],
)
def test_invalid_choice_lists_the_plain_values(
    capsys: pytest.CaptureFixture[str], argv: list[str], shown: str
) -> None:
    with pytest.raises(SystemExit) as raised:
        main(argv)

    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert shown in err
    assert "<" not in err.splitlines()[-1]


@pytest.mark.parametrize("argv", [["list", "--instance-types"], ["list"], ["export"]])
def test_a_reader_that_goes_away_ends_it_quietly(argv: list[str]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head` having exited: every write now fails with EPIPE
    try:
        result = subprocess.run(
            [sys.executable, "-m", "preset_catalog", *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            timeout=120,
        )
    finally:
        os.close(write_end)

    assert result.stderr == ""
    assert result.returncode == 141


def test_estimate_agrees_with_fit_when_the_gpus_are_too_few(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["falcon-40b", "--instance-type", "Standard_NC6s_v3"]
    fit_code = main(["fit", *args])
    fit_out = capsys.readouterr().out

    estimate_code = main(["estimate", *args])
    estimate_out = capsys.readouterr().out

    assert fit_code == estimate_code == 1
    assert "[InsufficientGPUCount]" in fit_out
    assert estimate_out.startswith("does not fit: inference of falcon-40b")
    assert "[InsufficientGPUCount]" in estimate_out
    assert "node(s) of" not in estimate_out


def test_an_estimated_count_is_one_fit_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["mistral-7b", "--instance-type", "Standard_NC6s_v3"]
    assert main(["estimate", *args]) == 0
    out = capsys.readouterr().out
    count = out.split(" ", 1)[0]

    assert main(["fit", *args, "--count", count]) == 0
    capsys.readouterr()
