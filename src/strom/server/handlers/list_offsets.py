"""ListOffsets: v1-11.

Timestamps: -2 earliest (log start offset), -1 latest (high watermark, or the
last stable offset under read_committed), -3 max timestamp (KIP-734), -4
earliest local (same as earliest: no tiered storage), -5 earliest pending
upload (not applicable: answered with offset -1); any other value finds the
first record with a timestamp at or after it (offset -1 when none).

leader_epoch (v4+): the epoch of the record at the returned offset, from the
log's leader-epoch cache (-1 when unknown); for -1 (latest), whose offset has
no record yet, the partition's current leader epoch, as Kafka answers.
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode, KafkaError
from strom.server.context import RequestContext

API_KEY = 2
VERSIONS = (1, 11)

EARLIEST, LATEST, MAX_TIMESTAMP, EARLIEST_LOCAL, EARLIEST_PENDING_UPLOAD = -2, -1, -3, -4, -5


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    replicas = ctx.broker.replicas
    read_committed = getattr(request, "isolation_level", 0) == 1
    topics = []
    for topic in request.topics:
        parts = []
        for p in topic.partitions:
            part = replicas.get(topic.name, p.partition_index)
            if part is None:
                parts.append({"partition_index": p.partition_index, "error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                              "timestamp": -1, "offset": -1, "leader_epoch": -1})
                continue
            ts, offset, epoch = -1, -1, -1
            try:
                if p.timestamp in (EARLIEST, EARLIEST_LOCAL):
                    offset = part.log_start_offset
                elif p.timestamp == LATEST:
                    offset = part.last_stable_offset if read_committed else part.high_watermark
                    epoch = part.leader_epoch
                elif p.timestamp == MAX_TIMESTAMP:
                    offset, ts = part.log.max_timestamp()
                elif p.timestamp == EARLIEST_PENDING_UPLOAD:
                    offset = -1
                elif p.timestamp < 0:
                    raise KafkaError(f"invalid timestamp {p.timestamp}", ErrorCode.INVALID_REQUEST)
                else:
                    found = part.log.offset_for_timestamp(p.timestamp)
                    if found is not None:
                        offset, ts = found
                if offset >= 0 and p.timestamp != LATEST:
                    epoch = part.epoch_for_offset(offset)
            except KafkaError as exc:
                parts.append({"partition_index": p.partition_index, "error_code": exc.code,
                              "timestamp": -1, "offset": -1, "leader_epoch": -1})
                continue
            parts.append({"partition_index": p.partition_index, "error_code": 0, "timestamp": ts,
                          "offset": offset, "leader_epoch": epoch})
        topics.append({"name": topic.name, "partitions": parts})
    return {"throttle_time": 0, "topics": topics}
