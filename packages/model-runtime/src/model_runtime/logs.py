"""JSON log lines on stderr: one object per line, ``event`` plus key-values.

Kubernetes keeps container output; JSON lines let the progress of a training run (step, loss,
tokens/s) be read by a program as easily as by a person. The keys match the controllers' logs:
``timestamp`` (ISO 8601, UTC), ``level``, ``logger``, ``event``. Progress bars (tqdm, drawn by
huggingface_hub, transformers and datasets) are turned off, since they would break the lines;
progress is logged as events instead. A fatal error is one ``error`` line with a ``fix`` key.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import sys
from typing import Any

__all__ = ["configure", "disable_progress_bars", "event", "fatal"]

PROGRESS_BAR_SWITCHES = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TQDM_DISABLE": "1",
}
"""Environment switches the libraries read at import (tqdm itself for any other caller)."""


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.datetime.fromtimestamp(
                record.created, tz=datetime.UTC
            ).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(*, debug: bool = False) -> None:
    """Route every logger through the JSON formatter at INFO (DEBUG with ``DEBUG_MODE``)."""
    disable_progress_bars()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    # Library warnings (deprecations between transformers, trl and peft) become JSON lines too.
    logging.captureWarnings(True)


def disable_progress_bars() -> None:
    """No tqdm bars in this process or its children (a multi-GPU run relaunches itself).

    The environment switches cover libraries not yet imported; those already imported read
    theirs at import, so they are turned off directly.
    """
    os.environ.update(PROGRESS_BAR_SWITCHES)
    if "huggingface_hub" in sys.modules:
        import huggingface_hub.utils  # noqa: PLC0415

        huggingface_hub.utils.disable_progress_bars()  # type: ignore[attr-defined]
    if "transformers" in sys.modules:
        import transformers  # noqa: PLC0415

        transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    if "datasets" in sys.modules:
        import datasets  # noqa: PLC0415

        datasets.disable_progress_bars()


def event(logger: logging.Logger, name: str, /, **fields: Any) -> None:
    """Log ``name`` at INFO with ``fields`` as top-level JSON keys."""
    logger.info(name, extra={"fields": fields})


def fatal(logger: logging.Logger, name: str, /, *, fix: str, **fields: Any) -> None:
    """Log ``name`` at ERROR, before the program exits, with ``fix``: what to change."""
    logger.error(name, extra={"fields": {**fields, "fix": fix}})
