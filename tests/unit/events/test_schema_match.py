"""The pydantic models and the ``.avsc`` files describe the same records, field for field."""

from __future__ import annotations

import json
import types
import typing
import uuid
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from choreo.events import AssetDeclared, AssetEvent, AssetRequest

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"


def avro_shape(avro: Any) -> str:
    """A canonical description of an Avro type, comparable with ``python_shape``."""
    if isinstance(avro, list):
        branches = [b for b in avro if b != "null"]
        if len(branches) > 1:
            return "scalar" if set(branches) == {"boolean", "long", "double", "string"} else "?"
        return f"optional[{avro_shape(branches[0])}]"
    if isinstance(avro, str):
        return {"string": "str", "long": "int", "int": "int", "boolean": "bool", "double": "float"}[
            avro
        ]
    logical = avro.get("logicalType")
    if logical == "uuid":
        return "uuid"
    if logical == "timestamp-millis":
        return "datetime"
    kind = avro["type"]
    if kind == "enum":
        return f"enum:{avro['name']}:{','.join(avro['symbols'])}"
    if kind == "record":
        fields = ";".join(f"{f['name']}={avro_shape(f['type'])}" for f in avro["fields"])
        return f"record:{avro['name']}({fields})"
    if kind == "array":
        return f"list[{avro_shape(avro['items'])}]"
    if kind == "map":
        return f"map[{avro_shape(avro['values'])}]"
    return avro_shape(kind)


def python_shape(annotation: Any) -> str:
    """The same canonical description for a pydantic field annotation."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return python_shape(args[0])
    if origin in (typing.Union, types.UnionType):
        branches = [a for a in args if a is not type(None)]
        if len(branches) > 1:
            return "scalar" if set(branches) == {bool, int, float, str} else "?"
        return f"optional[{python_shape(branches[0])}]"
    if origin is tuple:
        return f"list[{python_shape(args[0])}]"
    if origin is dict:
        return f"map[{python_shape(args[1])}]"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = ";".join(
            f"{name}={python_shape(f.annotation)}" for name, f in annotation.model_fields.items()
        )
        return f"record:{annotation.__name__}({fields})"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return f"enum:{annotation.__name__}:{','.join(m.value for m in annotation)}"
    return {
        str: "str",
        int: "int",
        bool: "bool",
        float: "float",
        uuid.UUID: "uuid",
        datetime: "datetime",
    }[annotation]


@pytest.mark.parametrize("model", [AssetEvent, AssetDeclared, AssetRequest])
def test_model_fields_match_avsc(model: type[BaseModel]) -> None:
    """Each model has the avsc's fields, in order, with the same types and nullability."""
    schema = json.loads((SCHEMAS / f"choreo.{model.__name__}.avsc").read_text())
    assert avro_shape(schema) == python_shape(model)


@pytest.mark.parametrize("model", [AssetEvent, AssetDeclared, AssetRequest])
def test_avsc_defaults_are_optional_in_model(model: type[BaseModel]) -> None:
    """A field the reader can default from the avsc is never required by the model."""
    schema = json.loads((SCHEMAS / f"choreo.{model.__name__}.avsc").read_text())
    for field in schema["fields"]:
        if "default" in field:
            assert not model.model_fields[field["name"]].is_required(), field["name"]


def test_shape_comparison_detects_drift() -> None:
    """A schema with one field's type changed no longer matches the model."""
    schema = json.loads((SCHEMAS / "choreo.AssetEvent.avsc").read_text())
    schema["fields"][3]["type"] = "string"  # partition no longer nullable
    assert avro_shape(schema) != python_shape(AssetEvent)
