"""``choreo tail``: watch asset events as they are announced."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from choreo.cli.arguments import metadata_json
from choreo.cli.exits import ExitCode, guarded
from choreo.errors import InvalidInputError
from choreo.events.keys import validate_asset_key
from choreo.kafka.tail import AssetTail, TailedRecord
from choreo.settings import load_settings


def render(record: TailedRecord) -> str:
    """One human-readable line for an event."""
    event = record.event
    assert event is not None  # noqa: S101 - only called for decoded records
    target = f"{event.asset}[{event.partition}]" if event.partition else event.asset
    parts = [
        event.occurred_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        f"{event.kind.value:<8}",
        target,
        f"version={event.version}",
    ]
    if event.location:
        parts.append(event.location)
    if event.metadata:
        parts.append(metadata_json(event.metadata))
    if event.inputs:
        parts.append(
            "inputs="
            + ",".join(
                f"{i.asset}{'@' + i.partition if i.partition else ''}={i.version}"
                for i in event.inputs
            )
        )
    if event.error is not None:
        parts.append(f"error={event.error.type}: {event.error.message}")
    parts.append(f"by={event.producer.service} id={event.event_id}")
    return "  ".join(parts)


def as_json_line(record: TailedRecord) -> str:
    """One JSON object per event: the event's fields plus where it was read."""
    assert record.event is not None  # noqa: S101
    body = record.event.model_dump(mode="json")
    body["kafka"] = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
    return json.dumps(body)


def tail(
    assets: Annotated[
        list[str] | None, typer.Argument(help="Asset keys to follow (omit with --pattern).")
    ] = None,
    pattern: Annotated[
        str | None,
        typer.Option(
            help="Follow every asset whose key matches this regular expression, "
            "including assets created later; '.' follows all."
        ),
    ] = None,
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="Start at the oldest retained event.")
    ] = False,
    max_events: Annotated[
        int | None, typer.Option("--max", min=1, help="Stop after this many events.")
    ] = None,
    idle: Annotated[
        float | None,
        typer.Option(
            help="Stop after this many seconds without an event (default: follow until Ctrl-C)."
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the broker to answer.", min=0.1)
    ] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Print asset events as they are announced.

    Records that are not choreo events are reported on stderr with topic, partition and offset,
    and the tail goes on; it then exits 1 when it stops. Exits 4 if the broker is unreachable.
    """
    bad = 0

    def run() -> None:
        nonlocal bad
        if not assets and pattern is None:
            raise InvalidInputError("name at least one ASSET, or --pattern REGEX ('.' for all)")
        for asset in assets or []:
            validate_asset_key(asset)
        reader = AssetTail(
            load_settings(),
            assets=assets or [],
            pattern=pattern,
            from_beginning=from_beginning,
            timeout=timeout,
        )
        try:
            for topic in reader.missing_topics():
                typer.echo(f"waiting for {topic} to exist", err=True)
            shown = 0
            for record in reader.records(idle_timeout=idle):
                if record.event is None:
                    bad += 1
                    typer.echo(f"error: {record.where}: {record.error}", err=True)
                    continue
                typer.echo(as_json_line(record) if as_json else render(record))
                sys.stdout.flush()
                shown += 1
                if max_events is not None and shown >= max_events:
                    break
        finally:
            reader.close()

    guarded(run)
    if bad:
        raise typer.Exit(int(ExitCode.PROBLEM))


def register(app: typer.Typer) -> None:
    """Add ``tail`` to the ``choreo`` app."""
    app.command("tail")(tail)
