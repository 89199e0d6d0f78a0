"""``ApacheKafka`` nodes of their own (not the session's broker): restarts keep address and data.

Broker-restart tests rely on this: after ``kill()`` or ``stop()``, ``start()`` brings the same
node back on the same port, with its records and committed offsets.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer

from choreo.apache_kafka import ApacheKafka, ApacheKafkaError

pytestmark = pytest.mark.apache_kafka

TOPIC = "restart.me"
GROUP = "restart-group"
RECORDS = 10
#: What the group coordinator answers while it is created (a fresh node's first group) or
#: loaded (after a restart); librdkafka reports it and asks again.
COORDINATOR_NOT_READY = frozenset(
    {
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    }
)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[ApacheKafka]:
    """A started node of this test's own, stopped afterwards."""
    with ApacheKafka(tmp_path / "node") as kafka:
        yield kafka


def produce(bootstrap: str, count: int) -> None:
    """Write ``count`` records to the topic and wait until the broker has them all."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(count):
        producer.produce(TOPIC, value=f"r{i}".encode(), partition=0)
    assert producer.flush(30) == 0


def consume(bootstrap: str, count: int, *, commit: bool) -> list[bytes | None]:
    """Read up to ``count`` records as the test's group, committing them if asked.

    It subscribes rather than assigns: a member of the group asks the coordinator again after
    NOT_COORDINATOR, where librdkafka's offset fetch for a manual assignment stalls.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": GROUP,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([TOPIC])
    values: list[bytes | None] = []
    try:
        for message in iter(lambda: consumer.poll(10), None):
            error = message.error()
            if error is not None:
                assert error.code() in COORDINATOR_NOT_READY, error
                continue
            values.append(message.value())
            if len(values) == count:
                break
        if commit and values:
            consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return values


@pytest.mark.parametrize("hard", [False, True], ids=["stop", "kill"])
def test_restart_keeps_address_records_and_offsets(node: ApacheKafka, hard: bool) -> None:
    """After stop() or kill(), start() serves the same address, records and committed offsets."""
    address = node.bootstrap_servers
    produce(address, RECORDS)
    assert len(consume(address, RECORDS // 2, commit=True)) == RECORDS // 2
    node.restart(hard=hard)
    assert node.bootstrap_servers == address
    rest = RECORDS - RECORDS // 2
    assert consume(address, rest, commit=False) == [
        f"r{i}".encode() for i in range(RECORDS // 2, RECORDS)
    ]


def test_a_new_node_on_an_old_directory_keeps_its_cluster(tmp_path: Path) -> None:
    """A second ApacheKafka on a stopped node's directory reuses its storage and cluster id."""
    with ApacheKafka(tmp_path / "node") as first:
        produce(first.bootstrap_servers, RECORDS)
    meta = (tmp_path / "node" / "log" / "meta.properties").read_text()
    with ApacheKafka(tmp_path / "node") as second:
        assert len(consume(second.bootstrap_servers, RECORDS, commit=False)) == RECORDS
    assert (tmp_path / "node" / "log" / "meta.properties").read_text() == meta


def test_a_taken_port_is_reported_before_java_starts(tmp_path: Path) -> None:
    """Asking for a port something else listens on fails at once, naming the address."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ApacheKafkaError, match=f"cannot listen on 127.0.0.1:{port}"):
            ApacheKafka(tmp_path / "node", port).start()
    assert not (tmp_path / "node").exists()
