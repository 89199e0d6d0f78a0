"""cProfile over every thread, for ``throughput.py --profile``.

``cProfile`` only sees the thread that enabled it, and a service runner works on several (the
poll loop, the run workers). Each thread started inside ``profiled()`` enables a profiler of its
own on its first event; on exit all of them are merged into one ``pstats`` file.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

#: Functions listed in the printed summary.
SHOWN = 25


@contextmanager
def profiled(path: str) -> Iterator[None]:
    """Profile this thread and every thread started in the block; write the stats to ``path``."""
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()

    def start(_frame: FrameType, _event: str, _arg: Any) -> None:
        profile = cProfile.Profile()
        with lock:
            profiles.append(profile)
        profile.enable()  # replaces this hook for the calling thread

    here = cProfile.Profile()
    threading.setprofile(start)
    here.enable()
    try:
        yield
    finally:
        here.disable()
        threading.setprofile(None)
        stats = pstats.Stats(here)
        with lock:
            for profile in profiles:
                profile.disable()
                stats.add(profile)
        stats.dump_stats(path)


def summary(path: str, *, sort: str = "tottime") -> str:
    """The ``SHOWN`` functions of the stats in ``path`` with the most time, as pstats prints."""
    out = io.StringIO()
    pstats.Stats(path, stream=out).strip_dirs().sort_stats(sort).print_stats(SHOWN)
    return out.getvalue()
