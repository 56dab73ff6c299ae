"""DescribeProducers: v0.

The active producers of each partition hosted here, from the partition log's
producer state: producer id, epoch, last sequence, last timestamp, and the
first offset of its open transaction (-1 when none).  coordinator_epoch is -1
(Strom does not record it per producer).  A partition not hosted here answers
UNKNOWN_TOPIC_OR_PARTITION (NOT_LEADER_OR_FOLLOWER once there are followers).
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode
from strom.server.context import RequestContext

API_KEY = 61
VERSIONS = (0, 0)


def _partition(ctx: RequestContext, topic: str, index: int) -> dict[str, Any]:
    part = ctx.broker.replicas.get(topic, index)
    if part is None:
        return {"partition_index": index, "error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                "error_message": f"{topic}-{index} is not hosted here", "active_producers": []}
    producers = []
    for pid, entry in sorted(part.log.producer_state.producers.items()):
        producers.append({"producer_id": pid, "producer_epoch": entry.epoch, "last_sequence": entry.last_seq,
                          "last_timestamp": entry.last_timestamp, "coordinator_epoch": -1,
                          "current_txn_start_offset": entry.txn_first_offset})
    return {"partition_index": index, "error_code": 0, "error_message": None, "active_producers": producers}


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    return {"throttle_time": 0, "topics": [
        {"name": t.name, "partitions": [_partition(ctx, t.name, p) for p in t.partition_indexes]}
        for t in request.topics]}
