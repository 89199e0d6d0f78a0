"""Pure event model: keys, records and their validation. No I/O."""

from choreo.events.keys import AssetKey, PartitionKey, validate_asset_key, validate_partition_key
from choreo.events.models import (
    AssetDeclared,
    AssetEvent,
    AssetRequest,
    ErrorInfo,
    EventKind,
    InputVersion,
    MetadataValue,
    ProducerInfo,
)

__all__ = [
    "AssetDeclared",
    "AssetEvent",
    "AssetKey",
    "AssetRequest",
    "ErrorInfo",
    "EventKind",
    "InputVersion",
    "MetadataValue",
    "PartitionKey",
    "ProducerInfo",
    "validate_asset_key",
    "validate_partition_key",
]
