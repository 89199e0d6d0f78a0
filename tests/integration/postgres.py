"""A real PostgreSQL server for the collector's tests, and fixtures over it.

By default one server is started for the whole session from the PostgreSQL binaries Debian
installs (``apt-get install -y postgresql``: ``/usr/lib/postgresql/<version>/bin``), with its data
directory and unix socket in a temporary directory and TCP on a free loopback port. PostgreSQL
refuses to run as root, so when the tests run as root the server runs as the ``postgres`` user
(or ``nobody``) through ``setpriv``. Set ``CHOREO_TEST_POSTGRES_URL`` to use a server of your
own instead; then none is started.

Each test gets its own schema (selected through the connection's ``search_path``), so tests never
see each other's tables. Without PostgreSQL the tests that need it fail, saying how to install
it; ``CHOREO_TEST_POSTGRES=skip`` skips them instead, on purpose only.

A test module uses the fixtures by importing them (``from .postgres import
postgres_server_fixture, postgres_url_fixture, store_url_fixture``) and then asks for them by
name: ``postgres_server``, ``postgres_url``, ``store_url`` (SQLite and PostgreSQL in turn).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote
from uuid import uuid4

import pytest

URL_ENV = "CHOREO_TEST_POSTGRES_URL"
MODE_ENV = "CHOREO_TEST_POSTGRES"
INSTALL_HINT = (
    "PostgreSQL is needed for these tests: install it (apt-get install -y postgresql) and "
    "psycopg (pip install 'psycopg[binary]'), or point CHOREO_TEST_POSTGRES_URL at a server; "
    "CHOREO_TEST_POSTGRES=skip skips them"
)
#: initdb and a first start take a few seconds; a loaded CI machine may need more.
START_TIMEOUT_SECONDS = 60
#: Users to run the server as when the tests run as root, in order of preference.
SERVER_USERS = ("postgres", "nobody")


def _binaries() -> Path | None:
    """The newest ``bin`` directory holding initdb and pg_ctl, or ``None``."""
    found = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1]
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """A throwaway PostgreSQL cluster: ``initdb`` into a temporary directory, ``pg_ctl start``.

    Args:
        bindir: Where ``initdb`` and ``pg_ctl`` are.
    """

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = _free_port()
        self.base = Path(tempfile.mkdtemp(prefix="choreo-pg-"))
        self.data = self.base / "data"
        self.sockets = self.base / "sockets"
        self._as_user: list[str] = []
        self._started = False

    @property
    def url(self) -> str:
        """A SQLAlchemy URL of the cluster's ``postgres`` database, as superuser over TCP."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Create the cluster and start the server; return once it accepts connections."""
        self.sockets.mkdir()
        if os.geteuid() == 0:
            user = next(u for u in map(_user, SERVER_USERS) if u is not None)
            for path in (self.base, self.sockets):
                os.chown(path, user.pw_uid, user.pw_gid)
            self._as_user = [
                "setpriv",
                f"--reuid={user.pw_uid}",
                f"--regid={user.pw_gid}",
                "--clear-groups",
                "--",
            ]
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        )
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={self.port}",
                f"-c unix_socket_directories={self.sockets}",
                "-c max_connections=50",
            ]
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.base / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            str(START_TIMEOUT_SECONDS),
            "start",
        )
        self._started = True

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its files."""
        if self._started:
            self._started = False
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        command = [*self._as_user, str(self.bindir / program), *args]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_SECONDS + 30,
            check=False,
            env={**os.environ, "LC_ALL": "C"},
        )
        if done.returncode != 0:
            log = self.base / "server.log"
            server_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{program} failed ({done.returncode}): {done.stderr.strip()}\n{server_log}"
            )


def _user(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _with_search_path(url: str, schema: str) -> str:
    """``url`` connecting with ``search_path`` set to ``schema`` (libpq's ``options``)."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


def _execute(url: str, statement: str) -> None:
    import psycopg  # noqa: PLC0415 - checked by the fixture, which says how to install it

    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(statement)


def _unavailable(reason: str) -> None:
    if os.environ.get(MODE_ENV, "").lower() == "skip":
        pytest.skip(f"{reason} ({MODE_ENV}=skip)")
    pytest.fail(f"{reason}. {INSTALL_HINT}", pytrace=False)


_server: PostgresServer | None = None


@pytest.fixture(scope="session", name="postgres_server")
def postgres_server_fixture() -> Iterator[str]:
    """URL of the session's PostgreSQL: ``$CHOREO_TEST_POSTGRES_URL`` or a server started here
    (once, however many modules import this fixture; stopped at the end of the session)."""
    global _server  # noqa: PLW0603 - one server for the session, shared by importing modules
    try:
        import psycopg  # noqa: F401, PLC0415
    except ImportError:
        _unavailable("psycopg is not installed")
    external = os.environ.get(URL_ENV)
    if external:
        yield external
        return
    if _server is None:
        bindir = _binaries()
        if bindir is None:
            _unavailable("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb)")
            return
        server = PostgresServer(bindir)
        try:
            server.start()
        except BaseException:
            server.stop()
            raise
        _server = server
    yield _server.url
    if _server is not None:
        _server.stop()
        _server = None


@pytest.fixture(name="postgres_url")
def postgres_url_fixture(postgres_server: str) -> Iterator[str]:
    """A SQLAlchemy URL whose tables live in a schema of this test's own, dropped afterwards."""
    schema = f"t_{uuid4().hex[:12]}"
    _execute(postgres_server, f"CREATE SCHEMA {schema}")
    yield _with_search_path(postgres_server, schema)
    _execute(postgres_server, f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(name="store_url", params=["sqlite", "postgresql"])
def store_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The collector's database, once as a SQLite file and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'collector.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url
