"""Stored events as OpenLineage RunEvents: required fields, run ids, facets, and agreement with
the reference client's own models."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from choreo.collector.graph import AssetRecord
from choreo.collector.openlineage import (
    DEFAULT_PRODUCER,
    RUN_EVENT_SCHEMA,
    RUN_ID_NAMESPACE,
    run_event,
    run_id,
)
from choreo.collector.views import EventView

AT = datetime(2026, 11, 20, 6, 1, 2, 345_000, tzinfo=UTC)
ORDERS_EVENT = "7f3c9a52-6a34-4c3e-9a55-2f1a6a0f5d10"


def event(**changes: Any) -> EventView:
    fields: dict[str, Any] = {
        "event_id": "0b7e6f3e-2f6c-4a8e-9d1c-3c6f1f3b9a01",
        "kind": "UPDATED",
        "asset": "shop.daily_order_summary",
        "partition": "2026-11-20",
        "version": "s1",
        "occurred_at": AT,
        "producer_service": "sales-summary",
        "producer_instance": "sales-summary-0",
        "code_version": "3",
        "run_id": None,
        "correlation_id": None,
        "location": "warehouse://summary/2026-11-20",
        "metadata": {"rows": 1200, "bytes": 65_536, "ok": True},
        "error": None,
        "inputs": [
            {
                "asset": "shop.orders",
                "partition": "2026-11-20",
                "version": "o7",
                "event_id": ORDERS_EVENT,
            },
            {"asset": "shop.customers", "partition": None, "version": "c2", "event_id": None},
        ],
    }
    fields.update(changes)
    return EventView(**fields)


RECORD = AssetRecord(
    "shop.daily_order_summary",
    service="sales-summary",
    owner="team:sales",
    description="Orders per day",
)


def _facets_are_well_formed(facets: dict[str, Any]) -> None:
    for facet in facets.values():
        assert facet["_producer"] == DEFAULT_PRODUCER
        assert facet["_schemaURL"].startswith("https://openlineage.io/spec/")


def test_updated_event_is_a_complete_run_with_every_required_field() -> None:
    """RunEvent requires eventTime, producer, schemaURL, run.runId, job namespace and name;
    datasets require namespace and name, and carry the version facet."""
    body = run_event(event(), output=RECORD)
    assert body["eventType"] == "COMPLETE"
    assert body["eventTime"] == "2026-11-20T06:01:02.345Z"
    assert body["producer"] == DEFAULT_PRODUCER
    assert body["schemaURL"] == RUN_EVENT_SCHEMA
    assert uuid.UUID(body["run"]["runId"])
    assert body["job"] == {
        "namespace": "choreo",
        "name": "sales-summary/shop.daily_order_summary",
        "facets": body["job"]["facets"],
    }
    _facets_are_well_formed(body["job"]["facets"])
    assert [
        (d["namespace"], d["name"], d["facets"]["version"]["datasetVersion"])
        for d in body["inputs"]
    ] == [
        ("choreo", "shop.orders", "o7"),
        ("choreo", "shop.customers", "c2"),
    ]
    [output] = body["outputs"]
    assert output["name"] == "shop.daily_order_summary"
    assert output["facets"]["version"]["datasetVersion"] == "s1"
    assert output["facets"]["documentation"]["description"] == "Orders per day"
    assert output["facets"]["ownership"]["owners"] == [{"name": "team:sales"}]
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 1200
    assert output["outputFacets"]["outputStatistics"]["size"] == 65_536
    for dataset in [*body["inputs"], output]:
        _facets_are_well_formed(dataset["facets"])


def test_failed_event_is_a_failed_run_with_the_error() -> None:
    """FAILED becomes FAIL with an errorMessage run facet; the unwritten output has no version."""
    failed = event(kind="FAILED", error={"type": "ValueError", "message": "boom", "attempt": 3})
    body = run_event(failed, namespace="prod")
    assert body["eventType"] == "FAIL"
    assert body["run"]["facets"]["errorMessage"]["message"] == "ValueError: boom"
    assert body["run"]["facets"]["errorMessage"]["programmingLanguage"] == "python"
    [output] = body["outputs"]
    assert output == {"namespace": "prod", "name": "shop.daily_order_summary", "facets": {}}


def test_other_kinds_are_other() -> None:
    """CHECKED and OBSERVED have no run-state of their own in OpenLineage: OTHER."""
    assert run_event(event(kind="OBSERVED"))["eventType"] == "OTHER"


def test_run_id_is_the_runs_uuid_when_it_is_one() -> None:
    """A run_id that is a UUID is used as it is (canonical form)."""
    given = "9B2F4C1E-8D3A-4E5F-A6B7-C8D9E0F1A2B3"
    assert run_id(event(run_id=given)) == given.lower()


def test_other_run_ids_map_to_the_same_uuid_every_time() -> None:
    """A free-form run_id becomes UUID v5 of service and run id: stable across exports."""
    first = run_id(event(run_id="run-42"))
    assert first == run_id(event(run_id="run-42"))
    assert first == str(uuid.uuid5(RUN_ID_NAMESPACE, "sales-summary/run-42"))
    assert first != run_id(event(run_id="run-43"))


def test_an_event_without_run_id_is_its_own_run() -> None:
    """No run_id: the event id names the run."""
    assert run_id(event()) == "0b7e6f3e-2f6c-4a8e-9d1c-3c6f1f3b9a01"


def test_the_reference_client_builds_the_same_event() -> None:
    """openlineage-python's models (which check runId and eventTime) serialise to our dict."""
    from openlineage.client.event_v2 import (  # noqa: PLC0415 - the reference client, dev extra
        InputDataset,
        Job,
        OutputDataset,
        Run,
        RunEvent,
        RunState,
    )
    from openlineage.client.facet_v2 import (  # noqa: PLC0415
        dataset_version_dataset,
        documentation_dataset,
        job_type_job,
        ownership_dataset,
    )
    from openlineage.client.facet_v2 import (  # noqa: PLC0415
        output_statistics_output_dataset as statistics,
    )
    from openlineage.client.serde import Serde  # noqa: PLC0415

    ours = run_event(event(), output=RECORD)
    producer = DEFAULT_PRODUCER

    def version(value: str) -> dict[str, Any]:
        return {
            "version": dataset_version_dataset.DatasetVersionDatasetFacet(value, producer=producer)
        }

    reference = RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=ours["eventTime"],
        run=Run(runId=ours["run"]["runId"]),
        job=Job(
            namespace="choreo",
            name="sales-summary/shop.daily_order_summary",
            facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType="BATCH", integration="CHOREO", jobType="ASSET", producer=producer
                )
            },
        ),
        inputs=[
            InputDataset("choreo", "shop.orders", facets=version("o7")),
            InputDataset("choreo", "shop.customers", facets=version("c2")),
        ],
        outputs=[
            OutputDataset(
                "choreo",
                "shop.daily_order_summary",
                facets={
                    **version("s1"),
                    "documentation": documentation_dataset.DocumentationDatasetFacet(
                        "Orders per day", producer=producer
                    ),
                    "ownership": ownership_dataset.OwnershipDatasetFacet(
                        owners=[ownership_dataset.Owner("team:sales")], producer=producer
                    ),
                },
                outputFacets={
                    "outputStatistics": statistics.OutputStatisticsOutputDatasetFacet(
                        rowCount=1200, size=65_536, producer=producer
                    )
                },
            )
        ],
        producer=DEFAULT_PRODUCER,
    )
    assert _without_empty(ours) == _without_empty(Serde.to_dict(reference))


def _without_empty(value: Any) -> Any:
    """The same JSON with empty objects left out (the client writes ``{}``, we omit some)."""
    if isinstance(value, dict):
        kept = {key: _without_empty(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item != {}}
    if isinstance(value, list):
        return [_without_empty(item) for item in value]
    return value
