"""Apache Kafka itself as a child process, so tests can use the real broker without Docker.

The embedded broker (Tansu) starts in milliseconds but is not Apache Kafka: group rebalances,
transactions and compaction behave differently, and choreo promises to work on both. This
package runs the real thing from its jars. Maven fetches ``org.apache.kafka:kafka_2.13`` and its
runtime dependencies from Maven Central once, into ``~/.cache/choreo/kafka/<version>/libs``
(``$CHOREO_APACHE_KAFKA_CACHE/<version>/libs`` if set). Each ``ApacheKafka`` is one combined
broker and controller KRaft node on free ports, with its storage in a directory the caller owns;
because that data survives ``stop()`` and ``kill()``, ``restart()`` brings back the same node
with the same address, topics and committed offsets, which broker-restart tests need.

It needs ``java`` (17 or newer) to run and ``mvn`` for the first fetch only. By hand:
``python -m choreo.apache_kafka run --port 9092`` (or ``scripts/apache-kafka run``).
"""

from choreo.apache_kafka._fetch import (
    CACHE_ENV,
    DEFAULT_VERSION,
    default_cache_dir,
    fetch,
    render_pom,
)
from choreo.apache_kafka._node import ApacheKafka, new_cluster_id, render_server_properties
from choreo.apache_kafka._tools import ApacheKafkaError

__all__ = [
    "CACHE_ENV",
    "DEFAULT_VERSION",
    "ApacheKafka",
    "ApacheKafkaError",
    "default_cache_dir",
    "fetch",
    "new_cluster_id",
    "render_pom",
    "render_server_properties",
]
