"""A small Confluent Schema Registry client: register a schema, fetch a schema by id.

These are the only two calls choreo needs (the producer registers the current schema once to get
the id it frames values with; a consumer looks up ids it has not seen), so this speaks the REST API
over the standard library instead of pulling in an HTTP stack or the Confluent SDK.

Every failure becomes a one-line ``RegistryError`` naming the registry URL and what to check.
Credentials are sent as HTTP basic auth and never appear in messages: the URL is shown without
its user-info, and redirects are refused rather than followed, so the ``Authorization`` header
cannot be forwarded to another host.
"""

from __future__ import annotations

import base64
import http.client
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from pydantic import SecretStr

from choreo.errors import ConfigError, RegistryError

#: The registry's versioned media type, for requests and accepted answers.
MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"
#: Largest answer read: schemas are kilobytes; anything bigger is not a registry talking.
MAX_RESPONSE_BYTES = 1024 * 1024
DEFAULT_TIMEOUT = 5.0
_SCHEMES = ("http", "https")
#: How much of an error answer is read to quote the registry's own message.
_MAX_ERROR_BYTES = 4096
_MAX_DETAIL_CHARS = 200
_HTTP_UNAUTHORIZED, _HTTP_FORBIDDEN, _HTTP_NOT_FOUND = 401, 403, 404
_HTTP_CONFLICT, _HTTP_UNPROCESSABLE = 409, 422


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Turn a redirect into an error instead of re-sending credentials to the new location."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _basic_auth(credentials: str) -> str:
    if ":" not in credentials:
        raise ConfigError("schema registry auth must be USER:PASSWORD (or API_KEY:API_SECRET)")
    return "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL_CHARS else text[:_MAX_DETAIL_CHARS] + "…"


def _error_detail(error: urllib.error.HTTPError) -> str:
    """The registry's own message from an error answer, if it gave one."""
    try:
        body = error.read(_MAX_ERROR_BYTES)
    except (OSError, http.client.HTTPException):
        return ""
    finally:
        error.close()
    try:
        message = json.loads(body).get("message")
    except (ValueError, AttributeError):
        return _one_line(body.decode("utf-8", errors="replace"))
    return _one_line(str(message)) if message else ""


def _timed_out(error: BaseException) -> bool:
    return isinstance(error, TimeoutError) or isinstance(
        getattr(error, "reason", None), TimeoutError
    )


