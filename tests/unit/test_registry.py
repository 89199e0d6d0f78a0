"""Tests of ``SchemaRegistryClient`` against a tiny in-process registry on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import SecretStr

from choreo.codec import AvroCodec, SchemaSet
from choreo.errors import ConfigError, RegistryError, UnreachableError
from choreo.events.models import AssetEvent, ProducerInfo
from choreo.registry import MAX_RESPONSE_BYTES, MEDIA_TYPE, SchemaRegistryClient

SUBJECT = "choreo.asset.shop.orders-value"
SECRET = "s3cr3t-Pa55"  # noqa: S105 - made up, to look for in error messages


@dataclass
class RegistryState:
    """What the fake registry holds and what it was asked."""

    schemas: list[str] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    required_auth: str | None = None
    # path -> (status, body, extra headers) served instead of the normal behaviour
    canned: dict[str, tuple[int, bytes, dict[str, str]]] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    """The two registry calls choreo makes, with the registry's error format."""

    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def _answer(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", MEDIA_TYPE)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _answered_early(self, method: str) -> bool:
        """Record the request; answer it here if it is canned or lacks the required auth."""
        state = self.server.state
        state.requests.append((method, self.path, dict(self.headers.items())))
        if self.path in state.canned:
            self._answer(*state.canned[self.path])
            return True
        if state.required_auth and self.headers.get("Authorization") != state.required_auth:
            self._answer(401, {"error_code": 401, "message": "Unauthorized"})
            return True
        return False

    def do_POST(self) -> None:
        """POST /subjects/{subject}/versions: register, or find, a schema."""
        if self._answered_early("POST"):
            return
        length = int(self.headers.get("Content-Length", "0"))
        schema = json.loads(self.rfile.read(length))["schema"]
        schemas = self.server.state.schemas
        if schema not in schemas:
            schemas.append(schema)
        self._answer(200, {"id": schemas.index(schema) + 1})

    def do_GET(self) -> None:
        """GET /schemas/ids/{id}: a schema by its global id."""
        if self._answered_early("GET"):
            return
        schemas = self.server.state.schemas
        schema_id = int(self.path.removeprefix("/schemas/ids/"))
        if not 1 <= schema_id <= len(schemas):
            self._answer(404, {"error_code": 40403, "message": "Schema not found"})
            return
        self._answer(200, {"schema": schemas[schema_id - 1]})


class _Server(ThreadingHTTPServer):
    state: RegistryState


@dataclass
class FakeRegistry:
    """A running fake registry: its URL and its state."""

    url: str
    state: RegistryState


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    """A fake schema registry on 127.0.0.1, on a free port, in a thread."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = RegistryState()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield FakeRegistry(f"http://{host!s}:{port}", server.state)
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.fixture(scope="module")
def schemas() -> SchemaSet:
    """The repository's schemas."""
    return SchemaSet.load()


def _event() -> AssetEvent:
    return AssetEvent(
        asset="shop.orders",
        partition="2026-11-20",
        version="o-17",
        producer=ProducerInfo(service="ingest", instance="ingest-0"),
        metadata={"rows": 1200, "ratio": 1.0, "complete": True},
    )


def test_registry_framing_round_trip(registry: FakeRegistry, schemas: SchemaSet) -> None:
    """A value framed with a registered id decodes in a codec that looks the id up."""
    producer = SchemaRegistryClient(registry.url)
    schema_id = producer.register(SUBJECT, schemas.canonical("choreo.AssetEvent"))
    event = _event()
    value = AvroCodec(schemas).encode(event, schema_id=schema_id)

    consumer = AvroCodec(schemas, registry_lookup=SchemaRegistryClient(registry.url).schema_by_id)

    assert value[:5] == b"\x00" + schema_id.to_bytes(4, "big")
    assert consumer.decode(value) == event
    assert consumer.decode(value) == event
    assert [(method, path) for method, path, _ in registry.state.requests] == [
        ("POST", f"/subjects/{SUBJECT}/versions"),
        ("GET", f"/schemas/ids/{schema_id}"),
    ]


def test_register_sends_the_registry_media_type(registry: FakeRegistry, schemas: SchemaSet) -> None:
    """register posts {"schema": …} as application/vnd.schemaregistry.v1+json."""
    SchemaRegistryClient(registry.url).register(SUBJECT, schemas.canonical("choreo.AssetEvent"))
    _, _, headers = registry.state.requests[0]
    assert headers["Content-Type"] == MEDIA_TYPE
    assert MEDIA_TYPE in headers["Accept"]
    assert registry.state.schemas == [schemas.canonical("choreo.AssetEvent")]


def test_registering_twice_gives_the_same_id(registry: FakeRegistry, schemas: SchemaSet) -> None:
    """The same schema registered again keeps its id; another schema gets another."""
    client = SchemaRegistryClient(registry.url)
    first = client.register(SUBJECT, schemas.canonical("choreo.AssetEvent"))
    again = client.register(SUBJECT, schemas.canonical("choreo.AssetEvent"))
    other = client.register("choreo.declarations-value", schemas.canonical("choreo.AssetDeclared"))
    assert first == again != other


def test_subject_is_percent_encoded(registry: FakeRegistry) -> None:
    """A subject with a slash or space stays one path segment."""
    SchemaRegistryClient(registry.url + "/").register("odd/subject name", '"string"')
    assert registry.state.requests[0][1] == "/subjects/odd%2Fsubject%20name/versions"


def test_schema_by_id_is_cached(registry: FakeRegistry) -> None:
    """A schema is fetched once per id; registering also fills the cache."""
    registry.state.schemas.append('"string"')
    client = SchemaRegistryClient(registry.url)
    assert client.schema_by_id(1) == client.schema_by_id(1) == '"string"'
    assert client.schema_by_id(client.register(SUBJECT, '"long"')) == '"long"'
    assert [method for method, _, _ in registry.state.requests] == ["GET", "POST"]


def test_unknown_id_raises_registry_error_with_the_registry_message(
    registry: FakeRegistry,
) -> None:
    """A 404 raises RegistryError quoting the registry and naming the URL."""
    with pytest.raises(RegistryError) as caught:
        SchemaRegistryClient(registry.url).schema_by_id(42)
    message = str(caught.value)
    assert f"{registry.url}/schemas/ids/42 answered HTTP 404: Schema not found" in message
    assert "\n" not in message


def test_basic_auth_is_sent(registry: FakeRegistry) -> None:
    """auth is sent as HTTP basic auth."""
    expected = "Basic " + base64.b64encode(f"alice:{SECRET}".encode()).decode()
    registry.state.required_auth = expected
    client = SchemaRegistryClient(registry.url, auth=SecretStr(f"alice:{SECRET}"))
    assert client.register(SUBJECT, '"string"') == 1
    assert registry.state.requests[0][2]["Authorization"] == expected


def test_credentials_in_the_url_are_used_and_hidden(registry: FakeRegistry) -> None:
    """User-info in the URL becomes basic auth and is left out of url and messages."""
    registry.state.required_auth = "Basic " + base64.b64encode(b"bob:p@ss").decode()
    host = registry.url.removeprefix("http://")
    client = SchemaRegistryClient(f"http://bob:p%40ss@{host}")
    assert client.url == registry.url
    assert client.register(SUBJECT, '"string"') == 1
    with pytest.raises(RegistryError) as caught:
        client.schema_by_id(7)
    assert "bob" not in str(caught.value)
    assert "p@ss" not in str(caught.value)


def test_rejected_credentials_are_not_in_the_message(registry: FakeRegistry) -> None:
    """A 401 says to check the auth setting and never shows the credentials."""
    registry.state.required_auth = "Basic something-else"
    client = SchemaRegistryClient(registry.url, auth=SecretStr(f"alice:{SECRET}"))
    with pytest.raises(RegistryError, match=r"HTTP 401.*CHOREO_SCHEMA_REGISTRY_AUTH") as caught:
        client.register(SUBJECT, '"string"')
    assert SECRET not in str(caught.value)
    assert "alice" not in str(caught.value)
    assert SECRET not in repr(caught.value.__cause__)


def test_unreachable_registry_fails_fast(closed_port: int) -> None:
    """A registry URL where nothing listens raises RegistryError quickly, naming the URL."""
    client = SchemaRegistryClient(f"http://127.0.0.1:{closed_port}", timeout=5.0)
    started = time.monotonic()
    with pytest.raises(RegistryError, match=rf"127\.0\.0\.1:{closed_port}.* is unreachable"):
        client.schema_by_id(1)
    assert time.monotonic() - started < 2.0


def test_unreachable_registry_is_an_unreachable_error(closed_port: int) -> None:
    """RegistryError is an UnreachableError, so the CLI maps it to exit code 4."""
    with pytest.raises(UnreachableError):
        SchemaRegistryClient(f"http://127.0.0.1:{closed_port}").register(SUBJECT, '"string"')


def test_silent_registry_times_out() -> None:
    """A registry that accepts the connection but never answers raises after the timeout."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        client = SchemaRegistryClient(f"http://127.0.0.1:{port}", timeout=0.2)
        started = time.monotonic()
        with pytest.raises(RegistryError, match=r"did not answer within 0\.2 s"):
            client.schema_by_id(1)
        assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (
            409,
            b'{"error_code": 409, "message": "Schema being registered is incompatible"}',
            r"HTTP 409: Schema being registered is incompatible; the schema breaks",
        ),
        (
            422,
            b'{"error_code": 42201, "message": "Invalid schema"}',
            r"HTTP 422: Invalid schema; the registry rejects the schema",
        ),
        (
            500,
            b"<html>\n<body>Internal error</body>\n</html>",
            r"HTTP 500: <html> <body>Internal error</body> </html>; check the registry's logs",
        ),
        (200, b"<html>a web page</html>", r"answered with something that is not JSON"),
        (200, b"[1, 2]", r"answered with unexpected JSON"),
        (200, b'{"version": 1}', r"answered without a schema id"),
    ],
    ids=["incompatible", "invalid", "server-error", "not-json", "not-an-object", "no-id"],
)
def test_bad_answers_to_register_raise_registry_error(
    registry: FakeRegistry, status: int, body: bytes, message: str
) -> None:
    """Refusals and unexpected answers raise a one-line RegistryError saying what to check."""
    registry.state.canned[f"/subjects/{SUBJECT}/versions"] = (status, body, {})
    with pytest.raises(RegistryError, match=message) as caught:
        SchemaRegistryClient(registry.url).register(SUBJECT, '"string"')
    assert "\n" not in str(caught.value)


def test_answer_without_a_schema_raises_registry_error(registry: FakeRegistry) -> None:
    """A 200 answer to schema_by_id without a schema raises RegistryError."""
    registry.state.canned["/schemas/ids/1"] = (200, b'{"id": 1}', {})
    with pytest.raises(RegistryError, match="answered without a schema"):
        SchemaRegistryClient(registry.url).schema_by_id(1)


def test_oversized_answer_raises_registry_error(registry: FakeRegistry) -> None:
    """An answer larger than the read limit raises RegistryError instead of being read."""
    huge = b'{"schema": "' + b"x" * MAX_RESPONSE_BYTES + b'"}'
    registry.state.canned["/schemas/ids/1"] = (200, huge, {})
    with pytest.raises(RegistryError, match="more than 1048576 bytes"):
        SchemaRegistryClient(registry.url).schema_by_id(1)


def test_redirects_are_refused(registry: FakeRegistry) -> None:
    """A redirect raises RegistryError rather than re-sending credentials elsewhere."""
    registry.state.canned["/schemas/ids/1"] = (
        302,
        b"",
        {"Location": "http://127.0.0.1:9/elsewhere"},
    )
    client = SchemaRegistryClient(registry.url, auth=SecretStr(f"alice:{SECRET}"))
    with pytest.raises(RegistryError, match="HTTP 302; redirects are not followed"):
        client.schema_by_id(1)
    assert len(registry.state.requests) == 1


@pytest.mark.parametrize(
    "url",
    [
        "ftp://registry:8081",
        "registry:8081",
        "http://",
        "http://:8081",
        "http://registry:port",
        "http://registry:99999",
        "file:///etc/passwd",
    ],
)
def test_url_must_be_http(url: str) -> None:
    """Only http(s)://host URLs are accepted; anything else is a ConfigError."""
    with pytest.raises(ConfigError, match="must look like http"):
        SchemaRegistryClient(url)


def test_bad_url_message_hides_credentials() -> None:
    """The ConfigError for a bad URL leaves its credentials out."""
    with pytest.raises(ConfigError) as caught:
        SchemaRegistryClient(f"ftp://alice:{SECRET}@registry:8081")
    assert SECRET not in str(caught.value)


def test_auth_must_be_user_colon_password() -> None:
    """auth without a colon is a ConfigError that does not echo the value."""
    with pytest.raises(ConfigError, match="USER:PASSWORD") as caught:
        SchemaRegistryClient("http://registry:8081", auth=SecretStr(SECRET))
    assert SECRET not in str(caught.value)
