"""``choreo broker`` and ``choreo topics`` as a user runs them: real processes, real broker."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from choreo.cli.exits import ExitCode
from choreo.events.topics import asset_topic, declarations_topic
from choreo.kafka.admin import TopicAdmin
from choreo.settings import Settings

RunCli = Callable[..., subprocess.CompletedProcess[str]]  # the run_cli fixture
REPO_ROOT = Path(__file__).resolve().parents[2]
BROKER_STOP_SECONDS = 20.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def broker_process() -> Iterator[subprocess.Popen[str]]:
    """``choreo broker --port <free>`` running in the background; stopped if a test leaves it."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "choreo", "broker", "--port", str(_free_port())],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield process
    if process.poll() is None:
        process.terminate()  # not kill: the command must live to stop its broker process
    try:
        process.communicate(timeout=BROKER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


def _bootstrap_of(process: subprocess.Popen[str]) -> str:
    """The address the broker command prints on stdout once it is ready."""
    assert process.stdout is not None
    line = process.stdout.readline().strip()  # blocks until ready (or the process ended)
    assert line, f"choreo broker printed nothing; stderr:\n{process.communicate()[1]}"
    return line


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGINT, ExitCode.INTERRUPTED), (signal.SIGTERM, ExitCode.OK)]
)
def test_broker_command_serves_until_signalled(
    broker_process: subprocess.Popen[str], sig: signal.Signals, code: ExitCode
) -> None:
    """The broker answers Kafka requests once its address is printed, and stops on a signal."""
    bootstrap = _bootstrap_of(broker_process)
    admin = TopicAdmin(Settings(bootstrap_servers=bootstrap, topic_prefix="x."), timeout=5)
    admin.ensure(["shop.orders"])
    assert [info.name for info in admin.list()] == ["x.asset.shop.orders", "x.declarations"]

    broker_process.send_signal(sig)
    _, stderr = broker_process.communicate(timeout=BROKER_STOP_SECONDS)
    assert broker_process.returncode == code
    assert f"broker listening on {bootstrap} (memory only; Ctrl-C stops it)" in stderr
    assert "Traceback" not in stderr
    host, port = bootstrap.rsplit(":", 1)
    with pytest.raises(ConnectionRefusedError):  # the broker went with the command
        socket.create_connection((host, int(port)), timeout=1).close()


def test_broker_command_refuses_a_taken_port(run_cli: RunCli) -> None:
    """A port already in use is a one-line error naming the port, exit 3."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("broker", "--port", str(port))
    assert result.returncode == ExitCode.CONFIG
    assert result.stderr.startswith(f"error: port {port} on 127.0.0.1 is already in use")
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_topics_ensure_then_list(run_cli: RunCli, settings: Settings) -> None:
    """ensure creates the asset and declarations topics; list --json shows them."""
    ensured = run_cli("topics", "ensure", "shop.orders")
    assert ensured.returncode == 0, ensured.stderr
    prefix = settings.topic_prefix
    orders, declarations = asset_topic(prefix, "shop.orders"), declarations_topic(prefix)
    table = ensured.stdout.splitlines()
    assert table[0].split() == ["TOPIC", "STATUS", "PARTITIONS"]
    assert table[1].split() == [orders, "created", str(settings.topic_partitions)]
    assert table[2].split() == [declarations, "created", "1"]

    again = run_cli("topics", "ensure", "shop.orders", "--json")
    assert again.returncode == 0, again.stderr
    assert [(s["name"], s["outcome"]) for s in json.loads(again.stdout)] == [
        (orders, "existed"),
        (declarations, "existed"),
    ]

    listed = run_cli("topics", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    topics = {entry["name"]: entry for entry in json.loads(listed.stdout)}
    assert list(topics) == [orders, declarations]
    assert topics[declarations] | {"retention_ms": None} == {
        "name": declarations,
        "partitions": 1,
        "replication_factor": 1,
        "cleanup_policy": "compact",
        "retention_ms": None,
    }
    assert topics[orders]["partitions"] == settings.topic_partitions
    # Brokers differ in whether they report defaults: Apache Kafka says "delete", Tansu nothing.
    assert topics[orders]["cleanup_policy"] in {None, "delete"}


def test_topics_list_table_and_all(run_cli: RunCli, settings: Settings) -> None:
    """The table has a header and one row per topic; --all also shows other prefixes' topics."""
    assert run_cli("topics", "ensure").returncode == 0
    listed = run_cli("topics", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["TOPIC", "PARTITIONS", "REPLICATION", "CLEANUP", "RETENTION.MS"]
    assert [line.split()[:4] for line in lines[1:]] == [
        [declarations_topic(settings.topic_prefix), "1", "1", "compact"]
    ]
    everything = run_cli("topics", "list", "--all", env={"CHOREO_TOPIC_PREFIX": "nothing."})
    assert declarations_topic(settings.topic_prefix) in everything.stdout


def test_bad_asset_key_is_a_usage_error(run_cli: RunCli) -> None:
    """A malformed key exits 2 with one line on stderr naming it, before touching the broker."""
    result = run_cli("topics", "ensure", "Shop Orders", env={"CHOREO_BOOTSTRAP_SERVERS": "x:1"})
    assert result.returncode == ExitCode.USAGE
    assert result.stderr.startswith("error: invalid asset key 'Shop Orders'")
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


@pytest.mark.parametrize("command", [("topics", "ensure", "shop.orders"), ("topics", "list")])
def test_unreachable_broker_exits_4(run_cli: RunCli, command: tuple[str, ...]) -> None:
    """With no broker at the address, the command exits 4 within --timeout with one line."""
    bootstrap = f"127.0.0.1:{_free_port()}"
    result = run_cli(
        *command, "--timeout", "2", env={"CHOREO_BOOTSTRAP_SERVERS": bootstrap}, timeout=30
    )
    assert result.returncode == ExitCode.UNREACHABLE
    assert result.stderr == (
        f"error: cannot reach Kafka at {bootstrap} within 2s; is a broker running? "
        "(choreo broker starts one)\n"
    )
    assert result.stdout == ""