class SchemaRegistryClient:
    """Registers schemas with, and fetches them from, a Confluent Schema Registry.

    Args:
        url: The registry's base URL, e.g. ``http://localhost:8081``. User-info in the URL
            (``http://user:password@host``) is used as ``auth`` when ``auth`` is not given.
        auth: ``USER:PASSWORD`` for HTTP basic auth (Confluent Cloud: ``API_KEY:API_SECRET``).
        timeout: Seconds to wait for a connection and for each answer.

    Raises:
        ConfigError: The URL is not ``http(s)://host…`` or ``auth`` has no ``:``.
    """

    def __init__(
        self, url: str, auth: SecretStr | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        parts = urlsplit(url.strip())
        userinfo, _, hostport = parts.netloc.rpartition("@")
        try:
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            port_ok = False
        if parts.scheme not in _SCHEMES or not parts.hostname or not port_ok:
            shown = urlunsplit((parts.scheme, hostport, parts.path, "", ""))
            raise ConfigError(
                f"schema registry URL {shown!r} must look like http(s)://host[:port][/path]"
            )
        self._url = urlunsplit((parts.scheme, hostport, parts.path.rstrip("/"), "", ""))
        if auth is not None:
            credentials: str | None = auth.get_secret_value()
        elif userinfo:
            credentials = unquote(userinfo)
        else:
            credentials = None
        self._authorization = None if credentials is None else _basic_auth(credentials)
        self._timeout = timeout
        self._opener = urllib.request.build_opener(_RefuseRedirects)
        self._schemas_by_id: dict[int, str] = {}

    @property
    def url(self) -> str:
        """The registry's base URL, without credentials: safe to log."""
        return self._url

    def register(self, subject: str, schema: str) -> int:
        """Register an Avro schema under a subject, or find it already registered there.

        Args:
            subject: The subject, e.g. ``choreo.asset.shop.orders-value``.
            schema: The schema as JSON text, e.g. ``SchemaSet.canonical(...)``.

        Returns:
            The schema's global id, the one to frame values with.

        Raises:
            RegistryError: The registry cannot be reached, does not answer in time, refuses
                the schema, or answers with something unexpected.
        """
        path = f"/subjects/{quote(subject, safe='')}/versions"
        answer = self._call("POST", path, {"schema": schema})
        schema_id = answer.get("id")
        if not isinstance(schema_id, int) or isinstance(schema_id, bool):
            raise RegistryError(
                f"schema registry {self._url}{path} answered without a schema id; "
                "is this URL a Confluent-compatible schema registry?"
            )
        self._schemas_by_id.setdefault(schema_id, schema)
        return schema_id

    def schema_by_id(self, schema_id: int) -> str:
        """The schema text with this global id; answers are cached, since ids never change.

        Raises:
            RegistryError: The registry cannot be reached, does not answer in time, does not
                know the id, or answers with something unexpected.
        """
        cached = self._schemas_by_id.get(schema_id)
        if cached is not None:
            return cached
        path = f"/schemas/ids/{int(schema_id)}"
        answer = self._call("GET", path, None)
        schema = answer.get("schema")
        if not isinstance(schema, str):
            raise RegistryError(
                f"schema registry {self._url}{path} answered without a schema; "
                "is this URL a Confluent-compatible schema registry?"
            )
        self._schemas_by_id[schema_id] = schema
        return schema

    def _call(self, method: str, path: str, payload: dict[str, Any] | None) -> dict[str, Any]:
        where = f"schema registry {self._url}{path}"
        headers = {"Accept": MEDIA_TYPE}
        data = None
        if payload is not None:
            data = json.dumps(payload).encode("utf-8")
            headers["Content-Type"] = MEDIA_TYPE
        if self._authorization is not None:
            headers["Authorization"] = self._authorization
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self._url + path, data=data, headers=headers, method=method
        )
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                body = response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise RegistryError(self._refusal(where, exc.code, _error_detail(exc))) from exc
        except (OSError, http.client.HTTPException) as exc:
            if _timed_out(exc):
                raise RegistryError(
                    f"{where} did not answer within {self._timeout:g} s; check the URL, the "
                    "network and the registry's load"
                ) from exc
            reason = getattr(exc, "reason", exc)
            raise RegistryError(
                f"{where} is unreachable ({_one_line(str(reason)) or type(reason).__name__}); "
                "is the registry running and CHOREO_SCHEMA_REGISTRY_URL right?"
            ) from exc
        if len(body) > MAX_RESPONSE_BYTES:
            raise RegistryError(
                f"{where} answered with more than {MAX_RESPONSE_BYTES} bytes; is this URL a "
                "schema registry?"
            )
        try:
            answer = json.loads(body)
        except ValueError as exc:
            raise RegistryError(
                f"{where} answered with something that is not JSON; is this URL a schema registry?"
            ) from exc
        if not isinstance(answer, dict):
            raise RegistryError(f"{where} answered with unexpected JSON; is this URL a registry?")
        return answer

    @staticmethod
    def _refusal(where: str, status: int, detail: str) -> str:
        said = f": {detail}" if detail else ""
        if status in (_HTTP_UNAUTHORIZED, _HTTP_FORBIDDEN):
            hint = "check CHOREO_SCHEMA_REGISTRY_AUTH"
        elif status == _HTTP_NOT_FOUND:
            hint = "is the id or subject from this registry, and the URL's path right?"
        elif status == _HTTP_CONFLICT:
            hint = "the schema breaks the subject's compatibility rule"
        elif status == _HTTP_UNPROCESSABLE:
            hint = "the registry rejects the schema as invalid"
        elif 300 <= status < 400:  # noqa: PLR2004 - the HTTP redirect range
            hint = "redirects are not followed; use the final URL"
        else:
            hint = "check the registry's logs"
        return f"{where} answered HTTP {status}{said}; {hint}"
