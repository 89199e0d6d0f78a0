"""Unit tests: no network, no broker; they run in seconds."""
