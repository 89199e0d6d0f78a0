"""Deterministic names for a run and its output, so a rerun is recognisably the same run.

Delivery is "effectively once": offsets are committed only after the output event is
acknowledged, so a crash between the two makes the service run the same inputs again. Because
the output's ``event_id`` is a function of what the run was (asset, partition, the input events
it consumed, the code version, the request that forced it), the rerun announces the same id and
every consumer drops the duplicate. The same reasoning gives a stable ``run_id`` and, when the
asset function does not name a data version, a derived one.

The canonical forms below are part of the wire contract: changing them changes every id a
deployed service would produce, so a golden test pins them.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from choreo.events.models import EventKind
from choreo.events.spelled_uuid import spelled

OUTPUT_EVENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:choreo:output-event")
RUN_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:choreo:run")

DERIVED_VERSION_LENGTH = 16
"""Hex digits kept from the SHA-256: 64 bits, ample to tell one asset's versions apart."""


class Versioned(Protocol):
    """Anything that names one input version: ``InputVersion`` and ``Observation`` both do."""

    @property
    def asset(self) -> str: ...

    @property
    def partition(self) -> str | None: ...

    @property
    def version(self) -> str: ...


@dataclass(frozen=True)
class RunIdentity:
    """The names of one planned run, worked out once: its ``run_id`` and its outputs' ids.

    A run is named when it is planned and its output when it finishes; both hash the same
    canonical fields, so their text is built once here, around the one key (``kind``) that only
    event ids have.
    """

    head: str
    """The canonical text up to and including ``inputs`` (keys sort before ``kind``)."""
    tail: str
    """The canonical text from ``partition`` on (keys sort after ``kind``)."""

    @classmethod
    def of(
        cls,
        asset: str,
        partition: str | None,
        input_event_ids: Iterable[uuid.UUID],
        code_version: str | None,
        request_id: str | None,
    ) -> RunIdentity:
        """The identity of a run (arguments as for ``output_event_id``)."""
        return cls._made(
            f"{_head(asset, code_version)}{_listed(input_event_ids)}",
            f'"partition":{_json(partition)},"request_id":{_json(request_id)}}}',
        )

    @classmethod
    def _made(cls, head: str, tail: str) -> RunIdentity:
        """The identity of these canonical texts, set directly: one is made for every run."""
        made = object.__new__(cls)
        setter = object.__setattr__
        setter(made, "head", head)
        setter(made, "tail", tail)
        setter(made, "run_id", _named_text(_RUN_SEED, f"{head},{tail}"))
        return made

    run_id: str = field(init=False, repr=False, compare=False)
    """The ``run_id`` (see ``run_id_for``): every planned run logs it, so it is made at once."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "run_id", _named_text(_RUN_SEED, f"{self.head},{self.tail}"))

    def event_id(self, kind: EventKind = EventKind.UPDATED) -> uuid.UUID:
        """The ``event_id`` of the run's output of ``kind`` (see ``output_event_id``)."""
        return _named(_OUTPUT_EVENT_SEED, f'{self.head},"kind":{_KINDS[kind]},{self.tail}')


class RunNamer:
    """``RunIdentity.of`` for the runs of one asset at one code version.

    Those two lead the canonical text, so it is spelled once here rather than for every run;
    a unit test holds the two ways equal.
    """

    __slots__ = ("_head",)

    def __init__(self, asset: str, code_version: str | None) -> None:
        self._head = _head(asset, code_version)

    def identity(
        self,
        partition: str | None,
        input_event_ids: Iterable[uuid.UUID],
        request_id: str | None,
    ) -> RunIdentity:
        """The identity of a run of this asset (arguments as for ``RunIdentity.of``)."""
        return RunIdentity._made(
            self._head + _listed(input_event_ids),
            f'"partition":{_json(partition)},"request_id":'
            f"{'null' if request_id is None else _json(request_id)}}}",
        )

    def version(
        self, partition: str | None, inputs: Iterable[Versioned], location: str | None
    ) -> str:
        """``derive_version`` for an output of this asset at this code version."""
        return _derived(self._head, partition, inputs, location)


def _head(asset: str, code_version: str | None) -> str:
    """The canonical text of a run before its input event ids."""
    return f'{{"asset":{_json(asset)},"code_version":{_json(code_version)},"inputs":'


def _listed(input_event_ids: Iterable[uuid.UUID]) -> str:
    """Input event ids as the canonical text lists them: sorted, once each."""
    if isinstance(input_event_ids, frozenset) and len(input_event_ids) == 1:
        [only] = input_event_ids  # a planned run's ids, most often one
        return f'["{only}"]'
    ids = sorted({str(event_id) for event_id in input_event_ids})
    return '["' + '","'.join(ids) + '"]' if ids else "[]"  # uuid text needs no escapes


_VERSION_5_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_VERSION_5_SET = (0x8000 << 48) | (5 << 76)


def name_uuid(namespace: uuid.UUID, name: str) -> uuid.UUID:
    """``uuid.uuid5(namespace, name)``, made without its per-call import and argument checks.

    Two of these are made for every run, so the standard function's overhead shows; a unit test
    holds the two equal.
    """
    return _named(_seeded(namespace), name)


