"""Writing rebuild requests (``choreo materialize``, backfills) to an asset's request topic.

The owning service reads them and runs regardless of its trigger; the cascade downstream then
follows by itself. A request for partition ``p`` is keyed by ``p`` (so it reaches the replica
that holds ``p``'s inputs); a request for an unpartitioned asset goes to partition 0, where that
asset's state lives.
"""

from __future__ import annotations

from collections.abc import Sequence

from choreo.codec import AvroCodec, headers_for
from choreo.errors import InvalidInputError, UnknownAssetError
from choreo.events import AssetRequest
from choreo.events.topics import request_topic
from choreo.kafka.declarations import read_declarations
from choreo.kafka.producer import ConfirmingProducer, OutgoingRecord
from choreo.settings import Settings

UNPARTITIONED_REQUEST_PARTITION = 0


def request_rebuilds(
    settings: Settings,
    asset: str,
    partitions: Sequence[str | None],
    *,
    requested_by: str,
    reason: str | None = None,
    timeout: float = 10.0,
) -> list[AssetRequest]:
    """Ask the owner of ``asset`` to rebuild ``partitions``; returns the acknowledged requests.

    Raises:
        UnknownAssetError: no service declared ``asset``.
        InvalidInputError: partitions given for an unpartitioned asset, or missing for a
            partitioned one.
        BrokerUnavailableError: the broker did not acknowledge within ``timeout``.
    """
    declared = read_declarations(settings, timeout=timeout).get(asset)
    if declared is None:
        raise UnknownAssetError(
            f"no service has declared {asset}; start the service that owns it first "
            "(choreo run ...) so the request has a reader"
        )
    if declared.partitioned and any(p is None for p in partitions):
        raise InvalidInputError(f"{asset} is partitioned: name --partition or --partitions A..B")
    if not declared.partitioned and any(p is not None for p in partitions):
        raise InvalidInputError(f"{asset} is not partitioned: leave out --partition(s)")
    requests = [
        AssetRequest(asset=asset, partition=p, requested_by=requested_by, reason=reason)
        for p in partitions
    ]
    codec = AvroCodec()
    topic = request_topic(settings.topic_prefix, asset)
    producer = ConfirmingProducer(settings, timeout=timeout)
    try:
        producer.send_all(
            [
                OutgoingRecord(
                    topic=topic,
                    key=r.message_key.encode(),
                    value=codec.encode(r),
                    headers=headers_for(r),
                    partition=None if declared.partitioned else UNPARTITIONED_REQUEST_PARTITION,
                )
                for r in requests
            ]
        )
    finally:
        producer.close()
    return requests
