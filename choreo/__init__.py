"""choreo: choreograph data products over Kafka, one small service per asset.

This module only re-exports the public API.
"""

from choreo.errors import (
    BrokerError,
    BrokerUnavailableError,
    ChoreoError,
    CodecError,
    ConfigError,
    InvalidInputError,
    RegistryError,
    SchemaError,
    UnreachableError,
)
from choreo.events import (
    AssetDeclared,
    AssetEvent,
    AssetRequest,
    ErrorInfo,
    EventKind,
    InputVersion,
    ProducerInfo,
)
from choreo.kafka.emitter import Emitter
from choreo.service import AssetIn, InputData, Output, RunContext, Service
from choreo.settings import Settings, load_settings

__all__ = [
    "AssetDeclared",
    "AssetEvent",
    "AssetIn",
    "AssetRequest",
    "BrokerError",
    "BrokerUnavailableError",
    "ChoreoError",
    "CodecError",
    "ConfigError",
    "Emitter",
    "ErrorInfo",
    "EventKind",
    "InputData",
    "InputVersion",
    "InvalidInputError",
    "Output",
    "ProducerInfo",
    "RegistryError",
    "RunContext",
    "SchemaError",
    "Service",
    "Settings",
    "UnreachableError",
    "load_settings",
]
