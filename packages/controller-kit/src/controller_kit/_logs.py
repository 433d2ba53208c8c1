"""One structlog configuration for both controllers: JSON in the cluster, console on a tty.

Records from the standard library (aiohttp, kubernetes-asyncio, azure) go through the same
processors, so every line carries the bound context (controller, namespace, name, reconcile_id).
The Azure SDK's HTTP request/response dumps and azure.identity's token chatter are kept at
WARNING unless the level is DEBUG: at INFO they would outnumber the controllers' own lines.
"""

from __future__ import annotations

import logging
import sys

import structlog

CHATTY_LOGGERS = ("azure.core.pipeline.policies.http_logging_policy", "azure.identity")
"""Libraries that log every HTTP exchange or token fetch at INFO; shown only at DEBUG."""


def configure_logging(*, json: bool | None = None, level: str = "INFO") -> None:
    """Configure structlog and stdlib logging; ``json=None`` picks JSON unless stderr is a tty."""
    use_json = (not sys.stderr.isatty()) if json is None else json
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    debug = root.level <= logging.DEBUG
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if debug else logging.WARNING)
