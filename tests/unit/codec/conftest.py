"""Fixtures every codec test module shares: the repository's schemas and a codec over them."""

from __future__ import annotations

import pytest

from choreo.codec import AvroCodec, SchemaSet

from .test_schemas import REPO_SCHEMAS


@pytest.fixture(scope="module")
def schemas() -> SchemaSet:
    """The repository's schemas, parsed once for the module."""
    return SchemaSet.load(REPO_SCHEMAS)


@pytest.fixture(scope="module")
def codec(schemas: SchemaSet) -> AvroCodec:
    """A codec without a registry."""
    return AvroCodec(schemas)
