"""structlog configuration: JSON lines when not on a terminal (for log shippers), readable
console output on one. Called once by entry points; library code only does
``log = structlog.get_logger(__name__)`` and binds fields, never formats them into strings."""

from __future__ import annotations

import io
import logging
import sys
from typing import TextIO, cast

import structlog

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def configure_logging(
    level: str = "info", *, json: bool | None = None, stream: TextIO | None = None
) -> None:
    """Configure structlog for this process.

    Args:
        level: minimum level name (debug, info, warning, error).
        json: force JSON (True) or console (False) output; by default JSON unless ``stream``
            is a terminal.
        stream: where log lines go; stderr by default so stdout stays for results.
    """
    out = stream if stream is not None else cast(TextIO, _CurrentStderr())
    as_json = json if json is not None else not out.isatty()
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS.get(level.lower(), 20)),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )


class _CurrentStderr(io.TextIOBase):
    """Whatever ``sys.stderr`` is at the moment of writing (test runners and CLIs swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()
