"""A small HTTP endpoint per service: ``/metrics`` for Prometheus and ``/healthz`` for probes.

It answers GET only, reads no request body, and runs in a daemon thread so it never holds up
shutdown.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

HealthCheck = Callable[[], tuple[bool, dict[str, Any]]]


class StatusServer:
    """Serve a registry's metrics and a health check on ``host:port`` (port 0: pick one)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        health: HealthCheck,
        host: str = "0.0.0.0",  # noqa: S104 - probes come from outside the container
        port: int = 0,
    ) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] == "/metrics":
                    self._send(200, generate_latest(server.registry), CONTENT_TYPE_LATEST)
                elif self.path.split("?")[0] in {"/healthz", "/health"}:
                    ok, detail = server.health()
                    body = json.dumps({"status": "ok" if ok else "unhealthy", **detail}).encode()
                    self._send(200 if ok else 503, body, "application/json")
                else:
                    self._send(
                        404, b'{"error": "not found; try /metrics or /healthz"}', "application/json"
                    )

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Requests are not logged: probes would drown the service's own lines."""

        self.registry = registry
        self.health = health
        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="choreo-status", daemon=True
        )

    @property
    def port(self) -> int:
        """The port actually bound."""
        return int(self._httpd.server_address[1])

    def start(self) -> StatusServer:
        """Start serving in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._httpd.shutdown()
        self._httpd.server_close()
