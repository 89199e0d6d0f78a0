"""Creating confluent-kafka clients the one way choreo does: librdkafka's logs and errors routed
to structlog, and a configuration librdkafka refuses (a misspelt pass-through option, say)
reported as choreo's ``ConfigError`` naming the problem instead of a traceback."""

from __future__ import annotations

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from choreo.errors import ConfigError
from choreo.kafka.client_log import librdkafka_logger, on_client_error


def _refused(exc: KafkaException) -> ConfigError:
    detail = exc.args[0].str() if exc.args and hasattr(exc.args[0], "str") else str(exc)
    return ConfigError(f"invalid Kafka client settings: {detail}")


def new_consumer(config: dict[str, str]) -> Consumer:
    """A consumer; raises ``ConfigError`` if librdkafka refuses ``config``."""
    try:
        return Consumer({**config, "error_cb": on_client_error}, logger=librdkafka_logger())
    except KafkaException as exc:
        raise _refused(exc) from exc


def new_producer(config: dict[str, str]) -> Producer:
    """A producer; raises ``ConfigError`` if librdkafka refuses ``config``."""
    try:
        return Producer({**config, "error_cb": on_client_error}, logger=librdkafka_logger())
    except KafkaException as exc:
        raise _refused(exc) from exc


def new_admin(config: dict[str, str]) -> AdminClient:
    """An admin client; raises ``ConfigError`` if librdkafka refuses ``config``."""
    try:
        return AdminClient(
            dict[str, str | int | float | bool](config),
            logger=librdkafka_logger(),
            error_cb=on_client_error,
        )
    except KafkaException as exc:
        raise _refused(exc) from exc
