"""Test aids for choreo users: run asset functions and whole service graphs in memory.

A unit test should not need a broker to check that a function builds the right output, or that
an update of ``shop.orders`` rebuilds ``shop.daily_order_summary`` and not its failed neighbour.
``run_asset`` calls one function with a proper ``RunContext``; ``Choreography`` connects several
services on an in-memory bus driven by the same ``ServiceEngine`` the Kafka runtime uses, so
triggers, partition mapping, retries and failure propagation behave as they do in production.
"""

from choreo.testing._asset import InputValue, arun_asset, input_data, run_asset
from choreo.testing._choreography import BlockedRecord, Choreography, RunRecord

__all__ = [
    "BlockedRecord",
    "Choreography",
    "InputValue",
    "RunRecord",
    "arun_asset",
    "input_data",
    "run_asset",
]
