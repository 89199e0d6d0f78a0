"""The collector's SQL schema (SQLAlchemy Core), shared by the writer (ingest) and the readers.

Times are stored as integer milliseconds since the epoch (UTC), the precision of the wire, so
SQLite and PostgreSQL compare and index them the same way. An unpartitioned asset's partition is
stored as the empty string, so it can take part in primary keys.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

NO_PARTITION = ""
"""Stored in place of ``None`` for unpartitioned assets."""

metadata = MetaData()

assets = Table(
    "choreo_assets",
    metadata,
    Column("asset", String(200), primary_key=True),
    # From the latest AssetDeclared; all null for assets only ever seen in events.
    Column("service", String(200)),
    Column("owner", String(200)),
    Column("description", Text),
    Column("partitioned", Boolean),
    Column("trigger", String(500)),
    Column("freshness_ms", BigInteger),
    Column("code_version", String(200)),
    Column("declared_at_ms", BigInteger),
    Column("first_seen_ms", BigInteger, nullable=False),
)

declared_edges = Table(
    "choreo_declared_edges",
    metadata,
    Column("downstream", String(200), primary_key=True),
    Column("upstream", String(200), primary_key=True),
    Index("choreo_declared_edges_upstream", "upstream"),
)

observed_edges = Table(
    "choreo_observed_edges",
    metadata,
    Column("downstream", String(200), primary_key=True),
    Column("upstream", String(200), primary_key=True),
    Column("first_seen_ms", BigInteger, nullable=False),
    Column("last_seen_ms", BigInteger, nullable=False),
    Column("events", BigInteger, nullable=False),
    Index("choreo_observed_edges_upstream", "upstream"),
)

events = Table(
    "choreo_events",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("asset", String(200), nullable=False),
    Column("partition", String(255), nullable=False),
    Column("version", String(500), nullable=False),
    Column("occurred_at_ms", BigInteger, nullable=False),
    Column("producer_service", String(200), nullable=False),
    Column("producer_instance", String(200), nullable=False),
    Column("code_version", String(200)),
    Column("run_id", String(200)),
    Column("correlation_id", String(36)),
    Column("location", Text),
    Column("metadata_json", Text, nullable=False),
    Column("error_type", String(500)),
    Column("error_message", Text),
    Column("error_attempt", Integer),
    Column("topic", String(249), nullable=False),
    Column("kafka_partition", Integer, nullable=False),
    Column("kafka_offset", BigInteger, nullable=False),
    Column("ingested_at_ms", BigInteger, nullable=False),
    Index("choreo_events_asset_time", "asset", "occurred_at_ms"),
    Index("choreo_events_asset_partition_time", "asset", "partition", "occurred_at_ms"),
    Index("choreo_events_correlation", "correlation_id"),
)

event_inputs = Table(
    "choreo_event_inputs",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("asset", String(200), nullable=False),
    Column("partition", String(255), nullable=False),
    Column("version", String(500), nullable=False),
    Column("input_event_id", String(36)),
    Index("choreo_event_inputs_input", "input_event_id"),
)

latest = Table(
    "choreo_latest",
    metadata,
    # The newest event (by occurred_at, then event_id) of each asset partition: what status
    # queries read without scanning history.
    Column("asset", String(200), primary_key=True),
    Column("partition", String(255), primary_key=True),
    Column("event_id", String(36), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("version", String(500), nullable=False),
    Column("occurred_at_ms", BigInteger, nullable=False),
    # The newest UPDATED event, which staleness compares against its inputs' newest versions.
    Column("updated_event_id", String(36)),
    Column("updated_at_ms", BigInteger),
)

offsets = Table(
    "choreo_offsets",
    metadata,
    # Written in the same transaction as the rows a batch produced: a crash never loses or
    # double-counts an event.
    Column("consumer_group", String(249), primary_key=True),
    Column("topic", String(249), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)

rejected = Table(
    "choreo_rejected",
    metadata,
    # Records the collector could not read (undecodable, or not what their topic carries): kept
    # with the reason, so nothing is dropped silently. Written in the batch's transaction, like
    # the offsets that move past them; keyed by position, so reading one twice stores it once.
    Column("topic", String(249), primary_key=True),
    Column("kafka_partition", Integer, primary_key=True),
    Column("kafka_offset", BigInteger, primary_key=True),
    Column("reason", Text, nullable=False),
    Column("key", LargeBinary),
    # The value as read, cut to its first REJECTED_VALUE_MAX bytes; value_size is the whole.
    Column("value", LargeBinary),
    Column("value_size", Integer, nullable=False),
    Column("rejected_at_ms", BigInteger, nullable=False),
)

REJECTED_VALUE_MAX = 65_536
"""How many bytes of a rejected value are kept: enough to inspect, bounded against floods."""
