"""``choreo emit``: announce an asset update (or failure) from a shell, a cron job or a CI step."""

from __future__ import annotations

from typing import Annotated

import typer

from choreo.cli.arguments import INPUT_FORM, META_FORM, parse_input, parse_meta
from choreo.cli.exits import guarded
from choreo.errors import InvalidInputError
from choreo.events import AssetEvent, ErrorInfo, EventKind, ProducerInfo
from choreo.kafka.emitter import Emitter, build_event, default_instance
from choreo.settings import load_settings


def emit(
    asset: Annotated[str, typer.Argument(help="Asset key, e.g. shop.orders.")],
    partition: Annotated[str | None, typer.Option(help="Partition key, e.g. 2026-11-20.")] = None,
    location: Annotated[
        str | None, typer.Option(help="URI of the data, e.g. s3://raw/orders/2026-11-20.")
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(
            help="Data version; derived from asset, partition, location and metadata when omitted."
        ),
    ] = None,
    meta: Annotated[
        list[str] | None, typer.Option("--meta", help=f"Metadata, repeatable: {META_FORM}.")
    ] = None,
    inputs: Annotated[
        list[str] | None,
        typer.Option(
            "--input", help=f"An input version this data was built from, repeatable: {INPUT_FORM}."
        ),
    ] = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="Announce a failed update (needs --error).")
    ] = False,
    error: Annotated[str | None, typer.Option(help="Error message for --failed.")] = None,
    service: Annotated[
        str, typer.Option(help="Producer name recorded in the event.")
    ] = "choreo-emit",
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the broker's acknowledgement.", min=0.1)
    ] = 10.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole event as JSON instead of its id.")
    ] = False,
) -> None:
    """Announce that ASSET has a new version (or, with --failed, that updating it failed).

    Exits 0 only after the broker acknowledged the event and prints the event id; exits 2 on
    malformed input and 4 when the broker cannot be reached within --timeout.
    """

    def run() -> AssetEvent:
        if failed and not error:
            raise InvalidInputError("--failed needs --error MESSAGE saying what went wrong")
        if error and not failed:
            raise InvalidInputError("--error is only for --failed announcements")
        event = build_event(
            asset,
            producer=ProducerInfo(service=service, instance=default_instance()),
            kind=EventKind.FAILED if failed else EventKind.UPDATED,
            partition=partition,
            version=version,
            location=location,
            metadata=parse_meta(meta or []),
            inputs=[parse_input(text) for text in inputs or []],
            error=ErrorInfo(type="Error", message=error) if failed and error else None,
        )
        with Emitter(load_settings(), service=service, timeout=timeout) as emitter:
            return emitter.emit(event)

    event = guarded(run)
    typer.echo(event.model_dump_json() if as_json else str(event.event_id))


def register(app: typer.Typer) -> None:
    """Add ``emit`` to the ``choreo`` app."""
    app.command("emit")(emit)
