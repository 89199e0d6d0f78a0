"""The service engine: which slices each record changes, restoring shards, announcing runs."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from choreo import AssetIn, Service
from choreo.codec import AvroCodec
from choreo.events import AssetEvent, EventKind, ProducerInfo
from choreo.runtime import engine as engine_module
from choreo.runtime.effects import StartRun
from choreo.runtime.engine import ServiceEngine
from choreo.runtime.executor import Succeeded
from choreo.runtime.slices import decode_record
from choreo.runtime.triggers import Decision, decide
from choreo.service import InputData, Output, RunContext

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
INDEX = 0
UPSTREAM = ProducerInfo(service="upstream", instance="u-1")


def service() -> Service:
    """``t.out`` per partition of ``t.in``, joined with the unpartitioned ``t.dim``."""
    svc = Service("svc-engine")

    @svc.asset(
        "t.out", inputs=[AssetIn("t.in", partitioned=True), AssetIn("t.dim")], partitioned=True
    )
    def out(ctx: RunContext, source: InputData, dim: InputData) -> Output:
        return ctx.output(location=source.location, metadata=source.metadata)

    return svc


def started(records: dict[Any, Any] | None = None) -> ServiceEngine:
    engine = ServiceEngine(service(), instance="e-1")
    shards = engine.shard_keys_for([INDEX])
    engine.assign({s: (records or {}).get(s) for s in shards}, T0)
    return engine


def event(
    asset: str, partition: str | None = None, version: str = "v1", at: datetime = T0
) -> AssetEvent:
    return AssetEvent(
        asset=asset,
        partition=partition,
        version=version,
        occurred_at=at,
        producer=UPSTREAM,
        location=f"s3://{asset}/{partition}",
        metadata={"rows": 7},
    )


def finish(engine: ServiceEngine, run: StartRun, output: Output | None = None) -> AssetEvent:
    produced = output or run.definition.fn(run.ctx, *run.args)
    assert isinstance(produced, Output)
    return engine.output_event(run, Succeeded(produced, 1, 0.01), T0)


def stored(engine: ServiceEngine, keys: Iterable[tuple[str, int, str | None]]) -> list[Any]:
    """The slices as they come back from the changelog (through JSON)."""
    records = []
    for key in keys:
        piece = engine.stored_slice(key)
        assert piece is not None
        records.append(decode_record(json.loads(json.dumps(piece.to_dict(key[0])))))
    return records


def test_an_event_changes_only_its_partitions_slice() -> None:
    """A partitioned input event dirties its own output partition; a repeat dirties nothing."""
    engine = started()
    engine.on_event(event("t.dim"), None, T0)
    first = event("t.in", "p1")
    effects = engine.on_event(first, INDEX, T0)
    assert effects.dirty == {("t.out", INDEX, "p1")}
    assert [run.planned.output_partition for run in effects.runs] == ["p1"]
    assert engine.on_event(first, INDEX, T0).dirty == set()


def test_an_unpartitioned_input_changes_every_known_slice() -> None:
    """A new version of the unpartitioned input dirties (and decides) every known partition."""
    engine = started()
    engine.on_event(event("t.dim"), None, T0)
    for partition in ("p1", "p2", "p3"):
        engine.on_event(event("t.in", partition), INDEX, T0)
    later = T0 + timedelta(seconds=1)
    effects = engine.on_event(event("t.dim", version="v2", at=later), None, later)
    assert effects.dirty == {("t.out", INDEX, p) for p in ("p1", "p2", "p3")}


def test_an_acknowledged_run_dirties_and_decides_its_partition_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a run only its output partition is written and decided again, not the whole shard
    (which made every event cost time in proportion to the shard); under plain eager, only if
    an input of that partition arrived while the run was in flight."""
    engine = started()
    engine.on_event(event("t.dim"), None, T0)
    runs = [engine.on_event(event("t.in", f"p{i}"), INDEX, T0).runs[0] for i in range(50)]
    calls: list[Any] = []

    def spy(*args: Any, **kwargs: Any) -> Decision:
        calls.append(kwargs.get("only"))
        return decide(*args, **kwargs)

    monkeypatch.setattr(engine_module, "decide", spy)
    later = T0 + timedelta(seconds=1)
    assert engine.on_event(event("t.in", "p7", version="v2", at=later), INDEX, later).runs == []
    calls.clear()
    finish(engine, runs[7])
    effects = engine.acknowledged(runs[7], later)
    assert effects.dirty == {("t.out", INDEX, "p7")}
    assert calls == [["p7"]]
    [again] = effects.runs  # v2 arrived during the run
    assert sorted((i.asset, i.version) for i in again.planned.input_versions()) == [
        ("t.dim", "v1"),
        ("t.in", "v2"),
    ]
    assert ("t.out", "p7") in engine.in_flight
    calls.clear()
    finish(engine, runs[8])
    effects = engine.acknowledged(runs[8], later)
    assert effects.dirty == {("t.out", INDEX, "p8")}
    assert calls == []  # nothing arrived during the run: nothing to decide
    assert effects.runs == []
    assert ("t.out", "p8") not in engine.in_flight


