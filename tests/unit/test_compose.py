"""``docker-compose.yml`` and the ``Dockerfile``, checked without Docker.

Nothing here runs a container. What can rot silently is checked instead: each service's command
is a real ``choreo`` subcommand with real options (parsed by the CLI's own click command) or a
real module, files it names are in the repository and in the image, every ``CHOREO_*`` variable
is one choreo reads, ports agree with the commands that bind them, and ``depends_on`` waits only
for services that exist and can report health.
"""

from __future__ import annotations

import importlib
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer
import typer.main

# Without the types-PyYAML stubs yaml is untyped; with them the ignore is not needed.
import yaml  # type: ignore[import-untyped, unused-ignore]

from choreo.apache_kafka import DEFAULT_VERSION
from choreo.cli.app import app
from choreo.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
#: The one list of CHOREO_* variables that are not ``Settings`` fields, with who reads them.
NOT_SETTINGS = {
    "CHOREO_DATA_DIR": "the shop example's data directory (services/shop)",
}
#: Where a variable that is not a setting must be read.
SOURCES = ("choreo", "services")
VARIABLE = re.compile(r"\bCHOREO_[A-Z0-9_]+")
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}")
HEALTH_URL = re.compile(r"http://127\.0\.0\.1:(\d+)/healthz")
EXPECTED_SERVICES = {"kafka", "postgres", "collector", "summary", "forecast", "ingest"}


def load_compose() -> dict[str, Any]:
    """The compose file as plain data (merge keys resolved by the YAML loader)."""
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


COMPOSE_DATA = load_compose()
SERVICES: dict[str, dict[str, Any]] = COMPOSE_DATA["services"]


def argv(service: dict[str, Any]) -> list[str]:
    """What the container runs: entrypoint then command, with ``${VAR...}`` replaced by ``x``."""
    words: list[str] = []
    for key in ("entrypoint", "command"):
        value = service.get(key) or []
        words += shlex.split(value) if isinstance(value, str) else [str(v) for v in value]
    return [INTERPOLATION.sub("x", word) for word in words]


def choreo_services() -> Iterator[str]:
    """Services whose command is the ``choreo`` CLI."""
    return (name for name, service in SERVICES.items() if argv(service)[:1] == ["choreo"])


def parsed(name: str) -> dict[str, Any]:
    """The parameters of a service's ``choreo`` command line, parsed by the CLI's own command.

    Raises:
        typer.TyperException: a usage error, as the CLI would report it (unknown subcommand or
            option, a value of the wrong type, a missing argument).
    """
    words = argv(SERVICES[name])[1:]
    command = typer.main.get_command(app)
    while hasattr(command, "commands"):  # a group: descend into the subcommand
        sub = command.commands.get(words[0])
        assert sub is not None, f"{name}: `{command.name}` has no subcommand {words[0]!r}"
        command, words = sub, words[1:]
    params: dict[str, Any] = command.make_context(f"choreo {command.name}", words).params
    return params


def strings(data: object) -> Iterator[str]:
    """Every key and string value in parsed YAML, recursively (comments are gone by then)."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield str(key)
            yield from strings(value)
    elif isinstance(data, list):
        for item in data:
            yield from strings(item)
    elif isinstance(data, str):
        yield data


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a dict, whether the file lists it as a mapping or a list."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def published(service: dict[str, Any]) -> list[tuple[int, int]]:
    """``(host port, container port)`` of each ``ports`` entry (``[ip:]host:container``)."""
    pairs = []
    for entry in service.get("ports") or []:
        *_, host, container = str(entry).split(":")
        pairs.append((int(host), int(container)))
    return pairs


def test_the_stack_has_its_services() -> None:
    """Kafka, PostgreSQL, the collector, both shop services and the ingest job are defined."""
    assert set(SERVICES) == EXPECTED_SERVICES


@pytest.mark.parametrize(
    "name",
    sorted(choreo_services()),
)
def test_choreo_commands_parse_with_the_real_cli(name: str) -> None:
    """Each choreo command names a real subcommand, with options and values it accepts."""
    try:
        parsed(name)
    except typer.TyperException as exc:
        pytest.fail(f"{name}: {exc}")


@pytest.mark.parametrize("name", ["summary", "forecast"])
def test_services_run_files_that_exist_in_the_image(name: str) -> None:
    """``choreo run`` targets are files of the repository, under a directory the image copies."""
    target = parsed(name)["target"]
    assert (REPO_ROOT / target).is_file()
    assert Path(target).parts[0] in copied_into_image()


def test_python_module_entry_points_exist_and_accept_their_arguments() -> None:
    """``python -m MODULE ARGS`` names a module of the repository whose parser takes ARGS."""
    modules = 0
    for name, service in SERVICES.items():
        words = argv(service)
        if words[:2] != ["python", "-m"]:
            continue
        modules += 1
        module, args = words[2], words[3:]
        assert (REPO_ROOT / (module.replace(".", "/") + ".py")).is_file(), name
        assert module.split(".")[0] in copied_into_image(), name
        importlib.import_module(module).parse_args(args)  # SystemExit(2) if it refuses them
    assert modules >= 1


def test_every_choreo_variable_is_read_by_choreo() -> None:
    """Each CHOREO_* name in the files is a Settings field, a CHOREO_KAFKA__ option or listed."""
    dockerfile = DOCKERFILE.read_text(encoding="utf-8").splitlines()
    text = [*strings(COMPOSE_DATA), *(line for line in dockerfile if not line.startswith("#"))]
    names = {name for line in text for name in VARIABLE.findall(line)}
    assert names
    for variable in names:
        field = variable.removeprefix("CHOREO_").lower()
        if variable in NOT_SETTINGS or field.startswith("kafka__"):
            continue
        assert field in Settings.model_fields, f"{variable} is not a choreo setting"


@pytest.mark.parametrize("variable", sorted(NOT_SETTINGS))
def test_listed_variables_are_read_somewhere_and_are_not_settings(variable: str) -> None:
    """Each variable of the list appears in choreo's or the services' code, and is no setting."""
    sources = (p for top in SOURCES for p in (REPO_ROOT / top).rglob("*.py"))
    assert any(variable in path.read_text(encoding="utf-8") for path in sources), variable
    assert variable.removeprefix("CHOREO_").lower() not in Settings.model_fields


def test_published_ports_are_unique() -> None:
    """No two services publish the same host port."""
    host_ports = [host for service in SERVICES.values() for host, _ in published(service)]
    assert len(host_ports) == len(set(host_ports))


@pytest.mark.parametrize(
    ("name", "option"),
    [
        ("summary", "metrics_port"),
        ("forecast", "metrics_port"),
        ("collector", "port"),
    ],
)
def test_published_port_is_the_port_the_command_binds(name: str, option: str) -> None:
    """The container port published, and the one the healthcheck asks, is the command's port."""
    port = parsed(name)[option]
    assert [container for _, container in published(SERVICES[name])] == [port]
    health = " ".join(SERVICES[name]["healthcheck"]["test"])
    assert HEALTH_URL.findall(health) == [str(port)]


