"""SpelledUUID: a UUID that formats its text once, and otherwise is the UUID it equals."""

from __future__ import annotations

import copy
import pickle
import uuid

import pydantic
from hypothesis import given
from hypothesis import strategies as st

from choreo.codec import AvroCodec
from choreo.codec.event_reader import event_from_body
from choreo.events import AssetEvent, ProducerInfo
from choreo.events.spelled_uuid import SpelledUUID, spelled
from choreo.runtime.identity import name_uuid

ids = st.integers(min_value=0, max_value=2**128 - 1)


@given(value=ids)
def test_behaves_as_the_uuid_it_equals(value: int) -> None:
    """Equality, hashing, ordering, text, fields and formatting are a plain UUID's."""
    plain, made = uuid.UUID(int=value), spelled(value)
    assert made == plain
    assert plain == made
    assert hash(made) == hash(plain)
    held: dict[uuid.UUID, int] = {made: 1}
    assert held[plain] == 1
    assert str(made) == str(plain) == f"{made}" == made.__str__()  # second read: the kept text
    assert (made.hex, made.bytes, made.fields, made.urn) == (
        plain.hex,
        plain.bytes,
        plain.fields,
        plain.urn,
    )
    assert repr(made) == repr(plain)
    assert not made < plain
    assert not made > plain


def test_keeps_the_text_it_was_given() -> None:
    """A spelling handed over is what ``str`` answers: the reader vouches it is canonical."""
    plain = uuid.uuid4()
    text = str(plain)
    made = spelled(plain.int, text)
    assert str(made) is text


@given(value=ids)
def test_pickles_and_copies_as_a_plain_uuid(value: int) -> None:
    """Nothing needs the kept text once the id leaves the process or is copied."""
    made = spelled(value)
    unpickled = pickle.loads(pickle.dumps(made))  # noqa: S301 - bytes this test just made
    for again in (unpickled, copy.copy(made), copy.deepcopy(made)):
        assert type(again) is uuid.UUID
        assert again == made


def test_models_take_and_serialise_it() -> None:
    """Pydantic fields typed ``UUID`` accept it, strictly too, and write its text."""

    class Holder(pydantic.BaseModel):
        id: uuid.UUID

    made = spelled(uuid.uuid4().int)
    assert Holder.model_validate({"id": made}, strict=True).id == made
    assert Holder(id=made).model_dump_json() == f'{{"id":"{made}"}}'


def test_derived_ids_are_spelled_as_uuid5_spells_them() -> None:
    """The run identity's ids are SpelledUUIDs equal to ``uuid.uuid5``'s."""
    namespace = uuid.uuid4()
    made = name_uuid(namespace, "t.asset/2026-11-21")
    assert isinstance(made, SpelledUUID)
    assert made == uuid.uuid5(namespace, "t.asset/2026-11-21")
    assert str(made) == str(uuid.uuid5(namespace, "t.asset/2026-11-21"))


def _event_with_id_text(text: str) -> bytes:
    """An encoded event whose ``event_id`` is written as ``text`` (36 characters)."""
    codec = AvroCodec()
    event = AssetEvent(
        asset="t.ids",
        version="v1",
        producer=ProducerInfo(service="svc", instance="i-1"),
        event_id=uuid.UUID("12345678-9abc-4def-8123-456789abcdef"),
    )
    value = codec.encode(event)
    canonical = str(event.event_id).encode()
    assert value.count(canonical) == 1
    return value.replace(canonical, text.encode())


def test_reader_keeps_only_canonical_text() -> None:
    """Upper-case digits, hyphens elsewhere or a ``0x`` prefix still read (as ``uuid.UUID``
    reads them) but are spelled canonically, not as written."""
    canonical = "12345678-9abc-4def-8123-456789abcdef"
    for written in (
        canonical,
        canonical.upper(),
        "123456789-abc-4def-8123-456789abcdef",
        "0x345678-9abc-4def-8123-456789abcdef",  # int() takes the prefix: 0034…
    ):
        event = event_from_body(_event_with_id_text(written), 10)
        assert event is not None, written
        assert event.event_id == uuid.UUID(written)
        assert str(event.event_id) == str(uuid.UUID(written))
