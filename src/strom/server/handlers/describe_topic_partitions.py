"""DescribeTopicPartitions (KIP-966): v0.

Behaviour: Kafka 4's admin client describes topics with this paginated API
instead of Metadata.
- topics empty means every topic; otherwise the named ones.  Topics are
  answered in name order; a named topic that does not exist (or whose name
  is not legal) is listed with UNKNOWN_TOPIC_OR_PARTITION and no partitions.
- At most min(response_partition_limit, 2000) partitions (and at least
  one) are returned; when more remain, next_cursor names the topic and
  partition to continue from, else it is null.  2000 is Kafka's default
  ``max.request.partition.size.limit``.
- cursor starts the answer at that topic and partition: topics named
  before it are skipped.  A cursor topic that is not among the named
  topics is INVALID_REQUEST (Kafka raises InvalidRequestException, which
  closes the request with that error for every topic).
- Each partition carries leader, leader epoch, replicas, ISR and offline
  replicas (replicas not on a live broker) as Metadata does.

Not implemented: eligible_leader_replicas and last_known_elr are always
empty lists (Strom has no ELR); authorized operations are not computed
(-2147483648); no authorization.
"""
from __future__ import annotations

from typing import Any

from strom.metadata.image import TopicImage
from strom.errors import ErrorCode
from strom.server.context import RequestContext

API_KEY = 75
VERSIONS = (0, 0)
MAX_PARTITIONS = 2000  # Kafka's max.request.partition.size.limit default
_NO_OPS = -2147483648


def _partition(p: Any, live: frozenset[int]) -> dict[str, Any]:
    return {"error_code": ErrorCode.NONE if p.leader in live else ErrorCode.LEADER_NOT_AVAILABLE,
            "partition_index": p.partition, "leader_id": p.leader, "leader_epoch": p.leader_epoch,
            "replica_nodes": list(p.replicas), "isr_nodes": list(p.isr),
            "eligible_leader_replicas": [], "last_known_elr": [],
            "offline_replicas": [r for r in p.replicas if r not in live]}


def _topic(name: str, topic: TopicImage | None) -> dict[str, Any]:
    if topic is None:
        return {"error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "name": name, "topic_id": None,
                "is_internal": False, "partitions": [], "topic_authorized_operations": _NO_OPS}
    return {"error_code": ErrorCode.NONE, "name": name, "topic_id": topic.topic_id, "is_internal": topic.internal,
            "partitions": [], "topic_authorized_operations": _NO_OPS}


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    image = ctx.broker.metadata.image
    live = frozenset(ctx.broker.metadata.live_brokers)
    names = sorted({t.name for t in request.topics}) if request.topics else sorted(image.topics)
    cursor = request.cursor
    if cursor is not None and request.topics and cursor.topic_name not in names:
        return {"throttle_time": 0, "topics": [
            {**_topic(name, None), "error_code": ErrorCode.INVALID_REQUEST} for name in names], "next_cursor": None}
    if cursor is not None:
        names = [n for n in names if n >= cursor.topic_name]
    budget = max(min(request.response_partition_limit, MAX_PARTITIONS), 1)
    topics: list[dict[str, Any]] = []
    next_cursor = None
    for name in names:
        topic = image.topics.get(name)
        if topic is None:
            topics.append(_topic(name, None))
            continue
        if budget == 0:
            next_cursor = {"topic_name": name, "partition_index": 0}
            break
        start = cursor.partition_index if cursor is not None and name == cursor.topic_name else 0
        indexes = sorted(i for i in topic.partitions if i >= start)
        entry = _topic(name, topic)
        entry["partitions"] = [_partition(topic.partitions[i], live) for i in indexes[:budget]]
        topics.append(entry)
        if len(indexes) > budget:
            next_cursor = {"topic_name": name, "partition_index": indexes[budget]}
            break
        budget -= len(indexes)
    return {"throttle_time": 0, "topics": topics, "next_cursor": next_cursor}
