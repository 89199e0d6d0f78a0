"""``choreo dev`` runs the example choreography end to end and stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_choreo_dev_shows_the_shop_cascade_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """dev starts broker, services and ingest, prints the forecast built from summaries, stops."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHOREO_")}
    env["CHOREO_DATA_DIR"] = str(tmp_path / "data")
    env["PYTHONPATH"] = str(REPO)
    process = subprocess.Popen(
        [sys.executable, "-m", "choreo", "dev", str(REPO / "services"), "--port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 90
    try:
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "shop.predicted_orders" in line and line.count("shop.daily_order_summary[") == 7:
                break
    finally:
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=60)
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
    for log in (tmp_path / ".choreo" / "logs").glob("*.log"):
        assert "service.stopped" in log.read_text(), log.name  # each service shut down cleanly
