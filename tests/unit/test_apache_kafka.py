"""What ``choreo.apache_kafka`` does before a JVM runs: configs, the jar cache, missing tools.

Starting Apache Kafka belongs to the integration tests; here ``mvn`` is a shell script standing
in on ``PATH`` when one is needed, and nothing listens or reaches the network.
"""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from choreo.apache_kafka import (
    CACHE_ENV,
    DEFAULT_VERSION,
    ApacheKafka,
    ApacheKafkaError,
    default_cache_dir,
    fetch,
    new_cluster_id,
    render_pom,
    render_server_properties,
)
from choreo.apache_kafka.__main__ import main
from choreo.errors import EmbeddedBrokerError

#: Stands in for Maven: records its call, then copies "jars" to -DoutputDirectory=...
FAKE_MVN = """#!/bin/sh
echo "$@" >> "{calls}"
for arg in "$@"; do
  case "$arg" in -DoutputDirectory=*) out="${{arg#-DoutputDirectory=}}" ;; esac
done
mkdir -p "$out" && touch "$out/kafka_2.13-{version}.jar"
"""
FAILING_MVN = """#!/bin/sh
echo "[ERROR] Could not resolve dependencies: org.apache.kafka:kafka_2.13:jar:4.9.9"
exit 1
"""


def tools_dir(tmp_path: Path, **scripts: str) -> Path:
    """A directory holding the given executable scripts, by name, to put on ``PATH``."""
    directory = tmp_path / "bin"
    directory.mkdir()
    for name, text in scripts.items():
        path = directory / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return directory


@pytest.fixture
def only_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty directory as the whole ``PATH``, without ``JAVA_HOME``: no java, no mvn."""
    empty = tmp_path / "nothing"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    return empty


def properties(text: str) -> dict[str, str]:
    """``server.properties`` text as a dict."""
    return dict(line.split("=", 1) for line in text.splitlines())


def test_pom_depends_on_the_broker_and_a_log_binding() -> None:
    """The generated POM asks for kafka_2.13 at the version, and log4j's SLF4J binding."""
    pom = render_pom("4.1.1")
    assert "<artifactId>kafka_2.13</artifactId>\n      <version>4.1.1</version>" in pom
    assert "<artifactId>log4j-slf4j-impl</artifactId>" in pom


@pytest.mark.parametrize("version", ["3.9.1", "4.2", "latest", "4.2.0; rm -rf /"])
def test_only_kafka_4_releases_are_accepted(version: str) -> None:
    """A ZooKeeper-era release or a malformed version is refused before Maven or Java run."""
    with pytest.raises(ApacheKafkaError, match=r"4\.x release"):
        ApacheKafka("unused", version=version)


