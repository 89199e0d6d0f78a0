"""``choreo collector``: run the lineage collector, which stores every announcement and declaration
in SQL (and serves them over HTTP)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Annotated

import typer

from choreo.cli.exits import guarded
from choreo.collector.ingest import DEFAULT_BATCH_SIZE, Collector
from choreo.collector.store import DEFAULT_URL, Store
from choreo.logs import configure_logging
from choreo.settings import load_settings

#: How long stopping waits for the ingest thread to store the batch in hand and leave the group.
STOP_TIMEOUT_SECONDS = 30.0

Serve = Callable[[], None]
"""Serves until SIGTERM or Ctrl-C, then returns (e.g. uvicorn's ``Server.run``)."""


def server_for(store: Store, collector: Collector) -> Serve | None:
    """What serves the HTTP API and web page over ``store``, or ``None`` while there is none.

    The HTTP side (``choreo.collector.http``) plugs in here: it reads ``store.engine``, answers
    ``/healthz`` from ``collector.ingest_lag().as_dict()`` and exposes ``collector.metrics``'s
    registry on ``/metrics``.
    """
    del store, collector
    return None


def run_collector(collector: Collector, serve: Serve | None) -> None:
    """Ingest until SIGTERM or Ctrl-C; with ``serve``, serve at the same time.

    Without a server, ingestion runs on this thread and the signals stop it. With one, the
    server owns this thread and the signals, ingestion runs on a worker thread, and stopping the
    server stops ingestion; an ingestion failure is raised here once the server has stopped.
    """
    if serve is None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: collector.stop())
        collector.run()
        return
    failure: list[BaseException] = []

    def ingest() -> None:
        try:
            collector.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            failure.append(exc)

    worker = threading.Thread(target=ingest, name="collector-ingest", daemon=True)
    worker.start()
    try:
        serve()
    finally:
        collector.stop()
        worker.join(STOP_TIMEOUT_SECONDS)
    if failure:
        raise failure[0]


def collector(
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Where to store, as a SQLAlchemy URL: sqlite:///PATH (the directory is "
            "created) or postgresql+psycopg://USER:PASSWORD@HOST/DB. Default: "
            f"$CHOREO_COLLECTOR_DB, else {DEFAULT_URL}.",
        ),
    ] = None,
    group: Annotated[
        str | None,
        typer.Option(
            help="Consumer group (default <prefix>collector). Replicas storing into one "
            "PostgreSQL database share a group; collectors with separate databases must not."
        ),
    ] = None,
    serve: Annotated[
        bool,
        typer.Option("--serve/--no-serve", help="Also serve the HTTP API (--no-serve: ingest)."),
    ] = True,
    batch_size: Annotated[
        int, typer.Option(help="Records stored per transaction at most.", min=1)
    ] = DEFAULT_BATCH_SIZE,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the lineage collector until SIGTERM or Ctrl-C.

    It reads every asset topic (new ones too) and the declarations topic from the beginning, and
    stores events, declarations and the graph they describe, with the offsets it has read, in
    one transaction per batch: a restart resumes exactly where the database is. Records it
    cannot read are logged and kept in the choreo_rejected table. Exit codes: 0 stopped,
    3 configuration, 4 broker or database unreachable.
    """
    configure_logging(log_level)

    def start() -> None:
        settings = load_settings()
        store = Store(db or settings.collector_db)
        try:
            ingest = Collector(settings, store, group_id=group, batch_size=batch_size)
            server = server_for(store, ingest) if serve else None
            if serve and server is None:
                typer.echo("the HTTP API is not available yet: ingesting only", err=True)
            typer.echo(
                f"collector: storing into {store.url} (consumer group {ingest.group_id})", err=True
            )
            run_collector(ingest, server)
        finally:
            store.close()

    guarded(start)


def register(app: typer.Typer) -> None:
    """Add ``collector`` to the ``choreo`` app."""
    app.command("collector")(collector)


def main() -> None:
    """``python -m choreo.cli.collector``: the command on its own."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    register(app)
    app()


if __name__ == "__main__":
    main()
