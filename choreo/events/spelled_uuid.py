"""A ``uuid.UUID`` that spells its canonical text once and keeps it.

A service spells each id several times per event: the output's Avro body, its CloudEvents
``ce_id`` header, the run identity's hash input, the changelog slice. ``UUID.__str__`` formats
the 128-bit integer afresh every time (about half a microsecond), so the ids choreo makes or
reads are of this subclass, which formats once. The reader hands over the text it just read
when that text is already canonical, so an input's ids are never formatted at all.

It is a ``UUID`` in every other way: equal to and hashing like a plain ``UUID`` of the same
value, accepted wherever one is, and pickled as one.
"""

from __future__ import annotations

import uuid
from typing import Any

_new = object.__new__
_set_int = uuid.UUID.__dict__["int"].__set__
_set_safety = uuid.UUID.__dict__["is_safe"].__set__
_UNKNOWN_SAFETY = uuid.SafeUUID.unknown
_format = uuid.UUID.__str__


class SpelledUUID(uuid.UUID):
    """A ``UUID`` whose canonical text is formatted at most once."""

    __slots__ = ("_text",)

    _text: str | None

    def __str__(self) -> str:
        text = self._text
        if text is None:
            text = _format(self)
            object.__setattr__(self, "_text", text)
        return text

    def __repr__(self) -> str:
        return f"UUID({str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled and copied as the plain UUID it equals: nothing needs the spelling kept.
        return (uuid.UUID, (None, None, None, None, self.int))


def spelled(value: int, text: str | None = None) -> SpelledUUID:
    """The id of integer ``value``; ``text`` must be its canonical spelling, or ``None``.

    Made without ``UUID.__init__``'s argument checks: callers hold a valid 128-bit value.
    """
    made = _new(SpelledUUID)
    _set_int(made, value)
    _set_safety(made, _UNKNOWN_SAFETY)
    object.__setattr__(made, "_text", text)
    return made
