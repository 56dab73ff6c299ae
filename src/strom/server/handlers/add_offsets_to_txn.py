"""AddOffsetsToTxn: v0-4.

Adds the group's ``__consumer_offsets`` partition to the producer's
transaction, so the group's TxnOffsetCommit may follow and its marker lands
there.  Errors as AddPartitionsToTxn (PRODUCER_FENCED from v2, before that
INVALID_PRODUCER_EPOCH); an empty group id answers INVALID_GROUP_ID.  v4 only
adds an error code (TRANSACTION_ABORTABLE) that Strom never sends.
"""
from __future__ import annotations

from typing import Any

from strom.coordinator.group.coordinator import OFFSETS_TOPIC
from strom.errors import ErrorCode, KafkaError
from strom.server.context import RequestContext
from strom.server.handlers import _txn

API_KEY = 25
VERSIONS = (0, 4)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    groups = ctx.broker.groups
    if not request.group_id:
        return {"throttle_time": 0, "error_code": ErrorCode.INVALID_GROUP_ID}
    if groups is None:
        return {"throttle_time": 0, "error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE}
    try:
        await (await _txn.coordinator(ctx)).add_partitions(request.transactional_id, request.producer_id,
                                                   request.producer_epoch,
                                                   [(OFFSETS_TOPIC, groups.partition_for(request.group_id))])
    except KafkaError as exc:
        return {"throttle_time": 0, "error_code": _txn.error_for(exc, ctx.api_version, 2)}
    return {"throttle_time": 0, "error_code": 0}
