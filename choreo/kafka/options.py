"""The runtime's knobs that are not settings of the environment (``choreo run``'s options)."""

from __future__ import annotations

from dataclasses import dataclass, field

from choreo.kafka.emitter import default_instance


@dataclass
class RunnerOptions:
    """Knobs of the runtime that are not settings of the environment."""

    instance: str = field(default_factory=default_instance)
    metrics_port: int | None = None
    metrics_host: str = "0.0.0.0"  # noqa: S104 - scraped from outside the container
    shutdown_grace_seconds: float = 30.0
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 1_000
    startup_timeout_seconds: float = 30.0
    crash_before_commit: int | None = None
    """Failpoint for crash tests: SIGKILL this process just before its Nth transaction commit,
    after the transaction's records were produced (exactly-once mode only)."""
