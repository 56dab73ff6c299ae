"""DeleteRecords: v0-2 (v2 is flexible; the versions Kafka 4 advertises).

Moves each partition's log start offset (low watermark) up to the requested
offset; -1 means the high watermark.  Reads below the new start answer
OFFSET_OUT_OF_RANGE at once (Fetch) and ListOffsets EARLIEST answers the new
start; the segments wholly below it are removed afterwards, as retention
removes them.  The answer is sent once the new start is durable in
``log-start-offset-checkpoint`` (a crash never brings deleted records back).

Per partition:
- topic or partition unknown to the metadata image: UNKNOWN_TOPIC_OR_PARTITION;
- not led by this broker: NOT_LEADER_OR_FOLLOWER;
- an offset below -1 or beyond the high watermark: OFFSET_OUT_OF_RANGE
  (nothing changes);
- a topic whose cleanup.policy lacks ``delete``: POLICY_VIOLATION;
- the checkpoint cannot be written: KAFKA_STORAGE_ERROR.
Errors carry low_watermark -1, as Kafka's do.

Not implemented: ``timeout`` is not needed (no followers to wait for: the
low watermark is the leader's log start offset); no authorization (Kafka
requires DELETE on the topic).
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode, KafkaError
from strom.replication.partition import Partition
from strom.server.context import RequestContext

API_KEY = 21
VERSIONS = (0, 2)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    broker = ctx.broker
    image = broker.metadata.image
    replicas = broker.replicas
    codes: dict[tuple[str, int], ErrorCode] = {}
    wanted: list[tuple[Partition, int]] = []
    keys: list[tuple[str, int]] = []
    for topic in request.topics:
        known = image.topics.get(topic.name)
        for p in topic.partitions:
            key = (topic.name, p.partition_index)
            part = replicas.get(*key)
            if known is None or p.partition_index not in known.partitions:
                codes[key] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            elif part is None or part.leader_id != broker.node_id:
                codes[key] = ErrorCode.NOT_LEADER_OR_FOLLOWER
            else:
                codes.pop(key, None)
                wanted.append((part, p.offset))
                keys.append(key)
    done: dict[tuple[str, int], tuple[ErrorCode, int]] = {}
    for key, result in zip(keys, await replicas.delete_records(wanted), strict=True):
        done[key] = (result.code, -1) if isinstance(result, KafkaError) else (ErrorCode.NONE, result)
    for key, code in codes.items():
        done[key] = (code, -1)
    return {"throttle_time": 0, "topics": [
        {"name": t.name, "partitions": [
            {"partition_index": p.partition_index, "error_code": done[(t.name, p.partition_index)][0],
             "low_watermark": done[(t.name, p.partition_index)][1]}
            for p in t.partitions]}
        for t in request.topics]}
