"""``choreo collector``: run the lineage collector, which stores every announcement and declaration
in SQL (and serves them over HTTP)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Annotated

import typer
from pydantic import SecretStr

from choreo.cli.exits import guarded
from choreo.collector.http import DEFAULT_PORT, collector_server, create_app
from choreo.collector.ingest import DEFAULT_BATCH_SIZE, Collector
from choreo.collector.queries import LineageQueries
from choreo.collector.store import DEFAULT_URL, Store
from choreo.collector.web import STATIC_DIR
from choreo.logs import configure_logging
from choreo.settings import load_settings

#: How long stopping waits for the ingest thread to store the batch in hand and leave the group.
STOP_TIMEOUT_SECONDS = 30.0

Serve = Callable[[], None]
"""Serves until SIGTERM or Ctrl-C, then returns (e.g. uvicorn's ``Server.run``)."""


def server_for(
    store: Store, collector: Collector, *, host: str, port: int, token: SecretStr | None
) -> Serve:
    """The HTTP API and web page over ``store``: ``/healthz`` answers from the collector's
    ingest lag and ``/metrics`` shows its ingest counters beside the per-asset series."""
    app = create_app(
        LineageQueries(store),
        token=token,
        health=lambda: collector.ingest_lag().as_dict(),
        metrics_registry=collector.metrics.registry,
        static_dir=STATIC_DIR,
    )
    return collector_server(app, host, port).run


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
        typer.Option(
            "--serve/--no-serve", help="Also serve the HTTP API and web page (--no-serve: ingest)."
        ),
    ] = True,
    host: Annotated[str, typer.Option(help="Address the API and web page listen on.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port of the API and web page.", min=0)] = DEFAULT_PORT,
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
            server = (
                server_for(store, ingest, host=host, port=port, token=settings.collector_token)
                if serve
                else None
            )
            typer.echo(
                f"collector: storing into {store.url} (consumer group {ingest.group_id})", err=True
            )
            if server is not None:
                typer.echo(f"collector: page and API at http://{host}:{port}/", err=True)
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
