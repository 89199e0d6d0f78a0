"""Topic names, derived from the configured prefix and nothing else.

Every component (services, emitter, collector, CLI) builds topic names here, so they agree on
them without talking to each other, and a name Kafka would refuse is caught with a message that
says which limit it breaks instead of surfacing as a broker error later. Pure: no Kafka, no I/O.

Layout, for the default prefix ``choreo.``::

    choreo.asset.<asset key>      one per asset: its UPDATED / FAILED events
    choreo.declarations           compacted, keyed by asset: what each service declares
    choreo.request.<asset key>    re-materialisation and backfill requests
    choreo.dlq.<service>          dead letters of one service
    choreo.changelog.<service>    compacted state changelog of one service
"""

from __future__ import annotations

import re

from choreo.errors import InvalidInputError
from choreo.events.keys import validate_asset_key

#: Kafka refuses longer topic names (Topic.MAX_NAME_LENGTH in Apache Kafka).
TOPIC_NAME_MAX = 249
TOPIC_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")
TOPIC_NAME_FORM = f"1-{TOPIC_NAME_MAX} characters of [A-Za-z0-9._-], not '.' or '..'"

SERVICE_NAME_FORM = (
    "lower-case letters, digits and _ . - starting with a letter or digit, e.g. sales-summary"
)
SERVICE_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]*")
# Service names end up in topic names ("<prefix>changelog.<service>") and consumer group ids;
# holding them to 100 characters leaves room for any prefix the settings accept.
SERVICE_NAME_MAX = 100

ASSET_SEGMENT = "asset."
REQUEST_SEGMENT = "request."
DLQ_SEGMENT = "dlq."
CHANGELOG_SEGMENT = "changelog."
DECLARATIONS_NAME = "declarations"


def validate_topic_name(name: str) -> str:
    """Return ``name`` if Kafka accepts it as a topic name, else raise ``InvalidInputError``."""
    if name in {".", ".."}:
        raise InvalidInputError(f"topic name {name!r} is reserved by Kafka; use {TOPIC_NAME_FORM}")
    if len(name) > TOPIC_NAME_MAX:
        raise InvalidInputError(
            f"topic name {name[:40]!r}… is {len(name)} characters; "
            f"Kafka allows at most {TOPIC_NAME_MAX}"
        )
    if not TOPIC_NAME_RE.fullmatch(name):
        raise InvalidInputError(f"invalid topic name {name!r}: Kafka allows {TOPIC_NAME_FORM}")
    return name


def validate_service_name(name: str) -> str:
    """Return ``name`` if it is a valid service name, else raise ``InvalidInputError``."""
    if len(name) > SERVICE_NAME_MAX:
        raise InvalidInputError(
            f"service name {name[:40]!r}… is {len(name)} characters; "
            f"at most {SERVICE_NAME_MAX} allowed"
        )
    if not SERVICE_NAME_RE.fullmatch(name):
        raise InvalidInputError(f"invalid service name {name!r}: use {SERVICE_NAME_FORM}")
    return name


def asset_topic(prefix: str, asset_key: str) -> str:
    """The topic carrying ``asset_key``'s events: ``<prefix>asset.<key>``."""
    return validate_topic_name(f"{prefix}{ASSET_SEGMENT}{validate_asset_key(asset_key)}")


def declarations_topic(prefix: str) -> str:
    """The compacted topic of asset declarations: ``<prefix>declarations``."""
    return validate_topic_name(f"{prefix}{DECLARATIONS_NAME}")


def request_topic(prefix: str, asset_key: str) -> str:
    """The topic of materialisation requests for ``asset_key``: ``<prefix>request.<key>``."""
    return validate_topic_name(f"{prefix}{REQUEST_SEGMENT}{validate_asset_key(asset_key)}")


def dlq_topic(prefix: str, service: str) -> str:
    """The dead-letter topic of ``service``: ``<prefix>dlq.<service>``."""
    return validate_topic_name(f"{prefix}{DLQ_SEGMENT}{validate_service_name(service)}")


def changelog_topic(prefix: str, service: str) -> str:
    """The compacted state changelog of ``service``: ``<prefix>changelog.<service>``."""
    return validate_topic_name(f"{prefix}{CHANGELOG_SEGMENT}{validate_service_name(service)}")


def asset_from_topic(prefix: str, topic: str) -> str | None:
    """The asset key whose events ``topic`` carries, or ``None`` if it is no asset topic."""
    head = f"{prefix}{ASSET_SEGMENT}"
    if not topic.startswith(head):
        return None
    key = topic[len(head) :]
    try:
        return validate_asset_key(key)
    except InvalidInputError:
        return None


def asset_topic_pattern(prefix: str) -> str:
    """A librdkafka regex subscription matching every asset topic, e.g. ``^choreo\\.asset\\..*``.

    Only ``.`` needs escaping: it is the one regex metacharacter a topic name can contain, and
    librdkafka's own regex engine is not guaranteed to accept Python's escapes of ``-`` or ``_``.
    """
    head = validate_topic_name(f"{prefix}{ASSET_SEGMENT}")
    return "^" + head.replace(".", "\\.") + ".*"
