"""One exception tree for choreo, so callers can catch ``ChoreoError`` and the CLI can map each
kind to its exit code without knowing which module raised it."""

from __future__ import annotations


class ChoreoError(Exception):
    """Root of every error choreo raises on purpose."""


class ConfigError(ChoreoError, ValueError):
    """Settings are missing or malformed (exit code 3)."""


class InvalidInputError(ChoreoError, ValueError):
    """A value given by the user (asset key, partition, metadata, …) is malformed (exit code 2)."""


class SchemaError(ChoreoError):
    """A schema file is missing, unparsable, or does not match the models."""


class CodecError(ChoreoError):
    """Bytes could not be decoded into a choreo record, or a record could not be encoded."""


class UnreachableError(ChoreoError):
    """A broker, schema registry or collector did not answer in time (exit code 4)."""


class BrokerError(ChoreoError):
    """The broker answered, but refused or failed the request."""


class BrokerUnavailableError(UnreachableError, BrokerError):
    """The Kafka broker could not be reached within the timeout."""


class RegistryError(UnreachableError):
    """The schema registry could not be reached or refused the request."""


class EmbeddedBrokerError(ChoreoError):
    """The embedded broker is not installed or could not be started."""


class UnknownAssetError(ChoreoError):
    """No service has declared the asset (exit code 1: a problem, not a usage error)."""


class UnknownEventError(ChoreoError, LookupError):
    """No stored event has the given id."""
