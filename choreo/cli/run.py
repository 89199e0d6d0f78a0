"""``choreo run``: run one service as a standalone process (start it twice to scale out)."""

from __future__ import annotations

import os
import signal
from typing import Annotated

import typer

from choreo.cli.exits import guarded
from choreo.kafka.runner import RunnerOptions, ServiceRunner
from choreo.loader import TARGET_FORM, load_service
from choreo.logs import configure_logging
from choreo.runtime.collection import collect_for_service
from choreo.settings import load_settings

#: Crash tests set this to make `choreo run` SIGKILL itself before its Nth transaction commit.
CRASH_FAILPOINT_ENV = "CHOREO_FAILPOINT_CRASH_BEFORE_COMMIT"


def run(
    target: Annotated[str, typer.Argument(help=f"The service: {TARGET_FORM}.")],
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve /metrics and /healthz on this port (0 picks a free one)."),
    ] = None,
    instance: Annotated[
        str | None, typer.Option(help="Name of this replica in events (default host:pid).")
    ] = None,
    shutdown_grace: Annotated[
        float,
        typer.Option(
            help="Seconds SIGTERM waits for runs in flight before handing them back.", min=0
        ),
    ] = 30.0,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run a service until SIGTERM or Ctrl-C.

    It declares its assets, joins the consumer group of the service (replicas share the work),
    rebuilds its assets when inputs change or a request arrives, and announces each new version.
    SIGTERM finishes (or hands back) runs in flight, commits and leaves the group. Exit codes:
    0 stopped, 3 bad service or configuration (e.g. an asset owned by another service),
    4 broker unreachable.
    """
    configure_logging(log_level)

    def start() -> None:
        service = load_service(target)
        options = RunnerOptions(metrics_port=metrics_port, shutdown_grace_seconds=shutdown_grace)
        failpoint = os.environ.get(CRASH_FAILPOINT_ENV)
        if failpoint:
            options.crash_before_commit = int(failpoint)
        if instance:
            options.instance = instance
        runner = ServiceRunner(service, load_settings(), options)
        collect_for_service()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: runner.stop())
        runner.run()

    guarded(start)


def register(app: typer.Typer) -> None:
    """Add ``run`` to the ``choreo`` app."""
    app.command("run")(run)