def test_a_big_shard_restores_from_its_slices_without_rerunning() -> None:
    """5,000 partitions run once, stored as slices and restored by a new engine: the state is
    the same and nothing runs again."""
    engine = started()
    engine.on_event(event("t.dim"), None, T0)
    dirty: set[tuple[str, int, str | None]] = set()
    for i in range(5_000):
        for run in engine.on_event(event("t.in", f"p{i:05d}"), INDEX, T0).runs:
            finish(engine, run)
            dirty |= engine.acknowledged(run, T0).dirty
    shard = ("t.out", INDEX)
    restored = started({shard: stored(engine, dirty)})
    assert restored.shards[shard] == engine.shards[shard]
    assert restored.on_wake(T0 + timedelta(hours=1)).runs == []
    again = restored.assign({shard: stored(engine, dirty)}, T0 + timedelta(hours=1))
    assert again.runs == []
    assert again.dirty == set()


def test_a_restored_pending_run_starts_with_the_details_of_its_inputs() -> None:
    """A partition whose input was stored but not yet run runs after the restore, reading the
    locations and metadata that came back with the slice."""
    engine = started()
    engine.on_event(event("t.dim"), None, T0)
    engine.on_event(event("t.in", "p1"), INDEX, T0)
    restored = ServiceEngine(service(), instance="e-2")
    effects = restored.assign({("t.out", INDEX): stored(engine, [("t.out", INDEX, "p1")])}, T0)
    [run] = effects.runs
    source, dim = run.args
    assert isinstance(source, InputData)
    assert isinstance(dim, InputData)
    assert (source.location, source.metadata) == ("s3://t.in/p1", {"rows": 7})
    assert (dim.location, dim.metadata) == ("s3://t.dim/None", {"rows": 7})


def test_output_event_is_what_validation_would_make() -> None:
    """The event assembled without validation equals the validated one, and encodes."""
    engine = started()
    engine.on_event(event("t.dim"), None, T0)
    [run] = engine.on_event(event("t.in", "p1"), INDEX, T0).runs
    announced = finish(engine, run)
    assert announced == AssetEvent.model_validate(announced.model_dump())
    assert announced.kind is EventKind.UPDATED
    assert announced.event_id == run.identity.event_id(EventKind.UPDATED)
    assert announced.metadata == {"rows": 7}
    codec = AvroCodec()
    assert codec.decode_event(codec.encode(announced)) == announced


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        (Output(metadata={"rows": 2**70}), "does not fit a 64-bit long"),
        (Output(location=5), "valid string"),  # type: ignore[arg-type]
        (Output(version=3), "valid string"),  # type: ignore[arg-type]
        (Output(metadata={"rows": [1]}), "rows"),  # type: ignore[dict-item]
    ],
)
def test_an_output_the_event_cannot_carry_is_announced_failed(output: Output, reason: str) -> None:
    """What the asset function returned is still validated: a bad value makes a FAILED event."""
    engine = started()
    engine.on_event(event("t.dim"), None, T0)
    [run] = engine.on_event(event("t.in", "p1"), INDEX, T0).runs
    announced = finish(engine, run, output)
    assert announced.kind is EventKind.FAILED
    assert announced.error is not None
    assert announced.error.type == "InvalidOutput"
    assert reason in announced.error.message or reason in str(output)


def test_the_run_log_binds_when_first_used() -> None:
    """``ctx.log`` works like the service's logger bound to the run, built only when used."""
    engine = started()
    engine.on_event(event("t.dim"), None, T0)
    [run] = engine.on_event(event("t.in", "p1"), INDEX, T0).runs
    bound = run.ctx.log.bind(step="x")
    assert callable(bound.info)
    assert run.ctx.run_id == str(uuid.UUID(run.ctx.run_id))
