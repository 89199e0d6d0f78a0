"""Acting on the engine's effects: runs started, slices marked, acknowledged runs recorded.

The engine only says what should happen; this is the one place that makes it happen against
Kafka, on the loop thread. Every path into the engine (a record, a wake-up, an assignment, an
acknowledgement) ends here, so the rule that ties offsets to durable state lives in one place:
a record is settled only once everything it caused is written.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from confluent_kafka import Producer

from choreo.kafka.changelog import ChangelogWriter
from choreo.kafka.intake import Take, no_tickets
from choreo.kafka.outputs import Announced, OutputAnnouncer
from choreo.kafka.telemetry import Telemetry
from choreo.kafka.writer import RecordWriter
from choreo.runtime.effects import Effects
from choreo.runtime.engine import ServiceEngine


class Dispatcher:
    """Turns one service's effects into runs, changelog writes and settled offsets."""

    def __init__(
        self,
        engine: ServiceEngine,
        *,
        outputs: OutputAnnouncer,
        changelog: ChangelogWriter,
        writer: RecordWriter,
        telemetry: Telemetry,
        producer: Callable[[], Producer],
    ) -> None:
        self._engine = engine
        self._outputs = outputs
        self._changelog = changelog
        self._writer = writer
        self._telemetry = telemetry
        self._producer = producer

    def apply(self, effects: Effects, take: Take = no_tickets) -> None:
        """Act on ``effects``; ``take`` holds the record behind them per piece of work.

        A changed slice that also starts a run is not written now: the run's acknowledgement
        writes it, and the run holds the record meanwhile, so each such input costs one write.
        """
        running = {run.slice for run in effects.runs} if effects.runs else ()
        for key in effects.dirty:
            if key not in running:
                self._changelog.mark(key, take())
        self._act(effects, take)

    def serve_producer(self) -> None:
        """Serve delivery reports (on the loop thread only) and finish acknowledged runs."""
        self._producer().poll(0)
        for announced in self._outputs.collect():
            self._finish(announced)

    def _act(self, effects: Effects, take: Take = no_tickets) -> None:
        """Start the effects' runs and report what is blocked (their slices are marked)."""
        for run in effects.runs:
            self._telemetry.run_started(run)
            self._outputs.submit(run, take())
        for asset, blocked in effects.blocked:
            self._telemetry.blocked(asset, blocked)

    def _finish(self, done: Announced) -> None:
        """Record an acknowledged run; writing its slice settles the inputs it held."""
        self._telemetry.run_finished(done.run, done.outcome, done.event)
        effects = self._engine.acknowledged(done.run, datetime.now(UTC))
        tickets = done.tickets
        for key in effects.dirty:  # the run's slice
            self._changelog.mark(key, tickets)
            tickets = []
        if tickets:
            self._writer.settle(tickets)  # revoked meanwhile: nothing of it is ours to write
        self._act(effects)
