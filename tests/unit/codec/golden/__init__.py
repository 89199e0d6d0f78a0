"""Real bytes of fixed records, pinned so that any change to the wire format is deliberate."""
