"""Pure wire format: Avro records, their framing, and CloudEvents headers. No I/O."""
