"""What a finished run announces: its output event, UPDATED with the asset function's output, or
FAILED with the error.

One event is made per run, so it is assembled from values already known to be valid (input
events, keys, the run's identity) and only what the asset function returned is checked. The
event's id derives from the run's identity and, unless the asset function names one, its version
from the inputs through the asset's ``RunNamer``: announcing the same run again makes the same ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pydantic import ValidationError

from choreo.events import AssetEvent, ErrorInfo, EventKind, ProducerInfo
from choreo.runtime.effects import StartRun
from choreo.runtime.executor import Failed, RunOutcome, Succeeded
from choreo.runtime.identity import RunNamer
from choreo.runtime.runs import UPDATED_EVENT, checked_output, event_time
from choreo.service import Service


class Announcer:
    """The output events of one service replica's runs."""

    __slots__ = ("_namers", "_producers")

    def __init__(self, service: Service, instance: str, namers: Mapping[str, RunNamer]) -> None:
        self._namers = namers
        self._producers = {
            key: ProducerInfo(service=service.name, instance=instance, code_version=d.code_version)
            for key, d in service.assets.items()
        }

    def output_event(self, run: StartRun, outcome: RunOutcome, now: datetime) -> AssetEvent:
        """The event a finished run announces: UPDATED with its output, or FAILED.

        Only what the asset function returned is validated; the rest was checked on its way in
        (input events, keys) or made here, so the event is assembled without validating again.
        """
        definition = run.definition
        planned = run.planned
        inputs = planned.input_versions()
        occurred_at = event_time(now)
        if isinstance(outcome, Succeeded):
            try:
                location, metadata, version = checked_output(outcome.output)
            except ValidationError as exc:
                outcome = Failed(
                    "InvalidOutput",
                    f"the output could not be announced: {exc.errors()[0]['msg']}",
                    outcome.attempts,
                    outcome.seconds,
                )
            else:
                partition = planned.output_partition
                return UPDATED_EVENT(
                    {
                        "event_id": run.identity.event_id(EventKind.UPDATED),
                        "kind": EventKind.UPDATED,
                        "asset": definition.key,
                        "partition": partition,
                        "version": version
                        or self._namers[definition.key].version(partition, inputs, location),
                        "occurred_at": occurred_at,
                        "producer": self._producers[definition.key],
                        "run_id": run.ctx.run_id,
                        "correlation_id": run.ctx.correlation_id,
                        "inputs": inputs,
                        "location": location,
                        "metadata": metadata,
                        "error": None,
                    }
                )
        return AssetEvent(
            event_id=run.identity.event_id(EventKind.FAILED),
            kind=EventKind.FAILED,
            asset=definition.key,
            partition=planned.output_partition,
            version=self._namers[definition.key].version(planned.output_partition, inputs, None),
            occurred_at=occurred_at,
            producer=self._producers[definition.key],
            run_id=run.ctx.run_id,
            correlation_id=run.ctx.correlation_id,
            inputs=inputs,
            error=ErrorInfo(
                type=outcome.error_type, message=outcome.message, attempt=outcome.attempts
            ),
        )