def test_kafka_publishes_its_external_listener() -> None:
    """Kafka's published port is a listener it advertises as localhost on the same port."""
    env = environment(SERVICES["kafka"])
    listeners = dict(item.split("://") for item in env["KAFKA_LISTENERS"].split(","))
    advertised = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    [(host, container)] = published(SERVICES["kafka"])
    [name] = [name for name, address in listeners.items() if address == f":{container}"]
    assert advertised[name] == f"localhost:{host}"


def test_choreo_services_use_an_advertised_kafka_address() -> None:
    """Every choreo container bootstraps from an address Kafka advertises inside the network."""
    env = environment(SERVICES["kafka"])
    advertised = {item.split("://")[1] for item in env["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    for name in ("collector", "summary", "forecast", "ingest"):
        assert environment(SERVICES[name])["CHOREO_BOOTSTRAP_SERVERS"] in advertised, name


def test_kafka_is_the_version_the_tests_run() -> None:
    """The compose Kafka image is the release choreo.apache_kafka runs in the test suite."""
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{DEFAULT_VERSION}"


def test_collector_stores_into_the_compose_postgres() -> None:
    """The collector's --db URL names the postgres service, its database and its user."""
    url = urlsplit(parsed("collector")["db"])
    postgres = environment(SERVICES["postgres"])
    assert url.scheme == "postgresql+psycopg"
    assert url.hostname == "postgres"
    assert url.username == postgres["POSTGRES_USER"]
    assert url.path == f"/{postgres['POSTGRES_DB']}"


def test_depends_on_names_services_that_can_satisfy_it() -> None:
    """depends_on names defined services; service_healthy only those with a healthcheck."""
    for name, service in SERVICES.items():
        needs = service.get("depends_on") or {}
        conditions = dict.fromkeys(needs, "service_started") if isinstance(needs, list) else needs
        for needed, spec in conditions.items():
            assert needed in SERVICES, f"{name} depends on unknown {needed}"
            condition = spec if isinstance(spec, str) else spec.get("condition")
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES[needed], f"{needed} has no healthcheck"


@pytest.mark.parametrize("name", ["kafka", "postgres"])
def test_kafka_and_postgres_have_healthchecks(name: str) -> None:
    """The two services everything waits for say when they are ready."""
    test = SERVICES[name]["healthcheck"]["test"]
    assert test[0] in {"CMD", "CMD-SHELL"}
    assert len(test) > 1


def test_named_volumes_are_declared() -> None:
    """Every named volume a service mounts is declared at the top level."""
    declared = set(COMPOSE_DATA.get("volumes") or {})
    for service in SERVICES.values():
        for mount in service.get("volumes") or []:
            source = str(mount).split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, source


def copied_into_image() -> set[str]:
    """Top-level names of the repository the Dockerfile copies (from the build context)."""
    copied: set[str] = set()
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from=") for w in words):
            copied.update(Path(w).parts[0] for w in words[1:-1] if not w.startswith("--"))
    return copied


def test_dockerfile_builds_choreo_from_the_repository() -> None:
    """A wheel stage builds choreo (native core included) from the repository; the
    python:3.11-slim image installs that wheel; every COPY source exists; compose builds it."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    stages = re.findall(r"^FROM (\S+)(?: AS (\S+))?$", text, re.MULTILINE)
    assert stages[-1] == ("python:3.11-slim", "")
    assert re.search(r"^RUN .*pip wheel .*--wheel-dir /wheels \.$", text, re.MULTILINE)
    assert re.search(r"^COPY --from=wheel /wheels /wheels$", text, re.MULTILINE)
    assert re.search(r"^RUN pip install /wheels/choreo-\*\.whl", text, re.MULTILINE)
    assert {"pyproject.toml", "setup.py", "native", "schemas", "choreo"} <= copied_into_image()
    for name in copied_into_image():
        assert (REPO_ROOT / name).exists(), name
    builds = {str(s["build"]) for s in SERVICES.values() if "build" in s}
    assert builds == {"."}
