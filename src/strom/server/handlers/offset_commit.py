"""OffsetCommit: v2-10.

Commits go through the group coordinator (durable in ``__consumer_offsets``
before the answer).  A group the coordinator does not know accepts commits
with generation -1 (manual assignment), like Kafka; a live group checks the
member and generation (classic) or member epoch (KIP-848).  Partitions of
unknown topics answer UNKNOWN_TOPIC_OR_PARTITION.  v10 addresses topics by id.
v2-4 ``retention_time`` is ignored (offsets.retention.minutes applies).
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode, KafkaError
from strom.server.context import RequestContext

API_KEY = 8
VERSIONS = (2, 10)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    groups = ctx.broker.groups
    metadata = ctx.broker.metadata.image
    by_id = ctx.api_version >= 10
    entries = []
    results: dict[tuple[str, int], ErrorCode] = {}
    names: list[tuple[Any, str | None]] = []
    for topic in request.topics:
        if by_id:
            t = metadata.topics_by_id.get(topic.topic_id)
            name = t.name if t is not None else None
        else:
            name = topic.name
            t = metadata.topics.get(name)
        names.append((topic, name))
        for p in topic.partitions:
            if t is None or p.partition_index not in t.partitions:
                code = ErrorCode.UNKNOWN_TOPIC_ID if by_id and t is None else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                results[(name or "", p.partition_index)] = code
                continue
            entries.append((name, p.partition_index, p.committed_offset,
                            getattr(p, "committed_leader_epoch", -1), p.committed_metadata))
    group_error = None
    if groups is None:
        group_error = ErrorCode.COORDINATOR_NOT_AVAILABLE
    else:
        try:
            results.update(await groups.commit_offsets(
                request.group_id, request.member_id, request.generation_id_or_member_epoch,
                getattr(request, "group_instance_id", None), entries, api_version=ctx.api_version))
        except KafkaError as exc:
            group_error = exc.code
    topics = []
    for topic, name in names:
        parts = []
        for p in topic.partitions:
            code = results.get((name or "", p.partition_index))
            if code is None or (group_error is not None and code == ErrorCode.NONE):
                code = group_error if group_error is not None else ErrorCode.NONE
            parts.append({"partition_index": p.partition_index, "error_code": code})
        topics.append({"name": name or "", "topic_id": getattr(topic, "topic_id", None), "partitions": parts})
    return {"throttle_time": 0, "topics": topics}
