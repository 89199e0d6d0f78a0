"""The baseline's transformation: the same input → output step as a choreo service, written as a
plain fastavro decode → edit → encode of Avro single-object bytes, with no choreo code on the path.

The output has the shape a choreo service announces (new ``event_id``, the input named in
``inputs``, the cascade's ``correlation_id``, a ``run_id``, the input's location and metadata),
so both sides write events of about the same size.
"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from choreo.codec import SchemaSet

EVENT_FULLNAME = "choreo.AssetEvent"
#: Avro single-object encoding: ``C3 01`` and the 8-byte CRC-64-AVRO fingerprint of the schema.
MAGIC = b"\xc3\x01"
HEADER_SIZE = len(MAGIC) + 8


class PlainTransform:
    """Decode an input event, turn it into the output event of ``output_asset``, encode it."""

    def __init__(self, output_asset: str, service: str) -> None:
        schemas = SchemaSet.load()
        self._schema = schemas.current(EVENT_FULLNAME)
        self._header = MAGIC + schemas.fingerprint(EVENT_FULLNAME)
        self._asset = output_asset
        self._producer = {"service": service, "instance": "bench:plain", "code_version": "1"}

    def decode(self, value: bytes) -> dict[str, Any]:
        """The Avro datum of an input value (single-object framing, current schema)."""
        if value[:HEADER_SIZE] != self._header:
            raise ValueError("not an AssetEvent in single-object encoding")
        buffer = io.BytesIO(value)
        buffer.seek(HEADER_SIZE)
        datum = schemaless_reader(buffer, self._schema, None)
        if not isinstance(datum, dict):
            raise TypeError(f"an AssetEvent decodes to a record, not {type(datum).__name__}")
        return datum

    def output(self, datum: dict[str, Any]) -> tuple[bytes, bytes]:
        """``(key, value)`` of the output event built from one input datum."""
        event_id = datum["event_id"]
        out = {
            **datum,
            "event_id": uuid.uuid4(),
            "asset": self._asset,
            "occurred_at": datetime.now(UTC),
            "producer": self._producer,
            "run_id": str(uuid.uuid4()),
            "correlation_id": datum["correlation_id"] or event_id,
            "inputs": [
                {
                    "asset": datum["asset"],
                    "partition": datum["partition"],
                    "version": datum["version"],
                    "event_id": event_id,
                }
            ],
        }
        buffer = io.BytesIO()
        buffer.write(self._header)
        schemaless_writer(buffer, self._schema, out)
        key = datum["partition"] if datum["partition"] is not None else self._asset
        return key.encode(), buffer.getvalue()

    def __call__(self, value: bytes) -> tuple[bytes, bytes]:
        """Decode ``value`` and return the output's ``(key, value)``."""
        return self.output(self.decode(value))
