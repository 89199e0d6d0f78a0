"""Fuzz every operation of the OpenAPI document, in process: no request earns a 5xx, and every
refusal is JSON with an ``error`` message."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from prometheus_client import CollectorRegistry

from choreo.collector.http import create_app
from choreo.collector.queries import LineageQueries

from .shop import NOW, Shop, build_shop

#: Examples per operation: enough to hit bounds, odd UUIDs, unicode keys and empty values.
EXAMPLES = 25


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    built = build_shop(tmp_path_factory.mktemp("fuzz") / "collector.db")
    yield built
    built.engine.dispose()


@pytest.fixture(scope="module")
def api_schema(shop: Shop) -> Any:
    queries = LineageQueries(shop.engine, clock=lambda: NOW, refresh_seconds=0)
    health = lambda: {"ingest_lag_seconds": 0.0}  # noqa: E731
    app = create_app(queries, token=None, health=health, metrics_registry=CollectorRegistry())
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _known(operation: Any, shop: Shop) -> dict[str, Any]:
    """Path parameters naming things that exist, so query parameters meet real data."""
    known = {"key": "shop.daily_order_summary", "event_id": shop.forecast_ok}
    return {name: value for name, value in known.items() if "{" + name + "}" in operation.path}


@pytest.mark.parametrize(
    ("mode", "existing"),
    [("positive", False), ("positive", True), ("negative", False)],
    ids=["valid-parameters", "valid-parameters-existing-things", "invalid-parameters"],
)
def test_no_request_gets_a_server_error(
    api_schema: Any, shop: Shop, mode: str, existing: bool
) -> None:
    """Whatever the parameters, every operation answers 2xx or a 4xx with a JSON message."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 13
    for operation in operations:
        path_parameters = _known(operation, shop) if existing else None
        if (existing and not path_parameters) or (
            mode == "negative" and not list(operation.iter_parameters())
        ):
            continue  # nothing to vary
        strategy = operation.as_strategy(
            schemathesis.GenerationMode(mode), path_parameters=path_parameters
        )

        @given(case=strategy)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def fuzz(case: Any) -> None:
            response = case.call()
            assert response.status_code < 500, (case.formatted_path, case.query, response.text)
            if response.status_code >= 400:
                assert "error" in response.json()

        fuzz()
