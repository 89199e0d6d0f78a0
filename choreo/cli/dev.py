"""``choreo dev``: run the example (or your services) on a laptop with one command."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from choreo.cli.exits import ExitCode, guarded
from choreo.dev import DevOptions, DevSession, install_stop_handlers
from choreo.settings import load_settings


def dev(
    folder: Annotated[Path, typer.Argument(help="Folder whose *.py files define services.")] = Path(
        "services"
    ),
    ingest: Annotated[
        bool, typer.Option(help="Run every ingest.py in FOLDER once after the services start.")
    ] = True,
    port: Annotated[
        int, typer.Option(help="Port of the embedded broker (0 picks a free one).")
    ] = 9092,
    duration: Annotated[
        float | None, typer.Option("--for", help="Stop by itself after this many seconds.")
    ] = None,
    collector: Annotated[
        bool, typer.Option(help="Also run the lineage collector and its web page.")
    ] = True,
    collector_port: Annotated[
        int, typer.Option(help="Port of the collector's web page and API.", min=1)
    ] = 8350,
) -> None:
    """Start a broker, the collector, every service in FOLDER, the example's ingest; show it all.

    The embedded broker is started unless CHOREO_BOOTSTRAP_SERVERS is set. Each service runs as
    its own `choreo run` process with its log in .choreo/logs/; the lineage collector stores into
    .choreo/collector.db and serves the graph at http://127.0.0.1:8350/. Every announcement is
    printed as one line: what was rebuilt, from which input versions, by which service.
    Ctrl-C (or SIGTERM) stops the services and the collector cleanly, then the broker; the exit
    code is then 130 (0 after SIGTERM or --for).
    """
    if not folder.is_dir():
        typer.echo(f"error: no such folder {folder}", err=True)
        raise typer.Exit(2)

    def run() -> bool:
        session = DevSession(
            load_settings(),
            DevOptions(
                folder=folder,
                ingest=ingest,
                port=port,
                duration=duration,
                collector=collector,
                collector_port=collector_port,
            ),
            broker_configured="CHOREO_BOOTSTRAP_SERVERS" in os.environ,
            out=typer.echo,
            err=lambda line: typer.echo(line, err=True),
        )
        install_stop_handlers(session)
        session.run()
        return session.interrupted

    if guarded(run):
        raise typer.Exit(int(ExitCode.INTERRUPTED))


def register(app: typer.Typer) -> None:
    """Add ``dev`` to the ``choreo`` app."""
    app.command("dev")(dev)
