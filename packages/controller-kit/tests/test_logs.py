"""configure_logging: JSON lines with one timestamp key; the Azure SDK's chatter only at DEBUG."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import pytest
import structlog

from controller_kit import configure_logging

if TYPE_CHECKING:
    from collections.abc import Iterator

HTTP_POLICY = "azure.core.pipeline.policies.http_logging_policy"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    chatty = {name: logging.getLogger(name).level for name in (HTTP_POLICY, "azure.identity")}
    yield
    root.handlers[:], root.level = handlers, level
    for name, old in chatty.items():
        logging.getLogger(name).setLevel(old)
    structlog.reset_defaults()


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines()]


def test_azure_http_dumps_and_identity_chatter_are_hidden_below_debug(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(json=True, level="INFO")
    logging.getLogger(HTTP_POLICY).info("Request URL: 'https://management.azure.com/...'")
    logging.getLogger("azure.identity._credentials").info("token acquired")
    logging.getLogger(HTTP_POLICY).warning("throttled")
    logging.getLogger("gpu_provisioner").info("own line")
    events = [line["event"] for line in _lines(capsys)]
    assert events == ["throttled", "own line"]


def test_azure_http_dumps_are_shown_at_debug(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True, level="INFO")
    configure_logging(json=True, level="debug")
    logging.getLogger(HTTP_POLICY).info("Request URL: 'https://management.azure.com/...'")
    logging.getLogger("azure.identity._credentials").debug("token acquired")
    events = [line["event"] for line in _lines(capsys)]
    assert events == ["Request URL: 'https://management.azure.com/...'", "token acquired"]


def test_json_lines_carry_the_timestamp_key(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True, level="INFO")
    structlog.get_logger("test").info("hello", key="value")
    (line,) = _lines(capsys)
    assert line["event"] == "hello"
    assert "timestamp" in line
    assert line["level"] == "info"
