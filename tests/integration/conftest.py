"""Fixtures for tests against a real broker: the embedded one, or any broker you point them at.

By default one embedded broker (Tansu, from the ``dev`` extra) serves the whole session;
``CHOREO_TEST_BROKER=apache-kafka`` starts Apache Kafka instead (``choreo.apache_kafka``: needs
java, and mvn for the first fetch). Set ``CHOREO_TEST_BOOTSTRAP_SERVERS=host:port`` to run the
same tests against a broker already running (e.g. the Apache Kafka of ``docker-compose.yml``), in
which case none is started. Each test gets its own topic prefix and consumer group id, so tests
never see each other's topics or offsets and need no clean-up.

Every test collected under this directory is marked ``integration`` automatically, so
``pytest -m "not integration"`` runs only what needs no broker. Tests marked ``apache_kafka`` are
skipped unless ``CHOREO_TEST_BROKER=apache-kafka`` says the broker is Apache Kafka (set it with
``CHOREO_TEST_BOOTSTRAP_SERVERS`` too when that address is an Apache Kafka).

Consumers in these tests should use a short ``session.timeout.ms`` (e.g. 6000) and
``heartbeat.interval.ms`` (e.g. 500): with Tansu, joining a group waits about a session timeout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol
from uuid import uuid4

import pytest

from choreo.apache_kafka import ApacheKafka
from choreo.embedded_broker import EmbeddedBroker
from choreo.settings import Settings

BOOTSTRAP_ENV = "CHOREO_TEST_BOOTSTRAP_SERVERS"
BROKER_ENV = "CHOREO_TEST_BROKER"
BROKERS = ("embedded", "apache-kafka")
HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
CLI_TIMEOUT_SECONDS = 60.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests of this directory ``integration``; unless the broker is Apache Kafka,
    deselect the ``apache_kafka`` tests (reported as deselected, never counted as passed)."""
    on_apache_kafka = _broker_kind() == "apache-kafka"
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)
        if not on_apache_kafka and item.get_closest_marker("apache_kafka"):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _broker_kind() -> str:
    """``$CHOREO_TEST_BROKER``: ``embedded`` (the default) or ``apache-kafka``."""
    kind = os.environ.get(BROKER_ENV) or "embedded"
    if kind not in BROKERS:
        raise pytest.UsageError(f"{BROKER_ENV}={kind!r}: expected one of {', '.join(BROKERS)}")
    return kind


@pytest.fixture(scope="session")
def bootstrap_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of the session's broker: ``$CHOREO_TEST_BOOTSTRAP_SERVERS``, or a broker
    of the ``$CHOREO_TEST_BROKER`` kind on a free port, started once and stopped after the last
    test."""
    external = os.environ.get(BOOTSTRAP_ENV)
    if external:
        yield external
        return
    if _broker_kind() == "apache-kafka":
        with ApacheKafka(tmp_path_factory.mktemp("apache-kafka")) as kafka:
            yield kafka.bootstrap_servers
        return
    with EmbeddedBroker() as broker:
        yield broker.bootstrap_servers


@pytest.fixture
def settings(bootstrap_servers: str) -> Settings:
    """Settings for this test: the session's broker and a topic prefix no other test uses."""
    return Settings(bootstrap_servers=bootstrap_servers, topic_prefix=f"t{uuid4().hex[:10]}.")


@pytest.fixture
def group_id() -> str:
    """A consumer group id no other test uses."""
    return f"test-{uuid4().hex[:10]}"


class RunCli(Protocol):
    """Runs ``choreo ARGS...`` to completion; what the ``run_cli`` fixture returns."""

    def __call__(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = ...
    ) -> subprocess.CompletedProcess[str]: ...


@pytest.fixture
def cli_env(settings: Settings) -> dict[str, str]:
    """The environment ``run_cli`` passes: this test's broker and prefix, choreo importable."""
    env = dict(os.environ)
    env["CHOREO_BOOTSTRAP_SERVERS"] = settings.bootstrap_servers
    env["CHOREO_TOPIC_PREFIX"] = settings.topic_prefix
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


@pytest.fixture
def run_cli(cli_env: dict[str, str]) -> RunCli:
    """Run ``python -m choreo ARGS...`` as a subprocess with this test's settings.

    ``env`` entries are added to (and override) ``cli_env``. Returns the ``CompletedProcess``
    with text stdout and stderr; a non-zero exit is returned, not raised.
    """

    def run(
        *args: str, env: Mapping[str, str] | None = None, timeout: float = CLI_TIMEOUT_SECONDS
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "choreo", *args],
            env={**cli_env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run
