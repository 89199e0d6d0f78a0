"""Fetching the broker's jars from Maven Central once, and finding them again afterwards.

Apache Kafka's own POM (``org.apache.kafka:kafka_2.13``) lists as runtime dependencies every
module a KRaft node loads: server, storage, raft, metadata, the group, transaction and share
coordinators, Scala, Jackson, metrics. So a generated POM needs only that artifact plus the
SLF4J binding the distribution adds for its logs, and ``mvn dependency:copy-dependencies`` does
the rest, honouring the user's ``~/.m2/settings.xml`` (mirrors, proxies).
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

import structlog

from choreo.apache_kafka._tools import ApacheKafkaError, find_tool, last_lines, run_tool

log = structlog.get_logger(__name__)

DEFAULT_VERSION = "4.2.0"
SCALA_VERSION = "2.13"
#: The log4j that Kafka's ``kafka-server`` POM depends on; the SLF4J binding must match it.
LOG4J_VERSION = "2.25.3"
#: Pinned so a fetch does the same thing on every machine, whatever Maven's default plugin is.
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
CACHE_ENV = "CHOREO_APACHE_KAFKA_CACHE"
#: A cold fetch moves about 65 MB (jars and Maven's plugins); allow for a slow network.
FETCH_TIMEOUT_SECONDS = 900.0
#: The first major release without ZooKeeper: the node is configured for KRaft only.
FIRST_MAJOR = 4

POM = """\
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>choreo.local</groupId>
  <artifactId>apache-kafka-runtime</artifactId>
  <version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_{scala}</artifactId>
      <version>{version}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""


def checked_version(version: str) -> str:
    """``version`` if it names an Apache Kafka 4.x (or later) release, e.g. ``4.2.0``.

    Raises:
        ApacheKafkaError: it does not.
    """
    match = re.fullmatch(r"(\d+)\.\d+\.\d+", version)
    if match is None or int(match[1]) < FIRST_MAJOR:
        raise ApacheKafkaError(
            f"need an Apache Kafka 4.x release such as {DEFAULT_VERSION}, not {version!r}"
        )
    return version


def default_cache_dir() -> Path:
    """``$CHOREO_APACHE_KAFKA_CACHE``, else ``$XDG_CACHE_HOME/choreo/kafka`` or ``~/.cache/…``."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "choreo" / "kafka"


def render_pom(version: str) -> str:
    """A POM whose runtime dependencies are what a KRaft node of ``version`` needs to start."""
    return POM.format(version=checked_version(version), scala=SCALA_VERSION, log4j=LOG4J_VERSION)


def fetch(version: str = DEFAULT_VERSION, cache_dir: Path | None = None) -> Path:
    """The directory of the broker's jars, fetched with Maven on first use and cached after.

    Several processes may fetch at once: each copies into its own directory and renames it into
    place, so nobody sees half a set of jars.

    Raises:
        ApacheKafkaError: ``mvn`` is missing or could not fetch the jars (the message quotes it).
    """
    libs = (cache_dir or default_cache_dir()) / checked_version(version) / "libs"
    if libs.is_dir():
        return libs
    mvn = find_tool("mvn")
    libs.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=libs.parent, prefix=".fetch-") as work:
        pom = Path(work) / "pom.xml"
        pom.write_text(render_pom(version), encoding="utf-8")
        staged = Path(work) / "libs"
        command = [mvn, "-B", "-ntp", "-f", str(pom), f"{DEPENDENCY_PLUGIN}:copy-dependencies"]
        command += ["-DincludeScope=runtime", f"-DoutputDirectory={staged}"]
        log.info("apache_kafka.fetch", version=version, libs=str(libs))
        started = time.monotonic()
        done = run_tool(command, FETCH_TIMEOUT_SECONDS)
        if done.returncode != 0 or not staged.is_dir():
            raise ApacheKafkaError(
                f"Maven could not fetch org.apache.kafka:kafka_{SCALA_VERSION}:{version} from "
                f"Maven Central (or the mirror in ~/.m2/settings.xml):\n{last_lines(done.stdout)}"
            )
        try:
            staged.rename(libs)
        except OSError:
            if not libs.is_dir():  # not a concurrent fetch that got there first
                raise
        log.info("apache_kafka.fetched", version=version, seconds=round(time.monotonic() - started))
    return libs
