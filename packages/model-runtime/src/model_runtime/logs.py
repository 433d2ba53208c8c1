"""JSON log lines on stderr: one object per line, ``event`` plus key-values.

Kubernetes keeps container output; JSON lines let the progress of a training run (step, loss,
tokens/s) be read by a program as easily as by a person.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import Any

__all__ = ["configure", "event"]


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC).isoformat(),
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
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    # Library warnings (deprecations between transformers, trl and peft) become JSON lines too.
    logging.captureWarnings(True)


def event(logger: logging.Logger, name: str, /, **fields: Any) -> None:
    """Log ``name`` at INFO with ``fields`` as top-level JSON keys."""
    logger.info(name, extra={"fields": fields})
