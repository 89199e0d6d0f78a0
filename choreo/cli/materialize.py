"""``choreo materialize``: ask an asset's owner to rebuild it now (one partition or a backfill)."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from choreo.cli.exits import guarded
from choreo.errors import InvalidInputError
from choreo.events import AssetRequest
from choreo.events.keys import validate_asset_key, validate_partition_key
from choreo.events.ranges import RANGE_FORM, expand_partition_range
from choreo.kafka.requests import request_rebuilds
from choreo.settings import load_settings


def materialize(
    asset: Annotated[
        str, typer.Argument(help="Asset key to rebuild, e.g. shop.daily_order_summary.")
    ],
    partition: Annotated[
        list[str] | None, typer.Option("--partition", help="A partition to rebuild (repeatable).")
    ] = None,
    partitions: Annotated[str | None, typer.Option(help=f"A backfill range: {RANGE_FORM}.")] = None,
    reason: Annotated[str | None, typer.Option(help="Why, recorded in the request.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the broker.", min=0.1)] = 10.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the requests as JSON lines.")
    ] = False,
) -> None:
    """Ask the service owning ASSET to rebuild it, regardless of its trigger.

    Downstream assets follow by themselves. Prints how many requests were written. Exit codes:
    1 no service has declared ASSET, 2 bad asset/partitions, 4 broker unreachable.
    """

    def run() -> list[AssetRequest]:
        validate_asset_key(asset)
        if partition and partitions:
            raise InvalidInputError("give --partition or --partitions, not both")
        keys: list[str | None]
        if partitions:
            keys = list(expand_partition_range(partitions))
        elif partition:
            keys = [validate_partition_key(p) for p in partition]
        else:
            keys = [None]
        return request_rebuilds(
            load_settings(),
            asset,
            keys,
            requested_by=getpass.getuser() or "choreo",
            reason=reason,
            timeout=timeout,
        )

    requests = guarded(run)
    if as_json:
        for request in requests:
            typer.echo(request.model_dump_json())
    else:
        typer.echo(f"wrote {len(requests)} request(s) for {asset}")


def register(app: typer.Typer) -> None:
    """Add ``materialize`` to the ``choreo`` app."""
    app.command("materialize")(materialize)