def _seeded(namespace: uuid.UUID) -> hashlib._Hash:
    """A SHA-1 that has read ``namespace``: each name is hashed on a copy of it, so neither
    the namespace's bytes (a ``UUID`` computes them on every read) nor a new hash object with
    its keyword check is made per name."""
    return hashlib.sha1(namespace.bytes, usedforsecurity=False)


_RUN_SEED = _seeded(RUN_NAMESPACE)
_OUTPUT_EVENT_SEED = _seeded(OUTPUT_EVENT_NAMESPACE)


def _named(seed: hashlib._Hash, name: str) -> uuid.UUID:
    """``name_uuid`` from the namespace's seeded hash (``_seeded``)."""
    hashed = seed.copy()
    hashed.update(name.encode())
    digest = hashed.digest()
    return spelled((int.from_bytes(digest[:16]) & _VERSION_5_CLEAR) | _VERSION_5_SET)


def _named_text(seed: hashlib._Hash, name: str) -> str:
    """``str(_named(seed, name))``, spelled from the digest's hex digits: the version digit
    becomes 5 and the variant digit keeps its two low bits under ``10``."""
    hashed = seed.copy()
    hashed.update(name.encode())
    digest = hashed.hexdigest()
    return (
        f"{digest[:8]}-{digest[8:12]}-5{digest[13:16]}-"
        f"{_VARIANT_DIGIT[digest[16]]}{digest[17:20]}-{digest[20:32]}"
    )


_VARIANT_DIGIT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def output_event_id(
    asset: str,
    partition: str | None,
    input_event_ids: Iterable[uuid.UUID],
    code_version: str | None,
    request_id: str | None,
    *,
    kind: EventKind = EventKind.UPDATED,
) -> uuid.UUID:
    """The ``event_id`` of the event a run announces; the same run always gets the same id.

    Args:
        asset: the output asset key.
        partition: the output partition, or ``None`` when unpartitioned.
        input_event_ids: event ids of the inputs consumed; order and repeats do not matter.
        code_version: the producer's code version, so new code makes a new event.
        request_id: the materialise/backfill request that forced the run, if any.
        kind: ``FAILED`` and ``UPDATED`` outcomes of the same run get different ids, so a
            success after a failure is not dropped as the failure's duplicate.
    """
    return RunIdentity.of(asset, partition, input_event_ids, code_version, request_id).event_id(
        kind
    )


def run_id_for(
    asset: str,
    partition: str | None,
    input_event_ids: Iterable[uuid.UUID],
    code_version: str | None,
    request_id: str | None,
) -> str:
    """The ``run_id`` of a run: stable across reruns and attempts, whatever their outcome."""
    return RunIdentity.of(asset, partition, input_event_ids, code_version, request_id).run_id


def derive_version(
    asset: str,
    partition: str | None,
    inputs: Iterable[Versioned],
    code_version: str | None,
    location: str | None,
) -> str:
    """A data version for an output whose function did not name one.

    It hashes what the data was built from (the input versions, not their event ids), the code
    and where it was written, so rebuilding the same inputs with the same code yields the same
    version. An asset without inputs therefore gets one version per code version and location:
    a source whose content changes on its own should name its versions.
    """
    return _derived(_head(asset, code_version), partition, inputs, location)


def _derived(
    head: str, partition: str | None, inputs: Iterable[Versioned], location: str | None
) -> str:
    """``derive_version`` from the canonical text's head (``_head``)."""
    if isinstance(inputs, tuple) and len(inputs) == 1:
        [item] = inputs  # a run of one input: nothing to sort, one entry to spell
        at = item.partition
        listed = (
            f"[{_json(item.asset)},{_json(at or '')},{'true' if at is None else 'false'},"
            f"{_json(item.version)}]"
        )
    else:
        versions = sorted(
            {
                (item.asset, item.partition or "", item.partition is None, item.version)
                for item in inputs
            }
        )
        listed = ",".join(
            [
                f"[{_json(a)},{_json(p)},{'true' if unpartitioned else 'false'},{_json(v)}]"
                for a, p, unpartitioned, v in versions
            ]
        )
    text = f'{head}[{listed}],"location":{_json(location)},"partition":{_json(partition)}}}'
    return hashlib.sha256(text.encode()).hexdigest()[:DERIVED_VERSION_LENGTH]


def _json(value: object) -> str:
    """``value`` as ``_canonical`` spells it inside its JSON text.

    The canonical texts are built piece by piece (they are hashed for every run), so each piece
    must be exactly what ``_canonical``, i.e. ``json.dumps`` with sorted keys, no spaces and
    ASCII escapes, writes; a unit test holds the two together.
    """
    if value.__class__ is str:
        return _string(value)
    if value is None:
        return "null"
    if isinstance(value, str):
        return _string(value)
    return _canonical(value)


_string = json.encoder.encode_basestring_ascii  # what json.dumps(ensure_ascii=True) uses

_KINDS = {kind: _json(kind._value_) for kind in EventKind}
"""Each kind as the canonical text spells it, looked up rather than read through ``value``."""


def _canonical(fields: object) -> str:
    """One spelling per value: sorted keys, no spaces, JSON escapes (so no separator clashes)."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
