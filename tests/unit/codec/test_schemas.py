"""Tests of ``SchemaSet``: loading the ``.avsc`` files, current versus writer schemas."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import avro.schema
import pytest
from fastavro.schema import to_parsing_canonical_form

from choreo.codec import schemas as schemas_module
from choreo.codec.schemas import SchemaSet, default_directory
from choreo.errors import SchemaError

REPO_SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"
ALL_SCHEMA_FILES = sorted(REPO_SCHEMAS.rglob("*.avsc"))
RECORDS = ("choreo.AssetDeclared", "choreo.AssetEvent")

# The Avro specification's reference CRC-64-AVRO ("Schema Fingerprints"), written out here so
# the fingerprints are checked against something other than the library that computes them.
_EMPTY64 = 0xC15D213AA4D7A795


def _fp_table() -> list[int]:
    table = []
    for byte in range(256):
        fp = byte
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY64 & -(fp & 1))
        table.append(fp)
    return table


_FP_TABLE = _fp_table()


def spec_fingerprint(canonical: str) -> bytes:
    """CRC-64-AVRO of a canonical form, little-endian, as the specification's reference code."""
    fp = _EMPTY64
    for byte in canonical.encode("utf-8"):
        fp = (fp >> 8) ^ _FP_TABLE[(fp ^ byte) & 0xFF]
    return fp.to_bytes(8, "little")


def without_logical_types(schema: Any) -> Any:
    """``schema`` with each ``{"type": <primitive>, "logicalType": …}`` reduced to the primitive.

    Parsing Canonical Form drops logical types (the Java reference writes ``"long"`` for a
    ``timestamp-millis``), but the ``avro`` package keeps ``{"type":"long"}``, so its own
    fingerprint of a schema with logical types differs from Java's and fastavro's. On the reduced
    schema it computes the canonical form and fingerprint independently, and correctly.
    """
    if isinstance(schema, list):
        return [without_logical_types(branch) for branch in schema]
    if not isinstance(schema, dict):
        return schema
    if "logicalType" in schema and isinstance(schema["type"], str):
        return schema["type"]
    return {key: without_logical_types(value) for key, value in schema.items()}


@pytest.mark.parametrize("path", ALL_SCHEMA_FILES, ids=lambda path: path.name)
def test_every_schema_file_parses(schemas: SchemaSet, path: Path) -> None:
    """Every file in schemas/ parses with the Apache avro package and is loaded by SchemaSet."""
    text = path.read_text(encoding="utf-8")
    parsed = avro.schema.parse(text)
    assert isinstance(parsed, avro.schema.RecordSchema)
    fingerprint = spec_fingerprint(to_parsing_canonical_form(json.loads(text)))
    assert schemas.writer(fingerprint)[0] == parsed.fullname


def test_repository_holds_the_choreo_records(schemas: SchemaSet) -> None:
    """schemas/ defines a current schema for each record choreo writes."""
    assert set(RECORDS) <= set(schemas.fullnames)
    assert schemas.directory == REPO_SCHEMAS


def test_default_directory_is_the_checkout_schemas_without_an_installed_package() -> None:
    """Without a packaged choreo/_schemas, the default is the source checkout's schemas/."""
    assert not (Path(schemas_module.__file__).resolve().parents[1] / "_schemas").exists()
    assert default_directory() == REPO_SCHEMAS
    assert SchemaSet.load().fullnames == SchemaSet.load(REPO_SCHEMAS).fullnames


def test_default_directory_prefers_the_packaged_schemas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An installed wheel's choreo/_schemas wins over the checkout's schemas/."""
    monkeypatch.setattr(schemas_module, "_PACKAGED_DIRECTORY", tmp_path)
    assert default_directory() == tmp_path


def test_default_directory_missing_everywhere_names_both_places(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With neither directory present, SchemaError names both places looked in."""
    monkeypatch.setattr(schemas_module, "_PACKAGED_DIRECTORY", tmp_path / "packaged")
    monkeypatch.setattr(schemas_module, "_CHECKOUT_DIRECTORY", tmp_path / "checkout")
    with pytest.raises(SchemaError, match=r"packaged.*checkout"):
        default_directory()


@pytest.mark.parametrize("fullname", RECORDS)
def test_fingerprint_matches_the_specification_reference(schemas: SchemaSet, fullname: str) -> None:
    """The fingerprint is the spec's CRC-64-AVRO of the canonical form, little-endian."""
    assert schemas.fingerprint(fullname) == spec_fingerprint(schemas.canonical(fullname))
    assert len(schemas.fingerprint(fullname)) == 8


@pytest.mark.parametrize("fullname", RECORDS)
def test_canonical_form_and_fingerprint_agree_with_the_apache_package(
    schemas: SchemaSet, fullname: str
) -> None:
    """The Apache avro package computes the same canonical form and fingerprint."""
    definition = json.loads((REPO_SCHEMAS / f"{fullname}.avsc").read_text(encoding="utf-8"))
    reference = avro.schema.parse(json.dumps(without_logical_types(definition)))
    assert schemas.canonical(fullname) == reference.canonical_form
    assert schemas.fingerprint(fullname) == reference.fingerprint("CRC-64-AVRO")


@pytest.mark.parametrize("fullname", RECORDS)
def test_current_schema_is_a_parsed_record(schemas: SchemaSet, fullname: str) -> None:
    """current() returns the parsed record schema whose canonical form is canonical()."""
    schema = schemas.current(fullname)
    assert schema["name"] == fullname
    assert to_parsing_canonical_form(schema) == schemas.canonical(fullname)


