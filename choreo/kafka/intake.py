"""Consumed records into the engine's effects: decoded, checked against their topic, and held.

Each record of the group's partitions is tracked by offset: the work it causes (a changelog
write, a run, a dead letter) takes a ticket, and its offset is committed once every ticket is
settled. Records of the global inputs are read from the start by every replica and need none.
Input that cannot be decoded or validated goes to the dead-letter topic, and the service goes
on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from confluent_kafka import Message

from choreo.codec import AvroCodec
from choreo.errors import CodecError, InvalidInputError
from choreo.kafka.dead_letters import DeadLetters
from choreo.kafka.records import is_partition_eof, position
from choreo.kafka.telemetry import Telemetry
from choreo.runtime.effects import Effects
from choreo.runtime.engine import ServiceEngine
from choreo.runtime.offsets import OffsetTracker, Ticket

Take = Callable[[], list[Ticket]]
"""Holds the record behind some effects for one more piece of work."""


def no_tickets() -> list[Ticket]:
    """``Take`` for effects no record waits for (acknowledgements, wake-ups, assignments)."""
    return []


class Intake:
    """Hands one service's consumed records to its engine."""

    def __init__(
        self,
        engine: ServiceEngine,
        codec: AvroCodec,
        tracker: OffsetTracker,
        dead_letters: DeadLetters,
        telemetry: Telemetry,
        *,
        requests: Mapping[str, str],
        group_inputs: Mapping[str, str],
        global_inputs: Mapping[str, str],
    ) -> None:
        self._engine = engine
        self._codec = codec
        self._tracker = tracker
        self._dead_letters = dead_letters
        self._telemetry = telemetry
        self._requests = requests
        self._group_inputs = group_inputs
        self._global_inputs = global_inputs

    def take_in(self, message: Message, *, from_group: bool) -> tuple[Effects, Take] | None:
        """The effects of one record and how to hold it for them; ``None`` if it has none
        (an end-of-partition notice, or a record dead-lettered)."""
        error = message.error()
        if error is not None:
            if not is_partition_eof(message):
                self._telemetry.log.warning("consumer.error", error=error.str())
            return None
        topic, partition, offset = position(message)
        self._telemetry.consumed(topic)
        take = no_tickets
        if from_group:
            where = (topic, partition)
            tracker = self._tracker
            tracker.read(where, offset)

            def take() -> list[Ticket]:
                return [tracker.take(where, offset)]

        try:
            effects = self._effects_of(message, topic, partition if from_group else None)
        except (CodecError, InvalidInputError) as exc:
            self._dead_letters.send(message, exc, take())
            return None
        return effects, take

    def _effects_of(self, message: Message, topic: str, index: int | None) -> Effects:
        """Decode and check one record, and hand it to the engine.

        Raises:
            CodecError: the value is not a choreo record of the topic's kind.
            InvalidInputError: the record does not belong on its topic.
        """
        now = datetime.now(UTC)
        owned = self._requests.get(topic)
        if owned is not None and index is not None:
            request = self._codec.decode_request(message.value() or b"")
            if request.asset != owned:
                raise InvalidInputError(
                    f"request for {request.asset} on {topic}, the topic of {owned}"
                )
            return self._engine.on_request(request, index, now)
        event = self._codec.decode_event(message.value() or b"")
        expected = (self._group_inputs if index is not None else self._global_inputs).get(topic)
        if event.asset != expected:
            raise InvalidInputError(
                f"event for asset {event.asset} on {topic}, the topic of {expected}"
            )
        return self._engine.on_event(event, index, now)
