"""Pure wire format: Avro records, their framing, and CloudEvents headers. No I/O."""

from choreo.codec.avro import AvroCodec
from choreo.codec.cloudevents import CloudEventHeaders, headers_for, read_headers
from choreo.codec.schemas import SchemaSet

__all__ = ["AvroCodec", "CloudEventHeaders", "SchemaSet", "headers_for", "read_headers"]
