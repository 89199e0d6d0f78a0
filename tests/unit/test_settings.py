"""Settings come from CHOREO_* variables, pass librdkafka options through, and hide secrets."""

from __future__ import annotations

import pytest

from choreo.errors import ConfigError
from choreo.kafka.config import consumer_config, producer_config
from choreo.settings import load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without environment the broker is localhost:9092 and the prefix 'choreo.'."""
    for name in ("CHOREO_BOOTSTRAP_SERVERS", "CHOREO_TOPIC_PREFIX", "CHOREO_SCHEMA_REGISTRY_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.bootstrap_servers == "localhost:9092"
    assert settings.topic_prefix == "choreo."
    assert settings.schema_registry_url is None


def test_librdkafka_options_pass_through(monkeypatch: pytest.MonkeyPatch) -> None:
    """CHOREO_KAFKA__SECURITY_PROTOCOL reaches librdkafka as security.protocol."""
    monkeypatch.setenv("CHOREO_BOOTSTRAP_SERVERS", "k1:9093,k2:9093")
    monkeypatch.setenv("CHOREO_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("CHOREO_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("CHOREO_KAFKA__SASL_PASSWORD", "hunter2")
    config = producer_config(load_settings())
    assert config["bootstrap.servers"] == "k1:9093,k2:9093"
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert config["sasl.password"] == "hunter2"


def test_producer_defaults_are_safe_and_java_compatible() -> None:
    """Producers are idempotent, wait for all replicas and partition like Java clients."""
    config = producer_config(load_settings(bootstrap_servers="b:1"))
    assert config["enable.idempotence"] == "true"
    assert config["acks"] == "all"
    assert config["partitioner"] == "murmur2_random"


def test_user_options_override_defaults_for_consumers() -> None:
    """A user's librdkafka option wins over choreo's default."""
    settings = load_settings(kafka={"auto_offset_reset": "earliest"})
    assert consumer_config(settings, "g")["auto.offset.reset"] == "earliest"


def test_secrets_never_rendered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Passwords and registry credentials do not appear in repr or the redacted view."""
    monkeypatch.setenv("CHOREO_KAFKA__SASL_PASSWORD", "hunter2")
    monkeypatch.setenv("CHOREO_SCHEMA_REGISTRY_AUTH", "user:s3cret")
    settings = load_settings()
    shown = f"{settings!r} {settings.redacted()}"
    assert "hunter2" not in shown
    assert "s3cret" not in shown
    assert settings.redacted()["kafka"]["sasl.password"] == "**********"


def test_bad_setting_raises_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A malformed value is a ConfigError naming the variable."""
    monkeypatch.setenv("CHOREO_TOPIC_PARTITIONS", "many")
    with pytest.raises(ConfigError, match="CHOREO_TOPIC_PARTITIONS"):
        load_settings()