def test_server_properties_describe_one_kraft_node_for_tests(tmp_path: Path) -> None:
    """One broker+controller node on the given ports, single-replica internal topics."""
    config = properties(render_server_properties(tmp_path, "127.0.0.1", 19092, 19093))
    assert config["process.roles"] == "broker,controller"
    assert config["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert config["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert config["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert config["log.dirs"] == str(tmp_path / "log")
    assert {
        key: config[key]
        for key in (
            "offsets.topic.replication.factor",
            "transaction.state.log.replication.factor",
            "transaction.state.log.min.isr",
            "group.initial.rebalance.delay.ms",
            "num.partitions",
        )
    } == {
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "num.partitions": "3",
    }


def test_ipv6_hosts_are_bracketed(tmp_path: Path) -> None:
    """An IPv6 literal is written [host]:port in listeners and in bootstrap_servers."""
    config = properties(render_server_properties(tmp_path, "::1", 19092, 19093))
    assert config["advertised.listeners"] == "PLAINTEXT://[::1]:19092"
    assert ApacheKafka(tmp_path, 19092, host="::1").bootstrap_servers == "[::1]:19092"


def test_cluster_ids_have_kafkas_form() -> None:
    """A cluster id is 16 random bytes as unpadded URL-safe base64, never starting with '-'."""
    ids = {new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    for cluster_id in ids:
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_cache_dir_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """$CHOREO_APACHE_KAFKA_CACHE wins, then $XDG_CACHE_HOME/choreo/kafka, then ~/.cache."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv(CACHE_ENV)
    assert default_cache_dir() == tmp_path / "xdg" / "choreo" / "kafka"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "choreo" / "kafka"


def test_cached_jars_are_reused_without_maven(only_on_path: Path, tmp_path: Path) -> None:
    """With the version's libs/ in the cache, fetch returns it and needs no mvn at all."""
    libs = tmp_path / "cache" / DEFAULT_VERSION / "libs"
    libs.mkdir(parents=True)
    assert fetch(DEFAULT_VERSION, tmp_path / "cache") == libs


def test_fetch_runs_maven_once_then_uses_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The first fetch runs mvn copy-dependencies into the cache; the second one does not."""
    calls = tmp_path / "calls"
    fake = FAKE_MVN.format(calls=calls, version="4.1.1")
    # First on PATH, before any real mvn; the system's directories give it mkdir and touch.
    monkeypatch.setenv("PATH", f"{tools_dir(tmp_path, mvn=fake)}:/usr/bin:/bin")
    cache = tmp_path / "cache"
    libs = fetch("4.1.1", cache)
    assert libs == cache / "4.1.1" / "libs"
    assert [p.name for p in libs.iterdir()] == ["kafka_2.13-4.1.1.jar"]
    assert fetch("4.1.1", cache) == libs
    [call] = calls.read_text().splitlines()
    assert ":copy-dependencies" in call
    assert "-DincludeScope=runtime" in call
    assert [p.name for p in (cache / "4.1.1").iterdir()] == ["libs"]  # no staging left over


def test_failed_fetch_quotes_maven_and_caches_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """When Maven fails, the error names the artifact and quotes Maven; the cache stays empty."""
    monkeypatch.setenv("PATH", str(tools_dir(tmp_path, mvn=FAILING_MVN)))
    with pytest.raises(ApacheKafkaError) as info:
        fetch("4.9.9", tmp_path / "cache")
    assert "org.apache.kafka:kafka_2.13:4.9.9" in str(info.value)
    assert "Could not resolve dependencies" in str(info.value)
    assert list((tmp_path / "cache" / "4.9.9").iterdir()) == []


def test_missing_java_names_what_to_install(only_on_path: Path, tmp_path: Path) -> None:
    """Without java, start() says to install a Java 17+ runtime, before fetching anything."""
    with pytest.raises(ApacheKafkaError, match=r"needs 'java'.*openjdk-17-jre-headless"):
        ApacheKafka(tmp_path / "node", cache_dir=tmp_path / "cache").start()
    assert not (tmp_path / "cache").exists()


def test_missing_maven_names_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With java but neither mvn nor cached jars, start() says to install Maven."""
    monkeypatch.setenv("PATH", str(tools_dir(tmp_path, java="#!/bin/sh\nexit 1\n")))
    with pytest.raises(ApacheKafkaError, match=r"needs 'mvn'.*apt-get install maven"):
        ApacheKafka(tmp_path / "node", cache_dir=tmp_path / "cache").start()


def test_errors_map_to_the_broker_exit_code() -> None:
    """ApacheKafkaError is an EmbeddedBrokerError, so the CLI maps it to exit code 3."""
    assert issubclass(ApacheKafkaError, EmbeddedBrokerError)


def test_a_node_never_started_is_harmless(tmp_path: Path) -> None:
    """Before start() it is not running, and stop() and kill() do nothing."""
    kafka = ApacheKafka(tmp_path, 9092)
    assert not kafka.running
    assert kafka.bootstrap_servers == "127.0.0.1:9092"
    kafka.stop()
    kafka.kill()
    assert kafka.log_tail() == ""
    assert list(tmp_path.iterdir()) == []


def test_fetch_command_prints_the_jar_directory(
    only_on_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python -m choreo.apache_kafka fetch`` prints the cached libs directory on stdout."""
    libs = tmp_path / "cache" / DEFAULT_VERSION / "libs"
    libs.mkdir(parents=True)
    assert main(["--cache-dir", str(tmp_path / "cache"), "fetch"]) == 0
    assert capsys.readouterr().out == f"{libs}\n"


def test_run_command_without_java_exits_3(
    only_on_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run`` without java exits 3 with one error line naming what to install."""
    assert main(["--cache-dir", str(tmp_path), "run", "--data-dir", str(tmp_path / "n")]) == 3
    assert capsys.readouterr().err.startswith("error: Apache Kafka needs 'java'")
