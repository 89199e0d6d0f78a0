"""librdkafka configurations: choreo's defaults, which the user's options override."""

from __future__ import annotations

from choreo.kafka.config import consumer_config
from choreo.settings import Settings


def test_consumers_wait_briefly_for_data_by_default() -> None:
    """A fetch waits at most 10 ms for data, so a hop of a cascade is not held up by brokers
    that answer only when the wait is over."""
    config = consumer_config(Settings(), "g")
    assert config["fetch.wait.max.ms"] == "10"
    assert config["group.id"] == "g"
    assert config["enable.auto.commit"] == "false"


def test_user_options_override_the_defaults_and_extra_overrides_both() -> None:
    """``CHOREO_KAFKA__FETCH_WAIT_MAX_MS`` and friends win over choreo's defaults."""
    settings = Settings(kafka={"fetch.wait.max.ms": "250", "auto.offset.reset": "latest"})
    assert consumer_config(settings, "g")["fetch.wait.max.ms"] == "250"
    assert (
        consumer_config(settings, "g", **{"auto.offset.reset": "earliest"})["auto.offset.reset"]
        == "earliest"
    )
