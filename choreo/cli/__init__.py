"""Entry points: read settings once, build objects, map errors to exit codes. No business logic."""
