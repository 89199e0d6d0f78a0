"""A service's /metrics and /healthz tell what it consumed, ran and published."""

from __future__ import annotations

import json
import time
import urllib.request

from choreo import Emitter, Service
from choreo.settings import Settings

from .services_support import at_least, collect, running


def fetch(port: int, path: str) -> tuple[int, str]:
    """GET a path of the status endpoint."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
        return int(answer.status), answer.read().decode()


def test_metrics_and_health_report_the_work(settings: Settings) -> None:
    """After one run, metrics count it by outcome and /healthz reports the replica healthy."""
    svc = Service("svc-observed")

    @svc.asset("t.observed", inputs=["t.raw"], freshness="1h")
    def observed(ctx, raw):  # type: ignore[no-untyped-def]
        return ctx.output(rows=1)

    with running(svc, settings, metrics_port=0) as runner, Emitter(settings) as emitter:
        emitter.updated("t.raw", version="r1")
        collect(settings, "t.observed", until=at_least(1))
        time.sleep(0.5)
        port = runner.status_port
        assert port is not None
        status, metrics = fetch(port, "/metrics")
        health_status, health = fetch(port, "/healthz")
    assert status == 200
    assert 'choreo_runs_total{asset="t.observed",outcome="succeeded"} 1.0' in metrics
    assert 'choreo_events_published_total{asset="t.observed",kind="UPDATED"} 1.0' in metrics
    assert "choreo_run_seconds_bucket" in metrics
    assert 'choreo_last_success_timestamp_seconds{asset="t.observed"}' in metrics
    assert "choreo_events_consumed_total" in metrics
    assert health_status == 200
    body = json.loads(health)
    assert body["status"] == "ok"
    assert body["service"] == "svc-observed"
    assert body["freshness"] == {"t.observed": "1h"}
    assert 0 <= body["seconds_since_turn"] < 5
    assert 0 <= body["seconds_since_poll"] < 5
