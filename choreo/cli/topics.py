"""``choreo topics``: create choreo's topics up front and see what exists.

Creating topics explicitly, instead of leaving it to broker auto-creation, is what gives asset
topics the configured partition count and the declarations topic its compaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Annotated

import typer

from choreo.cli.exits import guarded
from choreo.kafka.admin import DECLARATIONS_PARTITIONS, TopicAdmin, TopicInfo
from choreo.settings import load_settings

app = typer.Typer(
    help=(
        "Create and list choreo's Kafka topics: <prefix>asset.<key> per asset and the compacted "
        "<prefix>declarations (prefix from CHOREO_TOPIC_PREFIX, default 'choreo.')."
    ),
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
TimeoutOption = Annotated[
    float,
    typer.Option(min=0.1, help="Seconds to wait for the broker before giving up (exit 4)."),
]


ENSURE_HELP = "\n\n".join(
    [
        "Create the topics of ASSET... and the declarations topic; existing ones are left alone.",
        "Asset topics get CHOREO_TOPIC_PARTITIONS partitions (default 3) and "
        "CHOREO_TOPIC_REPLICATION_FACTOR replicas (default 1); the declarations topic is "
        f"compacted, with {DECLARATIONS_PARTITIONS} partition(s).",
        "Exit 2 for a malformed asset key, 4 if the broker cannot be reached within --timeout.",
    ]
)
LIST_HELP = "\n\n".join(
    [
        "List the topics under the prefix: partitions, replication, cleanup policy, retention.",
        "A '-' means the broker did not report that setting. "
        "Exit 4 if the broker cannot be reached within --timeout.",
    ]
)


@app.command("ensure", help=ENSURE_HELP)
def ensure(
    assets: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="ASSET",
            help="Asset keys, e.g. shop.orders; none: only the declarations topic.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    timeout: TimeoutOption = 10.0,
) -> None:
    statuses = guarded(lambda: TopicAdmin(load_settings(), timeout).ensure(assets or []))
    if as_json:
        typer.echo(json.dumps([asdict(s) for s in statuses], indent=2))
    else:
        _table(
            ("TOPIC", "STATUS", "PARTITIONS"),
            [(s.name, s.outcome.value, str(s.partitions)) for s in statuses],
        )


@app.command("list", help=LIST_HELP)
def list_topics(
    every: Annotated[
        bool, typer.Option("--all", help="List every topic, not only those under the prefix.")
    ] = False,
    as_json: JsonOption = False,
    timeout: TimeoutOption = 10.0,
) -> None:
    infos = guarded(lambda: TopicAdmin(load_settings(), timeout).list(prefix_only=not every))
    if as_json:
        typer.echo(json.dumps([_info_json(i) for i in infos], indent=2))
    else:
        _table(
            ("TOPIC", "PARTITIONS", "REPLICATION", "CLEANUP", "RETENTION.MS"),
            [
                (
                    i.name,
                    str(i.partitions),
                    str(i.replication_factor),
                    i.cleanup_policy or "-",
                    "-" if i.retention_ms is None else str(i.retention_ms),
                )
                for i in infos
            ],
        )


def _info_json(info: TopicInfo) -> dict[str, object]:
    return {
        "name": info.name,
        "partitions": info.partitions,
        "replication_factor": info.replication_factor,
        "cleanup_policy": info.cleanup_policy,
        "retention_ms": info.retention_ms,
    }


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        typer.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
