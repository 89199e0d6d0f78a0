"""Deterministic names for a run and its output, so a rerun is recognisably the same run.

Delivery is "effectively once": offsets are committed only after the output event is
acknowledged, so a crash between the two makes the service run the same inputs again. Because
the output's ``event_id`` is a function of what the run was (asset, partition, the input events
it consumed, the code version, the request that forced it), the rerun announces the same id and
every consumer drops the duplicate. The same reasoning gives a stable ``run_id`` and, when the
asset function does not name a data version, a derived one.

The canonical forms below are part of the wire contract: changing them changes every id a
deployed service would produce, so a golden test pins them.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Protocol

from choreo.events.models import EventKind

OUTPUT_EVENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:choreo:output-event")
RUN_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:choreo:run")

DERIVED_VERSION_LENGTH = 16
"""Hex digits kept from the SHA-256: 64 bits, ample to tell one asset's versions apart."""


class Versioned(Protocol):
    """Anything that names one input version: ``InputVersion`` and ``Observation`` both do."""

    @property
    def asset(self) -> str: ...

    @property
    def partition(self) -> str | None: ...

    @property
    def version(self) -> str: ...


def output_event_id(
    asset: str,
    partition: str | None,
    input_event_ids: Iterable[uuid.UUID],
    code_version: str | None,
    request_id: str | None,
    *,
    kind: EventKind = EventKind.UPDATED,
) -> uuid.UUID:
    """The ``event_id`` of the event a run announces; the same run always gets the same id.

    Args:
        asset: the output asset key.
        partition: the output partition, or ``None`` when unpartitioned.
        input_event_ids: event ids of the inputs consumed; order and repeats do not matter.
        code_version: the producer's code version, so new code makes a new event.
        request_id: the materialise/backfill request that forced the run, if any.
        kind: ``FAILED`` and ``UPDATED`` outcomes of the same run get different ids, so a
            success after a failure is not dropped as the failure's duplicate.
    """
    fields = _run_fields(asset, partition, input_event_ids, code_version, request_id)
    return uuid.uuid5(OUTPUT_EVENT_NAMESPACE, _canonical({**fields, "kind": kind.value}))


def run_id_for(
    asset: str,
    partition: str | None,
    input_event_ids: Iterable[uuid.UUID],
    code_version: str | None,
    request_id: str | None,
) -> str:
    """The ``run_id`` of a run: stable across reruns and attempts, whatever their outcome."""
    fields = _run_fields(asset, partition, input_event_ids, code_version, request_id)
    return str(uuid.uuid5(RUN_NAMESPACE, _canonical(fields)))


def derive_version(
    asset: str,
    partition: str | None,
    inputs: Iterable[Versioned],
    code_version: str | None,
    location: str | None,
) -> str:
    """A data version for an output whose function did not name one.

    It hashes what the data was built from (the input versions, not their event ids), the code
    and where it was written, so rebuilding the same inputs with the same code yields the same
    version. An asset without inputs therefore gets one version per code version and location:
    a source whose content changes on its own should name its versions.
    """
    versions = sorted(
        {
            (item.asset, item.partition or "", item.partition is None, item.version)
            for item in inputs
        }
    )
    payload = {
        "asset": asset,
        "partition": partition,
        "inputs": [list(item) for item in versions],
        "code_version": code_version,
        "location": location,
    }
    digest = hashlib.sha256(_canonical(payload).encode()).hexdigest()
    return digest[:DERIVED_VERSION_LENGTH]


def _run_fields(
    asset: str,
    partition: str | None,
    input_event_ids: Iterable[uuid.UUID],
    code_version: str | None,
    request_id: str | None,
) -> dict[str, object]:
    return {
        "asset": asset,
        "partition": partition,
        "inputs": sorted({str(event_id) for event_id in input_event_ids}),
        "code_version": code_version,
        "request_id": request_id,
    }


def _canonical(fields: Mapping[str, object]) -> str:
    """One spelling per value: sorted keys, no spaces, JSON escapes (so no separator clashes)."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
