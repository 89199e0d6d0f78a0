"""A service process's garbage collector settings."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from choreo.runtime.collection import SERVICE_THRESHOLDS, collect_for_service


@pytest.fixture
def restored() -> Iterator[None]:
    """The process's collector settings as they were, after the test."""
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored")
def test_a_service_collects_young_objects_less_often_than_the_default() -> None:
    """The young threshold is raised well above CPython's 700; the older ones stay."""
    collect_for_service()
    assert gc.get_threshold() == SERVICE_THRESHOLDS
    assert SERVICE_THRESHOLDS[0] >= 10 * 700
    assert SERVICE_THRESHOLDS[1:] == (10, 10)


@pytest.mark.usefixtures("restored")
def test_what_is_loaded_at_start_is_frozen_out_of_later_collections() -> None:
    """Objects alive at the call move to the permanent generation; later ones do not."""
    before: list[list[int]] = [[]]
    collect_for_service()
    after: list[list[int]] = [[]]
    tracked = gc.get_objects()  # every generation but the permanent one
    assert not any(o is before for o in tracked)
    assert any(o is after for o in tracked)
