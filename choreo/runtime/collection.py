"""The garbage collector's settings in a process that runs a service.

A service makes a few dozen container objects per event and keeps some of them (its trigger
state). Under CPython's default thresholds (700, 10, 10) the collector runs a young collection
every few dozen events, and those promote the kept objects fast enough to set off a full
collection, which walks the whole trigger state, every few thousand events: 12-15 us of
collection per event in ``bench/throughput.py``, a tenth of the service's CPU. With a young
threshold of 10,000 the same events cost 1.6-3.3 us (Python 3.13 raised its own default to
2,000 for the same reason). Collections come less often and each young one looks at more
objects, which a service that counts its time per event takes better than a steady tax.

``choreo run`` applies this; a ``ServiceRunner`` embedded in another program leaves that
program's settings alone.
"""

from __future__ import annotations

import gc

SERVICE_THRESHOLDS = (10_000, 10, 10)
"""``gc.set_threshold`` arguments for a service process."""


def collect_for_service() -> None:
    """Collect once, freeze what is loaded by now (modules, the service's own code: never
    garbage) out of every later collection's sight, and set ``SERVICE_THRESHOLDS``."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVICE_THRESHOLDS)
