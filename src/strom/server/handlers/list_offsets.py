"""ListOffsets: v1-11.

Timestamp specs, each accepted from the version Kafka accepts it (below it,
or any other negative value: UNSUPPORTED_VERSION for that partition):
- -2 earliest (v1+): the log start offset, which DeleteRecords and retention
  move up;
- -1 latest (v1+): the high watermark (also under read_committed: no
  transactions yet, so the last stable offset is the high watermark);
- -3 max timestamp (v7+, KIP-734): the first record with the largest
  timestamp, and that timestamp;
- -4 earliest local (v8+, KIP-405): the log start offset (no tiered storage,
  so every record is local);
- -5 latest tiered (v9+, KIP-1005) and -6 earliest pending upload (v11+,
  KIP-1023): offset -1 and leader epoch -1, Kafka's answer when the topic
  does not use tiered storage;
- a timestamp >= 0: the first offset whose record timestamp is at or after
  it (timestamps may be out of order), below the high watermark; offset -1
  when there is none.

leader_epoch (v4+): the epoch of the record at the returned offset, from the
log's leader-epoch cache (-1 when unknown); for -1 (latest), whose offset has
no record yet, the partition's current leader epoch, as Kafka answers.

Per partition, before any of that: unknown topic or partition
UNKNOWN_TOPIC_OR_PARTITION; not the leader here NOT_LEADER_OR_FOLLOWER
(unless replica_id is -2, Kafka's debugging replica); v4+
current_leader_epoch newer than ours UNKNOWN_LEADER_EPOCH, older
FENCED_LEADER_EPOCH; a partition named twice INVALID_REQUEST.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from strom.errors import ErrorCode, KafkaError
from strom.replication.partition import Partition
from strom.server.context import RequestContext

API_KEY = 2
VERSIONS = (1, 11)

LATEST, EARLIEST, MAX_TIMESTAMP, EARLIEST_LOCAL, LATEST_TIERED, EARLIEST_PENDING_UPLOAD = -1, -2, -3, -4, -5, -6
# the first version that accepts each timestamp spec (Kafka's ListOffsetsRequest.json)
SPEC_MIN_VERSION = {LATEST: 1, EARLIEST: 1, MAX_TIMESTAMP: 7, EARLIEST_LOCAL: 8, LATEST_TIERED: 9,
                    EARLIEST_PENDING_UPLOAD: 11}
DEBUGGING_REPLICA_ID = -2


def _error(index: int, code: ErrorCode) -> dict[str, Any]:
    return {"partition_index": index, "error_code": code, "timestamp": -1, "offset": -1, "leader_epoch": -1}


def _check(ctx: RequestContext, request: Any, topic: str, p: Any) -> Partition:
    """The hosted leader replica ``p`` asks about, or the KafkaError its answer carries."""
    spec = p.timestamp
    if spec < 0 and ctx.api_version < SPEC_MIN_VERSION.get(spec, 1 << 15):
        raise KafkaError(f"timestamp {spec} is not supported by ListOffsets v{ctx.api_version}",
                         ErrorCode.UNSUPPORTED_VERSION)
    broker = ctx.broker
    part = broker.replicas.get(topic, p.partition_index)
    if part is None:
        known = broker.metadata.image.topics.get(topic)
        hosted_elsewhere = known is not None and p.partition_index in known.partitions
        raise KafkaError(f"{topic}-{p.partition_index} is not hosted here",
                         ErrorCode.NOT_LEADER_OR_FOLLOWER if hosted_elsewhere else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    if getattr(request, "replica_id", -1) != DEBUGGING_REPLICA_ID and part.leader_id != broker.node_id:
        raise KafkaError(f"{topic}-{p.partition_index} is led by {part.leader_id}", ErrorCode.NOT_LEADER_OR_FOLLOWER)
    current = getattr(p, "current_leader_epoch", -1)
    if current >= 0 and current != part.leader_epoch:
        raise KafkaError(f"leader epoch {current} vs ours {part.leader_epoch}",
                         ErrorCode.UNKNOWN_LEADER_EPOCH if current > part.leader_epoch
                         else ErrorCode.FENCED_LEADER_EPOCH)
    return part


def _answer(part: Partition, spec: int, read_committed: bool) -> tuple[int, int, int]:
    """(timestamp, offset, leader_epoch) for one timestamp spec; latest is the last stable offset
    under read_committed, the high watermark otherwise."""
    ts, offset = -1, -1
    if spec in (EARLIEST, EARLIEST_LOCAL):
        offset = part.log_start_offset
    elif spec == LATEST:
        return -1, part.last_stable_offset if read_committed else part.high_watermark, part.leader_epoch
    elif spec == MAX_TIMESTAMP:
        offset, ts = part.log.max_timestamp()
    elif spec in (LATEST_TIERED, EARLIEST_PENDING_UPLOAD):
        return -1, -1, -1
    else:
        found = part.log.offset_for_timestamp(spec)
        if found is not None:
            offset, ts = found
    return ts, offset, part.epoch_for_offset(offset) if offset >= 0 else -1


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    named = Counter((t.name, p.partition_index) for t in request.topics for p in t.partitions)
    read_committed = getattr(request, "isolation_level", 0) == 1
    topics = []
    for topic in request.topics:
        parts = []
        for p in topic.partitions:
            if named[(topic.name, p.partition_index)] > 1:
                parts.append(_error(p.partition_index, ErrorCode.INVALID_REQUEST))
                continue
            try:
                ts, offset, epoch = _answer(_check(ctx, request, topic.name, p), p.timestamp, read_committed)
            except KafkaError as exc:
                parts.append(_error(p.partition_index, exc.code))
                continue
            parts.append({"partition_index": p.partition_index, "error_code": 0, "timestamp": ts,
                          "offset": offset, "leader_epoch": epoch})
        topics.append({"name": topic.name, "partitions": parts})
    return {"throttle_time": 0, "topics": topics}
