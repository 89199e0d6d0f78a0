"""FrozenMap: a read-only mapping whose updates are new maps that share the old one's entries."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from choreo.runtime.frozenmap import FrozenMap

_keys = st.one_of(st.none(), st.integers(-50, 50), st.text(max_size=3))
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("set"), _keys, st.integers()),
        st.tuples(st.just("delete"), _keys, st.just(0)),
        st.tuples(st.just("update"), st.dictionaries(_keys, st.integers(), max_size=40)),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_keys, st.integers(), max_size=300), _ops)
def test_behaves_like_a_dict_and_never_changes(
    start: dict[object, int], ops: list[tuple[object, ...]]
) -> None:
    """Every operation gives what the same dict operation would; earlier maps stay as they were."""
    model = dict(start)
    current: FrozenMap[object, int] = FrozenMap(start)
    history = [(current, dict(model))]
    for op in ops:
        if op[0] == "set":
            value = op[2]
            assert isinstance(value, int)
            current = current.set(op[1], value)
            model[op[1]] = value
        elif op[0] == "delete":
            current = current.delete(op[1])
            model.pop(op[1], None)
        else:
            changes = op[1]
            assert isinstance(changes, dict)
            current = current.update(changes)
            model.update(changes)
        history.append((current, dict(model)))
    for frozen, expected in history:
        assert frozen == expected
        assert dict(frozen.items()) == expected
        assert len(frozen) == len(expected)
        assert sorted(map(repr, frozen)) == sorted(map(repr, expected))
        assert sorted(frozen.values()) == sorted(expected.values())
        for key in expected:
            assert key in frozen
            assert frozen[key] == frozen.get(key) == expected[key]


def test_missing_keys() -> None:
    """A missing key raises ``KeyError``, ``get`` gives the default; unhashables are not keys."""
    frozen = FrozenMap({"a": 1})
    with pytest.raises(KeyError):
        frozen["b"]
    assert frozen.get("b") is None
    assert frozen.get("b", 7) == 7
    unhashable: object = []
    assert unhashable not in frozen


def test_cannot_be_changed_in_place() -> None:
    """There is no item assignment or deletion."""
    frozen = FrozenMap({"a": 1})
    with pytest.raises(TypeError):
        frozen["a"] = 2  # type: ignore[index]
    with pytest.raises(TypeError):
        del frozen["a"]  # type: ignore[attr-defined]


def test_no_change_returns_the_same_map() -> None:
    """Deleting an absent key or updating with nothing gives back the very same map."""
    frozen = FrozenMap({"a": 1})
    assert frozen.delete("b") is frozen
    assert frozen.update({}) is frozen


def test_a_change_copies_a_small_part() -> None:
    """One change of a map of 100,000 entries copies about √n of them, not n."""
    frozen = FrozenMap({i: i for i in range(100_000)})
    changed = frozen.set(5, -5)
    shared = sum(a is b for a, b in zip(frozen._buckets, changed._buckets, strict=True))
    assert len(frozen._buckets) - shared == 1
    assert len(frozen._buckets) ** 2 >= 100_000 // 4
