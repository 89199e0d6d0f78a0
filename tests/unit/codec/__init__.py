"""Tests of the wire format: Avro framing, schemas and CloudEvents headers."""
