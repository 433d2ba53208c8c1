"""The runtime's stderr is JSON lines only: the controllers' ``timestamp`` key, no progress bars
(progress is logged as events), and a fatal error is one ``error`` line saying what to fix."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from model_runtime import downloading, progress, pushing, training

if TYPE_CHECKING:
    from pathlib import Path

# Every library in the runtime that draws a tqdm bar, each made to draw one after logs.configure,
# as ``python -m model_runtime`` configures logging before it imports them.
_NOISY_PROCESS = textwrap.dedent(
    """
    import logging, sys
    from model_runtime import logs
    logs.configure()
    import datasets, tqdm
    from huggingface_hub.utils import tqdm as hub_tqdm
    from model_runtime import generation
    generation.load_engine(sys.argv[1], adapters_dir=sys.argv[2], env={})
    datasets.Dataset.from_dict({"x": list(range(10))}).map(lambda row: row)
    for _ in hub_tqdm(range(3), desc="hub"):
        pass
    for _ in tqdm.tqdm(range(3), desc="plain"):
        pass
    logs.fatal(logging.getLogger("model_runtime.test"), "gave_up", fix="set X")
    """
)


def test_stderr_holds_only_json_lines_with_the_timestamp_key(
    phi3_dir: Path, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _NOISY_PROCESS, str(phi3_dir), str(tmp_path / "adapters")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    lines = [json.loads(line) for line in result.stderr.splitlines()]  # a bar would not parse
    assert [line["event"] for line in lines] == ["model_loaded", "gave_up"]
    for line in lines:
        assert list(line)[:4] == ["timestamp", "level", "logger", "event"]
        assert line["timestamp"].endswith("+00:00")
    assert lines[-1]["level"] == "error"
    assert lines[-1]["fix"] == "set X"


def _fatal(caplog: pytest.LogCaptureFixture, event: str) -> dict[str, Any]:
    [record] = [r for r in caplog.records if r.getMessage() == event]
    assert record.levelno == logging.ERROR
    fields: dict[str, Any] = getattr(record, "fields", {})
    assert fields["fix"]
    return fields


def test_a_bad_training_config_is_one_error_line_saying_what_to_fix(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = {"YAML_FILE_PATH": str(tmp_path / "absent.yaml"), "LOCAL_RANK": "1"}
    with caplog.at_level(logging.INFO, logger="model_runtime"):
        assert training.main(env) == 1
    fields = _fatal(caplog, "invalid_training_config")
    assert str(tmp_path / "absent.yaml") in fields["fix"]


def test_pushing_without_an_image_is_one_error_line_saying_what_to_fix(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="model_runtime"):
        assert pushing.main({}) == 1
    assert "IMAGE" in _fatal(caplog, "push_misconfigured")["fix"]


@pytest.mark.parametrize(
    ("env", "args"),
    [({}, ["only-a-file"]), ({"ATTEMPTS": "three"}, ["f.csv", "http://127.0.0.1:9/f.csv"])],
)
def test_misconfigured_downloads_are_one_error_line_saying_what_to_fix(
    caplog: pytest.LogCaptureFixture, env: dict[str, str], args: list[str]
) -> None:
    with caplog.at_level(logging.INFO, logger="model_runtime"):
        assert downloading.main(env, args) == 1
    _fatal(caplog, "download_misconfigured")


def test_training_starts_with_a_progress_event(caplog: pytest.LogCaptureFixture) -> None:
    reporter = progress.ProgressReporter(clock=lambda: 0.0)
    state = SimpleNamespace(is_world_process_zero=True, max_steps=12, num_train_epochs=3)
    with caplog.at_level(logging.INFO, logger="model_runtime"):
        reporter.on_train_begin(SimpleNamespace(logging_steps=1), state, None)
    [record] = [r for r in caplog.records if r.getMessage() == "training_started"]
    assert getattr(record, "fields", {}) == {"max_steps": 12, "epochs": 3, "logging_steps": 1}