def test_schemas_are_parsed_once(schemas: SchemaSet) -> None:
    """Repeated look-ups return the same parsed object, not a fresh parse."""
    fullname = "choreo.AssetEvent"
    assert schemas.current(fullname) is schemas.current(fullname)
    assert schemas.writer(schemas.fingerprint(fullname))[1] is schemas.current(fullname)


@pytest.mark.parametrize("fullname", RECORDS)
def test_writer_finds_current_schemas_by_fingerprint(schemas: SchemaSet, fullname: str) -> None:
    """writer() maps a current schema's fingerprint back to its record name and schema."""
    name, schema = schemas.writer(schemas.fingerprint(fullname))
    assert name == fullname
    assert schema["name"] == fullname


def _copy_schemas(target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for path in REPO_SCHEMAS.glob("*.avsc"):
        shutil.copy(path, target / path.name)
    return target


def _old_event_schema() -> dict[str, Any]:
    definition: dict[str, Any] = json.loads(
        (REPO_SCHEMAS / "choreo.AssetEvent.avsc").read_text(encoding="utf-8")
    )
    definition["fields"] = [
        field for field in definition["fields"] if field["name"] not in {"location", "run_id"}
    ]
    return definition


def test_older_versions_in_subdirectories_are_writers_only(tmp_path: Path) -> None:
    """A schema below the top level is found by fingerprint but is never the current one."""
    directory = _copy_schemas(tmp_path / "schemas")
    (directory / "history").mkdir()
    (directory / "history" / "choreo.AssetEvent.v1.avsc").write_text(
        json.dumps(_old_event_schema()), encoding="utf-8"
    )
    loaded = SchemaSet.load(directory)
    current = SchemaSet.load(REPO_SCHEMAS)
    old_fingerprint = spec_fingerprint(to_parsing_canonical_form(_old_event_schema()))
    name, schema = loaded.writer(old_fingerprint)
    assert name == "choreo.AssetEvent"
    assert "location" not in {field["name"] for field in schema["fields"]}
    assert loaded.fingerprint("choreo.AssetEvent") == current.fingerprint("choreo.AssetEvent")
    assert loaded.canonical("choreo.AssetEvent") == current.canonical("choreo.AssetEvent")


def test_unknown_fingerprint_raises_schema_error_with_hex(schemas: SchemaSet) -> None:
    """An unknown fingerprint raises SchemaError showing it in hex."""
    with pytest.raises(SchemaError, match="0102030405060708"):
        schemas.writer(bytes(range(1, 9)))


@pytest.mark.parametrize("method", ["current", "fingerprint", "canonical"])
def test_unknown_record_raises_schema_error_naming_the_file(
    schemas: SchemaSet, method: str
) -> None:
    """Asking for a record without a current schema names the file that would define it."""
    with pytest.raises(SchemaError, match=r"choreo\.Nope\.avsc"):
        getattr(schemas, method)("choreo.Nope")


def test_missing_directory_raises_schema_error(tmp_path: Path) -> None:
    """A directory that does not exist raises SchemaError naming it."""
    with pytest.raises(SchemaError, match="does not exist"):
        SchemaSet.load(tmp_path / "absent")


def test_directory_without_schemas_raises_schema_error(tmp_path: Path) -> None:
    """A directory without any .avsc file raises SchemaError."""
    (tmp_path / "README.md").write_text("no schemas here", encoding="utf-8")
    with pytest.raises(SchemaError, match=r"no \.avsc files under"):
        SchemaSet.load(tmp_path)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"{ not json", "JSONDecodeError"),
        (b'{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}', "nope"),
        (b"\xff\xfe", "UnicodeDecodeError"),
    ],
    ids=["not-json", "unknown-type", "not-utf8"],
)
def test_unparsable_file_raises_schema_error_naming_it(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    """A file that is not a valid Avro schema raises SchemaError naming the file and problem."""
    directory = _copy_schemas(tmp_path / "schemas")
    broken = directory / "nested" / "broken.avsc"
    broken.parent.mkdir()
    broken.write_bytes(content)
    with pytest.raises(SchemaError, match=r"broken\.avsc") as caught:
        SchemaSet.load(directory)
    assert problem in str(caught.value)


def test_top_level_file_must_be_named_after_its_record(tmp_path: Path) -> None:
    """A top-level file whose name is not its record's full name raises SchemaError."""
    directory = _copy_schemas(tmp_path / "schemas")
    (directory / "choreo.AssetEvent.v1.avsc").write_text(
        json.dumps(_old_event_schema()), encoding="utf-8"
    )
    with pytest.raises(SchemaError, match=r"choreo\.AssetEvent\.v1\.avsc: defines choreo\.Asset"):
        SchemaSet.load(directory)


def test_schema_file_must_hold_a_record(tmp_path: Path) -> None:
    """A file whose top-level schema is not a record raises SchemaError naming it."""
    (tmp_path / "choreo.Kind.avsc").write_text(
        '{"type": "enum", "name": "Kind", "namespace": "choreo", "symbols": ["A"]}',
        encoding="utf-8",
    )
    with pytest.raises(SchemaError, match=r"choreo\.Kind\.avsc: expected an Avro record"):
        SchemaSet.load(tmp_path)
