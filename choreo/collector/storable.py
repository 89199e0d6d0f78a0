"""Which records fit the collector's columns.

PostgreSQL refuses a text longer than its column, or one holding a NUL character, and fails the
whole transaction; SQLite would keep both. Checking before the batch meets the database lets a
record that does not fit be rejected on its own, and keeps the two stores holding the same
records.
"""

from __future__ import annotations

from sqlalchemy import Table

from choreo.collector.tables import assets, event_inputs, events
from choreo.events import AssetDeclared, AssetEvent


def _limit(column: str, table: Table = events) -> int:
    length = getattr(table.c[column].type, "length", None)
    if not isinstance(length, int):
        raise TypeError(f"{table.name}.{column} has no length")
    return length


# The longest texts the bounded columns take (PostgreSQL refuses longer ones; SQLite would keep
# them): a record with a longer one is rejected rather than failing its whole batch for ever.
# Asset and partition keys are validated shorter than their columns already.
_VERSION_MAX = _limit("version")
_NAME_MAX = _limit("producer_service")
_ERROR_TYPE_MAX = _limit("error_type")
_TRIGGER_MAX = _limit("trigger", assets)
if {_limit(c) for c in ("producer_instance", "code_version", "run_id")} | {
    _limit(c, assets) for c in ("service", "owner", "code_version")
} != {_NAME_MAX} or _limit("version", event_inputs) != _VERSION_MAX:
    raise TypeError("collector column lengths changed: update unstorable()")


def unstorable(record: AssetEvent | AssetDeclared) -> str | None:
    """Why ``record`` cannot be stored as it is, or ``None`` when it can: a text longer than
    its column, or one holding a NUL character (PostgreSQL refuses both; SQLite would keep them,
    and the two stores keep the same records)."""
    texts: list[tuple[str, str | None, int | None]]
    if isinstance(record, AssetEvent):
        producer, error = record.producer, record.error
        texts = [
            ("version", record.version, _VERSION_MAX),
            ("producer.service", producer.service, _NAME_MAX),
            ("producer.instance", producer.instance, _NAME_MAX),
            ("producer.code_version", producer.code_version, _NAME_MAX),
            ("run_id", record.run_id, _NAME_MAX),
            ("location", record.location, None),
            ("error.type", None if error is None else error.type, _ERROR_TYPE_MAX),
            ("error.message", None if error is None else error.message, None),
        ]
        texts.extend(
            (f"inputs[{i}].version", v.version, _VERSION_MAX) for i, v in enumerate(record.inputs)
        )
    else:
        texts = [
            ("service", record.service, _NAME_MAX),
            ("owner", record.owner, _NAME_MAX),
            ("description", record.description, None),
            ("code_version", record.code_version, _NAME_MAX),
            ("trigger", record.trigger, _TRIGGER_MAX),
        ]
    for name, value, limit in texts:
        if value is None:
            continue
        if limit is not None and len(value) > limit:
            return f"{name} is {len(value)} characters; the collector stores at most {limit}"
        if "\x00" in value:
            return f"{name} holds a NUL character, which the collector cannot store"
    return None
