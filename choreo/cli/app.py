"""The ``choreo`` command: one typer app, one module per command group."""

from __future__ import annotations

from typing import Annotated

import typer

from choreo.cli import broker, collector, dev, emit, lineage, materialize, run, tail, topics
from choreo.logs import configure_logging

app = typer.Typer(
    name="choreo",
    help=(
        "Choreograph data products over Kafka: services rebuild assets when their inputs change "
        "and announce new versions; no central orchestrator.\n\n"
        "Settings come from CHOREO_* environment variables (CHOREO_BOOTSTRAP_SERVERS, "
        "CHOREO_TOPIC_PREFIX, CHOREO_SCHEMA_REGISTRY_URL, CHOREO_KAFKA__<LIBRDKAFKA_OPTION>).\n\n"
        "Exit codes: 0 ok, 1 found a problem, 2 usage, 3 config, 4 broker/registry unreachable, "
        "130 interrupted."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def configure(
    log_level: Annotated[
        str, typer.Option(help="Log level for messages on stderr: debug, info, warning, error.")
    ] = "warning",
) -> None:
    """Set up logging once for every command."""
    configure_logging(log_level)


broker.register(app)
emit.register(app)
tail.register(app)
run.register(app)
materialize.register(app)
dev.register(app)
collector.register(app)
app.add_typer(topics.app, name="topics")
app.add_typer(lineage.app, name="lineage")


def main() -> None:
    """Console-script entry point."""
    app()
