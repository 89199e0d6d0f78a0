"""Pydantic models built from values the runtime has already checked.

Every run makes an output event and an entry of its ``inputs`` from values that were validated
on their way in (input events, keys) or made by the runtime itself, so they are built without
validation. ``model_construct`` does that, but it also looks every field up for aliases and
defaults on each call, which costs more than the rest of assembling a run's event.
``Assembler`` checks once, per model class, that none of that applies, and then builds exactly
what ``model_construct`` would from every field's value; a unit test holds the two equal.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


class Assembler(Generic[M]):
    """Builds instances of one model from already valid values of all its fields."""

    __slots__ = ("_all_set", "_model", "fields")

    def __init__(self, model: type[M]) -> None:
        """Raises ``TypeError`` if ``model_construct`` would do more for ``model`` than set
        the given values (aliases, a post-init hook, extra fields kept, a root model)."""
        fields = model.__pydantic_fields__
        if (
            any(f.alias is not None or f.validation_alias is not None for f in fields.values())
            or model.__pydantic_post_init__
            or model.__pydantic_root_model__
            or model.model_config.get("extra") == "allow"
        ):
            raise TypeError(f"{model.__name__} needs model_construct")
        self._model = model
        self.fields: tuple[str, ...] = tuple(fields)
        """The field names, in the order a built instance must be given them."""
        self._all_set = set(self.fields)
        """Every field, as each instance's fields-set: copied, which costs less than making
        it from the given values' keys (the same names)."""

    def __call__(self, values: dict[str, Any]) -> M:
        """An instance holding ``values``, which must name every field, in ``fields`` order,
        and is kept as the instance's own (not copied)."""
        made = self._model.__new__(self._model)
        setter = object.__setattr__
        setter(made, "__dict__", values)
        setter(made, "__pydantic_fields_set__", self._all_set.copy())
        setter(made, "__pydantic_extra__", None)
        setter(made, "__pydantic_private__", None)
        return made
