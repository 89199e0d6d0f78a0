"""librdkafka's own log lines and error callbacks, routed to structlog at debug level.

Left alone, librdkafka prints connection retries to stderr many times a second while a broker is
down; choreo reports that once, as its own error, and keeps the detail for ``--log-level debug``.
"""

from __future__ import annotations

import logging

import structlog

log = structlog.get_logger(__name__)


class _ToStructlog(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        log.debug("librdkafka.log", message=record.getMessage())


def librdkafka_logger() -> logging.Logger:
    """A stdlib logger for confluent-kafka's ``logger=`` option that forwards to structlog."""
    logger = logging.getLogger("choreo.librdkafka")
    if not logger.handlers:
        logger.addHandler(_ToStructlog())
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
    return logger


def on_client_error(err: object) -> None:
    """``error_cb`` for every client: most errors are transient and retried by librdkafka."""
    log.debug("librdkafka.error", error=str(err))
