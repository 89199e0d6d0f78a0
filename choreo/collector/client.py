"""A small client for the collector's HTTP API: JSON over GET, failures as choreo's errors.

The standard library's ``urllib`` is enough for a handful of GETs, so the CLI needs no HTTP
package of its own. Failures map to the errors the CLI turns into exit codes: unreachable (4), a
refused token (3), a bad request (2), not found or any other refusal (1).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from choreo.errors import ChoreoError, ConfigError, InvalidInputError, UnreachableError

DEFAULT_URL = "http://127.0.0.1:8350"
DEFAULT_TIMEOUT = 10.0
#: Answers meaning "a proxy or the server is there, but the collector is not answering".
UNAVAILABLE = frozenset({502, 503, 504})


class NotFoundError(ChoreoError, LookupError):
    """The collector knows no such asset or event."""


class CollectorError(ChoreoError):
    """The collector answered with an error."""


def _message(error: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(error.read() or b"{}")
    except ValueError:
        body = {}
    text = body.get("error") if isinstance(body, dict) else None
    return str(text or error.reason or f"HTTP {error.code}")


class CollectorClient:
    """GET requests to one collector.

    Args:
        url: the collector's base URL, e.g. ``http://127.0.0.1:8350``.
        token: the bearer token, when the collector requires one.
        timeout: seconds to wait for an answer.
    """

    def __init__(
        self, url: str = DEFAULT_URL, *, token: str | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in {"http", "https"} or not parsed.netloc:
            raise ConfigError(f"collector URL {url!r} must be http(s)://host[:port]")
        self.url = url.rstrip("/")
        self._token = token
        self._timeout = timeout

    def _get(self, path: str, params: dict[str, Any]) -> tuple[bytes, str]:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        target = f"{self.url}{path}" + (f"?{query}" if query else "")
        headers = {"Accept": "application/json, text/plain"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(target, headers=headers)  # noqa: S310 - http(s) checked
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                return response.read(), response.headers.get_content_type()
        except urllib.error.HTTPError as exc:
            message = _message(exc)
            if exc.code in {401, 403}:
                raise ConfigError(
                    f"the collector refused the request ({exc.code}: {message}); "
                    "pass --token or set CHOREO_COLLECTOR_TOKEN"
                ) from None
            if exc.code in {400, 413, 414, 422}:
                raise InvalidInputError(message) from None
            if exc.code == 404:  # noqa: PLR2004 - HTTP's own number
                raise NotFoundError(message) from None
            if exc.code in UNAVAILABLE:
                raise UnreachableError(
                    f"the collector at {self.url} is unavailable: {message}"
                ) from None
            raise CollectorError(f"the collector answered {exc.code}: {message}") from None
        except (TimeoutError, urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UnreachableError(
                f"the collector at {self.url} is unreachable: {reason}"
            ) from None

    def json(self, path: str, **params: Any) -> Any:
        """``GET path?params`` as parsed JSON."""
        body, _ = self._get(path, params)
        return json.loads(body)

    def text(self, path: str, **params: Any) -> str:
        """``GET path?params`` as text."""
        body, _ = self._get(path, params)
        return body.decode()

    @staticmethod
    def segment(value: str) -> str:
        """``value`` quoted for use as one path segment."""
        return urllib.parse.quote(value, safe="")
