"""Finding the ``Service`` a user wrote, from a file path or ``module:attribute``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from choreo.errors import ConfigError
from choreo.service import Service

TARGET_FORM = (
    "a file (services/shop/summary.py), a module (services.shop.summary) or module:attribute"
)


def load_service(target: str) -> Service:
    """Import ``target`` and return the ``Service`` it defines.

    Raises:
        ConfigError: the file or module is missing, fails to import, or does not define exactly
            one ``Service`` (name it with ``:attribute`` then).
    """
    location, _, attribute = target.partition(":")
    if location.endswith(".py") or Path(location).is_file():
        module = _import_file(Path(location))
    else:
        try:
            module = importlib.import_module(location)
        except ImportError as exc:
            raise ConfigError(f"cannot import {location!r}: {exc}; give {TARGET_FORM}") from exc
    if attribute:
        found = getattr(module, attribute, None)
        if not isinstance(found, Service):
            raise ConfigError(f"{target!r} is not a choreo Service")
        return found
    services = [v for v in vars(module).values() if isinstance(v, Service)]
    if len(services) != 1:
        raise ConfigError(
            f"{location} defines {len(services)} choreo Services; name one as {location}:NAME"
        )
    return services[0]


def _import_file(path: Path) -> object:
    if not path.is_file():
        raise ConfigError(f"no such file {str(path)!r}; give {TARGET_FORM}")
    name = f"choreo_user_{path.stem}_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot load {str(path)!r} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except ImportError as exc:
        raise ConfigError(f"{path} failed to import: {exc}") from exc
    return module


def services_in(folder: Path) -> list[tuple[Path, Service]]:
    """Every ``*.py`` under ``folder`` that defines exactly one Service (for ``choreo dev``)."""
    found: list[tuple[Path, Service]] = []
    for path in sorted(folder.rglob("*.py")):
        if path.name.startswith("_"):
            continue
        module = _import_file(path)
        services = [v for v in vars(module).values() if isinstance(v, Service)]
        if len(services) == 1:
            found.append((path, services[0]))
    return found
