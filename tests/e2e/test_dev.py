"""``choreo dev`` runs the example choreography end to end and stops cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_choreo_dev_shows_the_shop_cascade_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """dev starts broker, services and ingest, prints the forecast built from summaries, stops."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHOREO_")}
    env["CHOREO_DATA_DIR"] = str(tmp_path / "data")
    env["PYTHONPATH"] = str(REPO)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "choreo",
            "dev",
            str(REPO / "services"),
            "--port",
            "0",
            "--collector-port",
            str(free_port()),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    graph: dict[str, object] = {}
    messages: list[str] = []
    deadline = time.monotonic() + 90
    try:
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "shop.predicted_orders" in line and line.count("shop.daily_order_summary[") == 7:
                graph = collector_graph(process, deadline, messages)
                break
    finally:
        process.send_signal(signal.SIGINT)
        _out, rest = process.communicate(timeout=60)
    err = "".join(messages) + rest
    shown = "".join(lines)
    assert "UPDATED  shop.daily_order_summary[" in shown, err
    assert "from shop.orders[" in shown
    forecast = [line for line in lines if "UPDATED  shop.predicted_orders" in line]
    assert forecast, err
    assert forecast[-1].count("shop.daily_order_summary[") == 7  # built from a whole week
    assert process.returncode == 130  # interrupted, after a clean stop
    assert "broker: 127.0.0.1:" in err
    assert "Traceback" not in err
    warehouse = tmp_path / "data" / "warehouse"
    assert len(list((warehouse / "daily_order_summary").glob("*.csv"))) == 7
    assert (warehouse / "predicted_orders.csv").read_text().count("\n") == 8  # header + 7 days
    for log in (tmp_path / ".choreo" / "logs").glob("shop-*.log"):
        assert "service.stopped" in log.read_text(), log.name  # each service shut down cleanly
    nodes = {node["asset"] for node in graph["nodes"]}  # type: ignore[attr-defined]
    assert nodes == {
        "shop.orders",
        "shop.customers",
        "shop.daily_order_summary",
        "shop.predicted_orders",
    }
    assert (tmp_path / ".choreo" / "collector.db").exists()


def free_port() -> int:
    """A local port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def collector_graph(
    process: subprocess.Popen[str], deadline: float, messages: list[str]
) -> dict[str, object]:
    """The graph the collector serves once it has seen the forecast (polled until then); the
    stderr lines read on the way are kept in ``messages``."""
    assert process.stderr is not None
    url = None
    while url is None and time.monotonic() < deadline:
        line = process.stderr.readline()
        messages.append(line)
        match = re.search(r"collector: (http://127\.0\.0\.1:\d+/)", line)
        url = match.group(1) if match else None
    assert url is not None
    with urllib.request.urlopen(url, timeout=5) as page:  # noqa: S310 - our own http URL
        assert page.status == 200
        assert b"<html" in page.read().lower()
    graph: dict[str, object] = {}
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url + "api/graph", timeout=5) as answer:  # noqa: S310
            graph = json.loads(answer.read())
        if len(graph.get("nodes", [])) >= 4:  # type: ignore[arg-type]
            break
        time.sleep(0.5)
    return graph
