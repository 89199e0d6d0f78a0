"""The pure layer of the service runtime: state, partition mapping, triggers and identities.

A service decides when to rebuild its asset from what it has seen of its inputs; everything that
decision needs lives here, free of Kafka and clocks, so it is tested on its own and shared by the
Kafka runtime and the in-memory test harness.
"""

from choreo.runtime.cron import CronSchedule, next_fire, parse_cron
from choreo.runtime.durations import format_duration, parse_duration
from choreo.runtime.identity import RunIdentity, derive_version, output_event_id, run_id_for
from choreo.runtime.observations import Observation
from choreo.runtime.partitions import (
    InputSpec,
    affected_partitions,
    inputs_for,
    known_output_partitions,
    partitioned_inputs,
)
from choreo.runtime.state import AssetState, OutputPartition, PartitionState
from choreo.runtime.triggers import (
    AllUpdated,
    AssetSpec,
    Blocked,
    Candidate,
    Cron,
    Debounce,
    Decision,
    Eager,
    Inputs,
    PlannedRun,
    Predicate,
    TriggerPolicy,
    Verdict,
    absorb,
    absorb_affected,
    decide,
    parse_trigger,
    plan_requested,
)

__all__ = [
    "AllUpdated",
    "AssetSpec",
    "AssetState",
    "Blocked",
    "Candidate",
    "Cron",
    "CronSchedule",
    "Debounce",
    "Decision",
    "Eager",
    "InputSpec",
    "Inputs",
    "Observation",
    "OutputPartition",
    "PartitionState",
    "PlannedRun",
    "Predicate",
    "RunIdentity",
    "TriggerPolicy",
    "Verdict",
    "absorb",
    "absorb_affected",
    "affected_partitions",
    "decide",
    "derive_version",
    "format_duration",
    "inputs_for",
    "known_output_partitions",
    "next_fire",
    "output_event_id",
    "parse_cron",
    "parse_duration",
    "parse_trigger",
    "partitioned_inputs",
    "plan_requested",
    "run_id_for",
]
