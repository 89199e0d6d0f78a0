"""Rewrite the golden ``.bin`` files from the fixed records below.

Run this ONLY for an intended change of the wire format (a schema edit), and say so in the commit:
the golden files exist to make every other change to the bytes fail a test. From the repository
root::

    PYTHONPATH=. python tests/unit/codec/golden/regenerate.py

The test module builds its expectations from ``GOLDEN`` too, and checks the bytes against them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from choreo.codec.avro import AvroCodec
from choreo.events.models import (
    AssetDeclared,
    AssetEvent,
    ErrorInfo,
    EventKind,
    InputVersion,
    ProducerInfo,
)

DIRECTORY = Path(__file__).resolve().parent

_PRODUCER = ProducerInfo(service="sales-summary", instance="sales-summary-0", code_version="1.4.2")

UPDATED_EVENT = AssetEvent(
    event_id=uuid.UUID("6f1c2a7e-8d3b-5a4c-9e0f-1b2c3d4e5f60"),
    kind=EventKind.UPDATED,
    asset="shop.daily_order_summary",
    partition="2026-11-20",
    version="v-3f9a",
    occurred_at=datetime(2026, 11, 20, 23, 5, 7, 123000, tzinfo=UTC),
    producer=_PRODUCER,
    run_id="run-42",
    correlation_id=uuid.UUID("0b6e7c1d-2f3a-4b5c-8d9e-0f1a2b3c4d5e"),
    inputs=(
        InputVersion(
            asset="shop.orders",
            partition="2026-11-20",
            version="o-17",
            event_id=uuid.UUID("1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d"),
        ),
        InputVersion(asset="shop.customers", version="c-9"),
    ),
    location="warehouse://summary/2026-11-20",
    metadata={
        "rows": 1200,
        "bytes": 2**40,
        "ratio": 1.0,
        "complete": True,
        "schema": "order_id:int,total:double",
        "note": None,
    },
)

FAILED_EVENT = AssetEvent(
    event_id=uuid.UUID("9d8c7b6a-5f4e-4d3c-8b2a-190817263544"),
    kind=EventKind.FAILED,
    asset="shop.predicted_orders",
    version="v-3f9a",
    occurred_at=datetime(2026, 11, 21, 0, 0, 0, 1000, tzinfo=UTC),
    producer=ProducerInfo(service="forecast", instance="forecast-1"),
    error=ErrorInfo(type="ValueError", message="no orders for 2026-11-20 — café closed", attempt=3),
)

DECLARATION = AssetDeclared(
    asset="shop.daily_order_summary",
    service="sales-summary",
    inputs=("shop.orders", "shop.customers"),
    trigger="eager",
    partitioned=True,
    freshness_ms=26 * 3600 * 1000,
    owner="data-team@example.com",
    description="Orders per day, with totals.",
    code_version="1.4.2",
    declared_at=datetime(2026, 11, 20, 8, 0, tzinfo=UTC),
    producer=_PRODUCER,
    metadata={"tier": "gold", "pii": False},
)

GOLDEN: dict[str, AssetEvent | AssetDeclared] = {
    "asset_event_updated.bin": UPDATED_EVENT,
    "asset_event_failed.bin": FAILED_EVENT,
    "asset_declared.bin": DECLARATION,
}


def main() -> None:
    """Write each golden record's single-object encoding next to this script."""
    codec = AvroCodec()
    for name, record in GOLDEN.items():
        (DIRECTORY / name).write_bytes(codec.encode(record))


if __name__ == "__main__":
    main()
