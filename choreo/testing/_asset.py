"""Calling one asset function directly, the way the runtime would, for a plain unit test.

An asset function takes a ``RunContext`` and one ``InputData`` (or a tuple of them) per input.
Building those by hand means inventing event ids, run ids and timestamps; these helpers fill in
what a test does not care about, check what it gets wrong (a missing input, a partition the asset
does not have) and let the function's own exceptions through, with their tracebacks.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeAlias

import structlog

from choreo.errors import InvalidInputError
from choreo.events.keys import validate_asset_key, validate_partition_key
from choreo.events.models import MetadataValue, now_utc
from choreo.runtime.identity import run_id_for
from choreo.runtime.partitions import InputSpec, check_output_partition
from choreo.runtime.triggers import AssetSpec
from choreo.service import AssetDefinition, InputArg, InputData, Output, RunContext, Service

InputValue: TypeAlias = InputData | Sequence[InputData] | Mapping[str, Any]
"""What a test gives for one input: an ``InputData``, several (an aggregated input), or the
keyword arguments of ``input_data`` as a dict."""

_INPUT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:choreo:testing-input")


def input_data(
    asset: str,
    partition: str | None = None,
    *,
    version: str = "v1",
    location: str | None = None,
    metadata: Mapping[str, MetadataValue] | None = None,
    event_id: uuid.UUID | None = None,
    occurred_at: datetime | None = None,
) -> InputData:
    """One input version as an asset function receives it.

    The ``event_id`` defaults to one derived from (asset, partition, version), so the same
    inputs give the same ``run_id``; ``occurred_at`` defaults to now.

    Raises:
        InvalidInputError: the asset or partition key is malformed.
    """
    validate_asset_key(asset)
    if partition is not None:
        validate_partition_key(partition)
    return InputData(
        asset=asset,
        partition=partition,
        version=version,
        event_id=event_id or uuid.uuid5(_INPUT_NAMESPACE, f"{asset}\x00{partition}\x00{version}"),
        occurred_at=occurred_at or now_utc(),
        location=location,
        metadata=dict(metadata or {}),
    )


def run_asset(
    target: Service | AssetDefinition,
    asset: str | None = None,
    *,
    inputs: Mapping[str, InputValue] | None = None,
    partition: str | None = None,
    attempt: int = 1,
    request_id: str | None = None,
) -> Output:
    """Call an asset function once, with a ``RunContext`` like the runtime's; return its output.

    Args:
        target: the ``Service`` owning the asset, or its ``AssetDefinition``.
        asset: which asset of the service; may be left out when the service has only one.
        inputs: one value per declared input, keyed by input asset (see ``InputValue``). A dict
            value's partition defaults to ``partition`` unless the input is declared
            unpartitioned; a single value for an input declared ``partitioned=True`` of an
            unpartitioned asset is passed as a one-element tuple, as the runtime would.
        partition: the output partition (required exactly when the asset is partitioned).
        attempt: what ``ctx.attempt`` says (1 is the first try).
        request_id: what ``ctx.request_id`` says, as if a request forced the run.

    Raises:
        InvalidInputError: the asset, an input or the partition does not fit the definition.
        TypeError: the function returned something other than an ``Output``.
        Exception: whatever the function raised, unchanged. No retries are made here.
    """
    definition, ctx, args = _prepare(
        target, asset, inputs=inputs, partition=partition, attempt=attempt, request_id=request_id
    )
    if definition.is_async:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return _checked(definition, asyncio.run(_awaited(definition, ctx, args)))
        raise RuntimeError(
            f"asset {definition.key} is async and an event loop is running here: "
            "use `await arun_asset(...)`"
        )
    return _checked(definition, definition.fn(ctx, *args))


async def arun_asset(
    target: Service | AssetDefinition,
    asset: str | None = None,
    *,
    inputs: Mapping[str, InputValue] | None = None,
    partition: str | None = None,
    attempt: int = 1,
    request_id: str | None = None,
) -> Output:
    """``run_asset`` for tests that already run an event loop; sync functions work too."""
    definition, ctx, args = _prepare(
        target, asset, inputs=inputs, partition=partition, attempt=attempt, request_id=request_id
    )
    if definition.is_async:
        return _checked(definition, await _awaited(definition, ctx, args))
    return _checked(definition, definition.fn(ctx, *args))


def _resolve_definition(target: Service | AssetDefinition, asset: str | None) -> AssetDefinition:
    """The definition ``target`` and ``asset`` name.

    Raises:
        InvalidInputError: the service does not own ``asset``, or owns several and none is named.
    """
    if isinstance(target, AssetDefinition):
        if asset is not None and asset != target.key:
            raise InvalidInputError(f"the definition given is of {target.key}, not {asset}")
        return target
    if asset is None:
        if len(target.assets) != 1:
            owned = ", ".join(sorted(target.assets)) or "none"
            raise InvalidInputError(f"service {target.name} owns {owned}: name the asset to run")
        return next(iter(target.assets.values()))
    definition = target.assets.get(asset)
    if definition is None:
        owned = ", ".join(sorted(target.assets)) or "none"
        raise InvalidInputError(f"service {target.name} does not own {asset} (it owns {owned})")
    return definition


def _prepare(
    target: Service | AssetDefinition,
    asset: str | None,
    *,
    inputs: Mapping[str, InputValue] | None,
    partition: str | None,
    attempt: int,
    request_id: str | None,
) -> tuple[AssetDefinition, RunContext, list[InputArg]]:
    definition = _resolve_definition(target, asset)
    spec = AssetSpec(
        key=definition.key,
        inputs=tuple(InputSpec(i.key, i.partitioned) for i in definition.inputs),
        partitioned=definition.partitioned,
    )
    try:
        check_output_partition(spec, partition)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{definition.key}: {exc}") from exc
    if attempt < 1:
        raise InvalidInputError(f"attempt counts from 1, not {attempt}")
    given = dict(inputs or {})
    missing = [key for key in definition.input_keys if key not in given]
    extra = sorted(set(given) - set(definition.input_keys))
    if missing or extra:
        raise InvalidInputError(
            f"inputs of {definition.key} are {list(definition.input_keys)}; "
            f"missing {missing}, unknown {extra}"
        )
    args: list[InputArg] = []
    for item in definition.inputs:
        arg = _input_arg(item.key, given[item.key], partition, item.partitioned is not False)
        if isinstance(arg, InputData) and item.partitioned and not definition.partitioned:
            arg = (arg,)
        args.append(arg)
    consumed = [data for arg in args for data in (arg if isinstance(arg, tuple) else (arg,))]
    newest = max(consumed, key=lambda data: data.occurred_at, default=None)
    run_id = run_id_for(
        definition.key,
        partition,
        [data.event_id for data in consumed],
        definition.code_version,
        request_id,
    )
    ctx = RunContext(
        asset=definition.key,
        partition=partition,
        run_id=run_id,
        attempt=attempt,
        correlation_id=newest.event_id if newest else None,
        request_id=request_id,
        inputs=dict(zip(definition.input_keys, args, strict=True)),
        log=structlog.get_logger("choreo.service").bind(
            asset=definition.key, partition=partition, run_id=run_id
        ),
    )
    return definition, ctx, args


def _input_arg(
    key: str, value: InputValue, partition: str | None, same_partition: bool
) -> InputArg:
    if isinstance(value, InputData):
        items: tuple[InputData, ...] = (value,)
    elif isinstance(value, Mapping):
        fields = dict(value)
        fields.setdefault("partition", partition if same_partition else None)
        items = (input_data(key, **fields),)
    else:
        items = tuple(value)
    for item in items:
        if not isinstance(item, InputData):
            raise InvalidInputError(
                f"input {key} must be InputData, a sequence of them, or a dict of input_data "
                f"arguments, not {type(item).__name__}"
            )
        if item.asset != key:
            raise InvalidInputError(f"input {key} was given data of {item.asset}")
    if isinstance(value, InputData | Mapping):
        return items[0]
    return items


async def _awaited(definition: AssetDefinition, ctx: RunContext, args: list[InputArg]) -> Any:
    result = definition.fn(ctx, *args)
    return await result if inspect.isawaitable(result) else result


def _checked(definition: AssetDefinition, result: object) -> Output:
    if not isinstance(result, Output):
        raise TypeError(
            f"asset function for {definition.key} returned {type(result).__name__}, "
            "not ctx.output(...)"
        )
    return result
