"""Stored events as OpenLineage ``RunEvent``s, so Marquez, DataHub or OpenMetadata can take
choreo's lineage.

One choreo event is one finished run of a job: the job is the producing service's work on one
asset (``<service>/<asset>``), the inputs are the exact input versions the event names, the output
is the asset. ``UPDATED`` becomes ``COMPLETE`` and ``FAILED`` becomes ``FAIL`` (with an
``errorMessage`` run facet); other kinds become ``OTHER``. Every dataset carries the standard
``version`` facet (``DatasetVersionDatasetFacet``), except the output of a failed run, which was
not written. Pure: the result is a JSON-ready ``dict``.
"""

from __future__ import annotations

import uuid
from typing import Any

from choreo.collector.graph import AssetRecord
from choreo.collector.views import EventView

SPEC = "https://openlineage.io/spec"
RUN_EVENT_SCHEMA = f"{SPEC}/2-0-2/OpenLineage.json#/$defs/RunEvent"
VERSION_FACET_SCHEMA = (
    f"{SPEC}/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet"
)
DOCUMENTATION_FACET_SCHEMA = (
    f"{SPEC}/facets/1-1-0/DocumentationDatasetFacet.json#/$defs/DocumentationDatasetFacet"
)
OWNERSHIP_FACET_SCHEMA = (
    f"{SPEC}/facets/1-0-1/OwnershipDatasetFacet.json#/$defs/OwnershipDatasetFacet"
)
STATISTICS_FACET_SCHEMA = (
    f"{SPEC}/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json"
    "#/$defs/OutputStatisticsOutputDatasetFacet"
)
ERROR_FACET_SCHEMA = f"{SPEC}/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
JOB_TYPE_FACET_SCHEMA = f"{SPEC}/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet"

DEFAULT_NAMESPACE = "choreo"
DEFAULT_PRODUCER = "urn:choreo:collector"
"""Who wrote the OpenLineage events (a URI, as the spec asks); deployments may name their own."""

#: Derives run ids for runs whose ``run_id`` is not a UUID; fixed so that exports repeat.
RUN_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:choreo:run")

EVENT_TYPES = {"UPDATED": "COMPLETE", "FAILED": "FAIL"}


def run_id(event: EventView) -> str:
    """The OpenLineage ``runId``: the event's ``run_id`` if it is a UUID, else derived from it.

    A ``run_id`` that is not a UUID maps to the same UUID every time (UUID v5 of the service and
    run id); an event without one is a run of its own, identified by its ``event_id``.
    """
    if event.run_id is None:
        return str(uuid.UUID(event.event_id))
    try:
        return str(uuid.UUID(event.run_id))
    except ValueError:
        return str(uuid.uuid5(RUN_ID_NAMESPACE, f"{event.producer_service}/{event.run_id}"))


def job_name(event: EventView) -> str:
    """The OpenLineage job: the producing service's work on one asset."""
    return f"{event.producer_service}/{event.asset}"


def iso_time(event: EventView) -> str:
    """``occurred_at`` as ISO 8601 UTC with milliseconds and ``Z``."""
    return event.occurred_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _facet(producer: str, schema: str, **fields: Any) -> dict[str, Any]:
    return {"_producer": producer, "_schemaURL": schema, **fields}


def _version(producer: str, version: str) -> dict[str, Any]:
    return _facet(producer, VERSION_FACET_SCHEMA, datasetVersion=version)


def _output(
    event: EventView, namespace: str, producer: str, record: AssetRecord | None
) -> dict[str, Any]:
    facets: dict[str, Any] = {}
    if event.kind != "FAILED":
        facets["version"] = _version(producer, event.version)
    if record is not None and record.description:
        facets["documentation"] = _facet(
            producer, DOCUMENTATION_FACET_SCHEMA, description=record.description
        )
    if record is not None and record.owner:
        facets["ownership"] = _facet(
            producer, OWNERSHIP_FACET_SCHEMA, owners=[{"name": record.owner}]
        )
    dataset: dict[str, Any] = {"namespace": namespace, "name": event.asset, "facets": facets}
    statistics = {
        name: value
        for name, key in (("rowCount", "rows"), ("size", "bytes"))
        if isinstance(value := event.metadata.get(key), int) and not isinstance(value, bool)
    }
    if statistics and event.kind != "FAILED":
        dataset["outputFacets"] = {
            "outputStatistics": _facet(producer, STATISTICS_FACET_SCHEMA, **statistics)
        }
    return dataset


def run_event(
    event: EventView,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    producer: str = DEFAULT_PRODUCER,
    output: AssetRecord | None = None,
) -> dict[str, Any]:
    """One stored event as an OpenLineage ``RunEvent``.

    Args:
        event: the event, with its inputs.
        namespace: the OpenLineage namespace of the job and of every dataset.
        producer: the URI naming who produced this OpenLineage event.
        output: what the collector knows about the event's asset (owner, description), if any.
    """
    run: dict[str, Any] = {"runId": run_id(event), "facets": {}}
    if event.error is not None:
        message = f"{event.error.get('type', 'Error')}: {event.error.get('message', '')}"
        run["facets"]["errorMessage"] = _facet(
            producer, ERROR_FACET_SCHEMA, message=message, programmingLanguage="python"
        )
    return {
        "eventType": EVENT_TYPES.get(event.kind, "OTHER"),
        "eventTime": iso_time(event),
        "producer": producer,
        "schemaURL": RUN_EVENT_SCHEMA,
        "run": run,
        "job": {
            "namespace": namespace,
            "name": job_name(event),
            "facets": {
                "jobType": _facet(
                    producer,
                    JOB_TYPE_FACET_SCHEMA,
                    processingType="BATCH",
                    integration="CHOREO",
                    jobType="ASSET",
                )
            },
        },
        "inputs": [
            {
                "namespace": namespace,
                "name": str(item["asset"]),
                "facets": {"version": _version(producer, str(item["version"]))},
            }
            for item in event.inputs
        ],
        "outputs": [_output(event, namespace, producer, output)],
    }
