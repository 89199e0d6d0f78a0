"""What a run is handed and what it hands back: its logger, and the parts of its output event.

``ServiceEngine`` plans runs and announces their outcomes for every input event, so these pieces
are built for that rate: the logger binds only when a run logs, the asset function's output is
checked through the event model only when a value is not already of a type the event keeps, and
the event itself is assembled from values known to be valid.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from choreo.events import AssetEvent
from choreo.events.models import LONG_MAX, LONG_MIN, Metadata, MetadataValue
from choreo.runtime.assembly import Assembler
from choreo.runtime.moments import aware_utc
from choreo.service import Output

UPDATED_EVENT = Assembler(AssetEvent)
"""Builds a run's UPDATED event: ``AssetEvent.model_construct`` at a fraction of its cost."""


class UserOutput(BaseModel):
    """The fields of an output event that the asset function chose, typed as ``AssetEvent``
    types them: the only part of a run's event that still needs checking."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    location: str | None
    metadata: Metadata
    version: str | None


class RunLog:
    """``service.log`` bound to one run's fields on first use: most runs never log, and binding
    a structlog logger costs more than the rest of planning a run."""

    __slots__ = ("_asset", "_base", "_bound", "_partition", "_run_id")

    def __init__(self, base: Any, asset: str, partition: str | None, run_id: str) -> None:
        self._base = base
        self._asset = asset
        self._partition = partition
        self._run_id = run_id
        self._bound: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._bound is None:
            self._bound = self._base.bind(
                asset=self._asset, partition=self._partition, run_id=self._run_id
            )
        return getattr(self._bound, name)


def checked_output(output: Output) -> tuple[str | None, dict[str, MetadataValue], str | None]:
    """The asset function's part of the event (location, metadata, version), validated as
    ``AssetEvent`` would.

    Values of exactly the types the event holds pass validation unchanged, so they are only
    looked at; anything else (subclasses, other types, longs out of range) goes through the
    model, which converts or rejects it as the event would.

    Raises:
        ValidationError: a value does not fit the event (e.g. metadata beyond a 64-bit long).
    """
    location, metadata, version = output.location, dict(output.metadata), output.version
    if (location is None or location.__class__ is str) and (
        version is None or version.__class__ is str
    ):
        for key, value in metadata.items():
            if key.__class__ is not str:
                break
            kind = value.__class__
            if kind in _PLAIN_METADATA:
                continue
            if kind is not int or not isinstance(value, int) or not LONG_MIN <= value <= LONG_MAX:
                break
        else:
            return location, metadata, version
    checked = UserOutput(location=location, metadata=metadata, version=version)
    return checked.location, checked.metadata, checked.version


_PLAIN_METADATA = frozenset({str, float, bool, type(None)})
"""Metadata value types that validation keeps as they are (``int`` also needs its range)."""


def event_time(moment: datetime) -> datetime:
    """``moment`` in UTC at the millisecond precision events keep (as ``AssetEvent`` does)."""
    moment = aware_utc(moment, "now")
    extra = moment.microsecond % 1000
    if moment.__class__ is datetime and not moment.fold:
        # What ``replace`` makes, by subtracting the sub-millisecond part: a fraction of its
        # cost, since it takes no keyword and the amounts are made once (``_SUB_MILLISECOND``).
        return moment - _SUB_MILLISECOND[extra] if extra else moment
    return moment.replace(microsecond=moment.microsecond - extra)


_SUB_MILLISECOND = [timedelta(microseconds=amount) for amount in range(1000)]
