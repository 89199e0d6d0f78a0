"""The Avro schemas choreo reads and writes, loaded once from the ``.avsc`` files.

``schemas/`` is the single source of truth for the wire format. Its top-level files are the
*current* schemas, one per record, named ``<fullname>.avsc``: they are what choreo writes and what
every reader resolves old data into. Older versions can live anywhere below the directory (e.g.
``schemas/history/choreo.AssetEvent.v1.avsc``) and are used only to read bytes that were written
with them, which Avro single-object encoding identifies by fingerprint.

Every file is parsed exactly once, here, so the codec's hot path only does dictionary look-ups.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

from fastavro.schema import fingerprint as _fingerprint_hex
from fastavro.schema import parse_schema, to_parsing_canonical_form

from choreo.errors import SchemaError

ParsedSchema = dict[str, Any]
"""A schema as parsed by ``fastavro.parse_schema``: ready for its readers and writers."""

#: Avro single-object encoding identifies the writer schema by this fingerprint.
FINGERPRINT_ALGORITHM = "CRC-64-AVRO"
SCHEMA_SUFFIX = ".avsc"

# An installed wheel carries the schemas as package data (see pyproject's force-include); a source
# checkout has them at the repository root.
_PACKAGED_DIRECTORY = Path(__file__).resolve().parents[1] / "_schemas"
_CHECKOUT_DIRECTORY = Path(__file__).resolve().parents[2] / "schemas"


class _Loaded(NamedTuple):
    fullname: str
    schema: ParsedSchema
    canonical: str
    fingerprint: bytes


def default_directory() -> Path:
    """Where the schemas are when no directory is given: the package's, else the checkout's.

    Raises:
        SchemaError: Neither directory exists.
    """
    for directory in (_PACKAGED_DIRECTORY, _CHECKOUT_DIRECTORY):
        if directory.is_dir():
            return directory
    raise SchemaError(
        f"no schema directory found: looked for {_PACKAGED_DIRECTORY} (installed package) "
        f"and {_CHECKOUT_DIRECTORY} (source checkout)"
    )


def _load_file(path: Path) -> _Loaded:
    try:
        definition = json.loads(path.read_text(encoding="utf-8"))
        schema = parse_schema(definition)
        canonical = to_parsing_canonical_form(schema)
    except Exception as exc:  # fastavro raises many kinds; the file name is what matters
        raise SchemaError(f"{path}: not a valid Avro schema: {type(exc).__name__}: {exc}") from exc
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise SchemaError(f"{path}: expected an Avro record at the top of the file")
    fingerprint = bytes.fromhex(_fingerprint_hex(canonical, FINGERPRINT_ALGORITHM))
    return _Loaded(schema["name"], schema, canonical, fingerprint)


class SchemaSet:
    """Every schema under one directory: current reader schemas and older writer schemas.

    Build one with :meth:`load`. The parsed schemas it hands out are shared; do not modify them.
    """

    def __init__(
        self,
        directory: Path,
        current: dict[str, _Loaded],
        writers: dict[bytes, _Loaded],
    ) -> None:
        """Hold already-parsed schemas; use :meth:`load` instead of calling this directly."""
        self._directory = directory
        self._current = current
        self._writers = writers

    @classmethod
    def load(cls, directory: Path | None = None) -> SchemaSet:
        """Parse every ``*.avsc`` file under ``directory``, recursively.

        Args:
            directory: The schema directory; by default the package's (``choreo/_schemas``) when
                installed from a wheel, else the source checkout's ``schemas/``.

        Returns:
            The loaded schemas.

        Raises:
            SchemaError: The directory is missing or holds no schema, a file cannot be read or
                parsed, a top-level file is not named after the record it defines, or two
                different records share a fingerprint.
        """
        directory = default_directory() if directory is None else directory
        if not directory.is_dir():
            raise SchemaError(f"schema directory {directory} does not exist")
        paths = sorted(directory.rglob(f"*{SCHEMA_SUFFIX}"))
        if not paths:
            raise SchemaError(f"no {SCHEMA_SUFFIX} files under {directory}")
        current: dict[str, _Loaded] = {}
        writers: dict[bytes, _Loaded] = {}
        for path in paths:
            loaded = _load_file(path)
            if path.parent == directory:
                expected = path.name.removesuffix(SCHEMA_SUFFIX)
                if loaded.fullname != expected:
                    raise SchemaError(
                        f"{path}: defines {loaded.fullname} but a top-level schema file must be "
                        f"named after its record ({loaded.fullname}{SCHEMA_SUFFIX}); keep older "
                        "versions in a subdirectory"
                    )
                current[loaded.fullname] = loaded
            known = writers.setdefault(loaded.fingerprint, loaded)
            if known.fullname != loaded.fullname:
                raise SchemaError(
                    f"{path}: {loaded.fullname} has the same fingerprint "
                    f"{loaded.fingerprint.hex()} as {known.fullname}"
                )
        return cls(directory, current, writers)

    @property
    def directory(self) -> Path:
        """The directory the schemas were loaded from."""
        return self._directory

    @property
    def fullnames(self) -> tuple[str, ...]:
        """The full names of the records that have a current schema, sorted."""
        return tuple(sorted(self._current))

    def current(self, fullname: str) -> ParsedSchema:
        """The current (reader) schema of a record.

        Args:
            fullname: The record's full name, e.g. ``choreo.AssetEvent``.

        Raises:
            SchemaError: No top-level ``<fullname>.avsc`` was loaded.
        """
        return self._entry(fullname).schema

    def fingerprint(self, fullname: str) -> bytes:
        """The 8-byte little-endian CRC-64-AVRO fingerprint of a record's current schema.

        Raises:
            SchemaError: The record has no current schema.
        """
        return self._entry(fullname).fingerprint

    def canonical(self, fullname: str) -> str:
        """The Parsing Canonical Form of a record's current schema, as registries store it.

        Raises:
            SchemaError: The record has no current schema.
        """
        return self._entry(fullname).canonical

    def writer(self, fingerprint: bytes) -> tuple[str, ParsedSchema]:
        """The record name and schema that a fingerprint identifies, current or older.

        Args:
            fingerprint: The 8 bytes following the single-object marker.

        Raises:
            SchemaError: No loaded schema has this fingerprint.
        """
        loaded = self._writers.get(fingerprint)
        if loaded is None:
            raise SchemaError(
                f"no schema under {self._directory} has fingerprint {fingerprint.hex()}"
            )
        return loaded.fullname, loaded.schema

    def _entry(self, fullname: str) -> _Loaded:
        loaded = self._current.get(fullname)
        if loaded is None:
            raise SchemaError(
                f"no current schema for {fullname}: expected {fullname}{SCHEMA_SUFFIX} "
                f"at the top of {self._directory}"
            )
        return loaded
