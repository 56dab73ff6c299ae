"""OffsetFetch: v1-10.

Committed offsets of a group (null topics = all of them, v2+); a partition
with no commit answers offset -1 (the consumer then applies
auto.offset.reset).  v8+ batches groups; v9+ carries the member id/epoch of
KIP-848 members, checked against the group; v10 addresses topics by id.
With ``require_stable`` (v7+; read_committed consumers send it) a partition
with an offset committed inside a still-open transaction answers
UNSTABLE_OFFSET_COMMIT (retriable: the client asks again after the marker).
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode, KafkaError
from strom.server.context import RequestContext

API_KEY = 9
VERSIONS = (1, 10)


def _group_answer(ctx: RequestContext, group_id: str, topics: Any, member_id: str | None, member_epoch: int,
                  by_id: bool, require_stable: bool = False) -> tuple[ErrorCode, list[dict[str, Any]]]:
    groups = ctx.broker.groups
    image = ctx.broker.metadata.image
    if groups is None:
        return ErrorCode.COORDINATOR_NOT_AVAILABLE, []
    group = groups.groups.get(group_id)
    if group is not None and (member_id or member_epoch >= 0):
        try:
            group.validate_offset_fetch(member_id, member_epoch)
        except KafkaError as exc:
            return exc.code, []
    if topics is None:
        if require_stable and groups.has_pending_offsets(group_id):
            return ErrorCode.UNSTABLE_OFFSET_COMMIT, []
        committed = groups.fetch_offsets(group_id, None)
        by_topic: dict[str, list[dict[str, Any]]] = {}
        for (topic, partition), om in sorted(committed.items()):
            by_topic.setdefault(topic, []).append(
                {"partition_index": partition, "committed_offset": om.offset,
                 "committed_leader_epoch": om.leader_epoch, "metadata": om.metadata, "error_code": 0})
        out = []
        for name, parts in by_topic.items():
            t = image.topics.get(name)
            out.append({"name": name, "topic_id": t.topic_id if t is not None else None, "partitions": parts})
        return ErrorCode.NONE, out
    out = []
    for topic in topics:
        if by_id:
            t = image.topics_by_id.get(topic.topic_id)
            name = t.name if t is not None else None
        else:
            name = topic.name
        wanted = [(name, p) for p in topic.partition_indexes]
        committed = groups.fetch_offsets(group_id, wanted) if name is not None else {}
        parts = []
        for p in topic.partition_indexes:
            om = committed.get((name, p)) if name is not None else None
            code = ErrorCode.UNKNOWN_TOPIC_ID if by_id and name is None else ErrorCode.NONE
            if require_stable and name is not None and groups.has_pending_offsets(group_id, (name, p)):
                code = ErrorCode.UNSTABLE_OFFSET_COMMIT
            parts.append({"partition_index": p, "committed_offset": om.offset if om else -1,
                          "committed_leader_epoch": om.leader_epoch if om else -1,
                          "metadata": om.metadata if om else "", "error_code": code})
        out.append({"name": name or "", "topic_id": getattr(topic, "topic_id", None), "partitions": parts})
    return ErrorCode.NONE, out


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    by_id = ctx.api_version >= 10
    if ctx.api_version >= 8:
        groups = []
        for g in request.groups:
            code, topics = _group_answer(ctx, g.group_id, g.topics, getattr(g, "member_id", None),
                                         getattr(g, "member_epoch", -1), by_id, request.require_stable)
            groups.append({"group_id": g.group_id, "error_code": code, "topics": topics})
        return {"throttle_time": 0, "groups": groups}
    code, topics = _group_answer(ctx, request.group_id, request.topics, None, -1, False,
                                 getattr(request, "require_stable", False))
    return {"throttle_time": 0, "error_code": code, "topics": topics}
