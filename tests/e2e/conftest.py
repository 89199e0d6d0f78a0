"""End-to-end tests start whole processes (broker, services); mark them so they can be skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests of this directory ``e2e``."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.e2e)
