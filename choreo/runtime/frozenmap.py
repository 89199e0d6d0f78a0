"""An immutable mapping whose updated copies share most of their entries with the original.

``AssetState`` is immutable so that every decision sees one consistent state, but a service
changes it several times per input event, and a shard can know thousands of partitions: copying
a ``dict`` per change made each event cost time in proportion to the shard's size. A
``FrozenMap`` keeps its entries in about √n buckets; a change copies one bucket and the tuple of
buckets, so it costs O(√n) pointer copies (a few hundred at a million entries) and leaves the
original as it was.
"""

from __future__ import annotations

from collections.abc import Hashable, ItemsView, Iterable, Iterator, Mapping, ValuesView
from typing import Any, TypeVar, overload

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")

_EMPTY: dict[Any, Any] = {}
"""Shared by every empty bucket; buckets are never changed in place, so sharing it is safe."""


def _width_for(size: int) -> int:
    """Buckets for ``size`` entries: the power of two nearest √size (at least one)."""
    return 1 << ((size.bit_length() + 1) // 2)


class FrozenMap(Mapping[K, V]):
    """A read-only mapping with ``set``, ``update`` and ``delete`` returning new maps.

    Iteration order is not insertion order; sort where order matters.
    """

    __slots__ = ("_buckets", "_size")

    _buckets: tuple[dict[K, V], ...]
    _size: int

    def __init__(self, items: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        entries = dict(items)
        self._size = len(entries)
        self._buckets = _spread(entries, _width_for(len(entries)))

    @classmethod
    def _of(cls, buckets: tuple[dict[K, V], ...], size: int) -> FrozenMap[K, V]:
        new = object.__new__(cls)
        new._buckets = buckets
        new._size = size
        return new

    def __getitem__(self, key: K) -> V:
        return self._buckets[hash(key) & (len(self._buckets) - 1)][key]

    @overload
    def get(self, key: K, /) -> V | None: ...
    @overload
    def get(self, key: K, default: V | D, /) -> V | D: ...
    def get(self, key: K, default: object = None) -> object:
        """The value of ``key``, or ``default``."""
        return self._buckets[hash(key) & (len(self._buckets) - 1)].get(key, default)

    def __contains__(self, key: object) -> bool:
        try:
            return key in self._buckets[hash(key) & (len(self._buckets) - 1)]
        except TypeError:  # unhashable: not a key of this map
            return False

    def __iter__(self) -> Iterator[K]:
        for bucket in self._buckets:
            yield from bucket

    def __len__(self) -> int:
        return self._size

    def __repr__(self) -> str:
        return f"FrozenMap({dict(self.items())!r})"

    def items(self) -> ItemsView[K, V]:
        """The entries, read bucket by bucket rather than looked up one key at a time."""
        return _Items(self)

    def values(self) -> ValuesView[V]:
        """The values, read bucket by bucket."""
        return _Values(self)

    def set(self, key: K, value: V) -> FrozenMap[K, V]:
        """A map with ``key`` set to ``value``."""
        buckets = self._buckets
        width = len(buckets)
        index = hash(key) & (width - 1)
        bucket = buckets[index].copy()
        size = self._size
        if key not in bucket:
            size += 1
            if _width_for(size) > width:
                return FrozenMap({**dict(self.items()), key: value})  # grown past its width
        bucket[key] = value
        copied = list(buckets)
        copied[index] = bucket
        return self._of(tuple(copied), size)

    def update(self, changes: Mapping[K, V]) -> FrozenMap[K, V]:
        """A map with every entry of ``changes`` set; ``self`` when there are none."""
        if not changes:
            return self
        buckets = self._buckets
        mask = len(buckets) - 1
        touched: dict[int, dict[K, V]] = {}
        size = self._size
        for key, value in changes.items():
            index = hash(key) & mask
            bucket = touched.get(index)
            if bucket is None:
                bucket = touched[index] = dict(buckets[index])
            if key not in bucket:
                size += 1
            bucket[key] = value
        if _width_for(size) > len(buckets):
            return FrozenMap({**dict(self.items()), **changes})  # grown past its width: respread
        return self._of(_replace(buckets, touched), size)

    def delete(self, key: K) -> FrozenMap[K, V]:
        """A map without ``key``; ``self`` when it has none."""
        buckets = self._buckets
        index = hash(key) & (len(buckets) - 1)
        if key not in buckets[index]:
            return self
        bucket = dict(buckets[index])
        del bucket[key]
        return self._of(_replace(buckets, {index: bucket}), self._size - 1)


class _Items(ItemsView[K, V]):
    _mapping: FrozenMap[K, V]

    def __iter__(self) -> Iterator[tuple[K, V]]:
        for bucket in self._mapping._buckets:
            yield from bucket.items()


class _Values(ValuesView[V]):
    _mapping: FrozenMap[Any, V]

    def __iter__(self) -> Iterator[V]:
        for bucket in self._mapping._buckets:
            yield from bucket.values()


def _spread(entries: Mapping[K, V], width: int) -> tuple[dict[K, V], ...]:
    if width == 1:
        return (dict(entries) if entries else _EMPTY,)
    buckets: list[dict[K, V]] = [_EMPTY] * width
    mask = width - 1
    for key, value in entries.items():
        index = hash(key) & mask
        if buckets[index] is _EMPTY:
            buckets[index] = {}
        buckets[index][key] = value
    return tuple(buckets)


def _replace(
    buckets: tuple[dict[K, V], ...], changed: Mapping[int, dict[K, V]]
) -> tuple[dict[K, V], ...]:
    copied = list(buckets)
    for index, bucket in changed.items():
        copied[index] = bucket
    return tuple(copied)
