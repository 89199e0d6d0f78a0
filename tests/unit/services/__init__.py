"""Tests of the example services in ``services/``: their data functions and assets on files."""
