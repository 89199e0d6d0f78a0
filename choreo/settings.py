"""Settings, read once at the entry point from ``CHOREO_*`` environment variables.

Any librdkafka option passes through untouched as ``CHOREO_KAFKA__<OPTION>`` (dots written as
underscores, e.g. ``CHOREO_KAFKA__SASL_MECHANISM=PLAIN`` → ``sasl.mechanism``), so TLS and SASL
need no code of ours. Values that look like credentials are held as ``SecretStr`` and are never
rendered by ``redacted()``, which is what logs and ``--help`` output use.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from choreo.errors import ConfigError

#: Substrings of librdkafka option names whose values are credentials.
SECRET_MARKERS = ("password", "secret", "key", "token", "jaas")
DEFAULT_BOOTSTRAP = "localhost:9092"


def _option_name(name: str) -> str:
    """``sasl_mechanism`` → ``sasl.mechanism``; dotted names are kept as they are."""
    return name.strip().lower().replace("_", ".")


def _is_secret(option: str) -> bool:
    return any(marker in option for marker in SECRET_MARKERS)


class Settings(BaseSettings):
    """Everything choreo reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="CHOREO_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    bootstrap_servers: str = Field(default=DEFAULT_BOOTSTRAP, min_length=1)
    topic_prefix: str = Field(default="choreo.", pattern=r"^[A-Za-z0-9._-]{0,100}$")
    schema_registry_url: str | None = None
    schema_registry_auth: SecretStr | None = Field(
        default=None, description="USER:PASSWORD for the schema registry's basic auth"
    )
    collector_db: str = Field(
        default="sqlite:///.choreo/collector.db",
        description="SQLAlchemy URL of the collector's store (sqlite:///… or postgresql+psycopg://…)",
    )
    collector_url: str = Field(
        default="http://127.0.0.1:8350", description="Where `choreo lineage` finds the collector"
    )
    collector_token: SecretStr | None = Field(
        default=None, description="Bearer token the collector's API requires (never logged)"
    )
    topic_partitions: int = Field(default=3, ge=1, le=10_000)
    topic_replication_factor: int = Field(default=1, ge=1, le=32)
    kafka: dict[str, str | SecretStr] = Field(default_factory=dict)

    @field_validator("kafka", mode="before")
    @classmethod
    def _normalise_kafka(cls, value: Any) -> dict[str, SecretStr | str]:
        if not isinstance(value, dict):
            raise TypeError("kafka options must be a mapping of librdkafka option to value")
        options: dict[str, SecretStr | str] = {}
        for raw_name, raw_value in value.items():
            name = _option_name(str(raw_name))
            text = (
                raw_value.get_secret_value()
                if isinstance(raw_value, SecretStr)
                else str(raw_value).lower()
                if isinstance(raw_value, bool)
                else str(raw_value)
            )
            options[name] = SecretStr(text) if _is_secret(name) else text
        return options

    def librdkafka(self) -> dict[str, str]:
        """The pass-through librdkafka options with secrets revealed, for the client only."""
        return {
            name: value.get_secret_value() if isinstance(value, SecretStr) else value
            for name, value in self.kafka.items()
        }

    def redacted(self) -> dict[str, Any]:
        """A view safe to log: every secret replaced by ``**********``."""
        shown = self.model_dump()
        shown["kafka"] = {
            name: "**********" if isinstance(value, SecretStr) else value
            for name, value in self.kafka.items()
        }
        if self.schema_registry_auth is not None:
            shown["schema_registry_auth"] = "**********"
        if self.collector_token is not None:
            shown["collector_token"] = "**********"  # noqa: S105 - the mask, not a secret
        return shown


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment (and ``overrides``), raising ``ConfigError`` if bad."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"CHOREO_{'__'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
