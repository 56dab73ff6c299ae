"""TxnOffsetCommit: v0-4.

Commits a group's offsets inside the producer's transaction: the group
coordinator writes them to ``__consumer_offsets`` as a transactional batch and
they become the group's committed offsets only at the COMMIT marker (dropped at
ABORT).  The transaction must have added the group (AddOffsetsToTxn), checked
with the transaction coordinator in-process: otherwise INVALID_TXN_STATE (the
group not added), INVALID_PRODUCER_ID_MAPPING, or PRODUCER_FENCED (v3+;
INVALID_PRODUCER_EPOCH before).  v3+ member id / generation / instance id are
checked against a live group (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION,
FENCED_INSTANCE_ID ...); without them any group accepts, as in Kafka.
Partitions of unknown topics answer UNKNOWN_TOPIC_OR_PARTITION.  v4 only adds
an error code (TRANSACTION_ABORTABLE) that Strom never sends.
"""
from __future__ import annotations

from typing import Any

from strom.coordinator.group.coordinator import OFFSETS_TOPIC
from strom.errors import ErrorCode, KafkaError
from strom.server.context import RequestContext
from strom.server.handlers import _txn

API_KEY = 28
VERSIONS = (0, 4)


def _check(ctx: RequestContext, request: Any) -> ErrorCode:
    groups = ctx.broker.groups
    if groups is None or ctx.broker.transactions is None:
        return ErrorCode.COORDINATOR_NOT_AVAILABLE
    if not request.group_id:
        return ErrorCode.INVALID_GROUP_ID
    code = ctx.broker.transactions.verify(request.transactional_id, request.producer_id, request.producer_epoch,
                                          OFFSETS_TOPIC, groups.partition_for(request.group_id))
    if code is ErrorCode.INVALID_PRODUCER_EPOCH:
        return ErrorCode.PRODUCER_FENCED if ctx.api_version >= 3 else code
    return code


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    image = ctx.broker.metadata.image
    results: dict[tuple[str, int], ErrorCode] = {}
    entries = []
    for topic in request.topics:
        t = image.topics.get(topic.name)
        for p in topic.partitions:
            if t is None or p.partition_index not in t.partitions:
                results[(topic.name, p.partition_index)] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            else:
                entries.append((topic.name, p.partition_index, p.committed_offset,
                                getattr(p, "committed_leader_epoch", -1), p.committed_metadata))
    group_error = _check(ctx, request)
    if group_error is ErrorCode.NONE and entries:
        try:
            results.update(await ctx.broker.groups.commit_txn_offsets(
                request.group_id, request.producer_id, request.producer_epoch, getattr(request, "member_id", ""),
                getattr(request, "generation_id", -1), getattr(request, "group_instance_id", None), entries))
        except KafkaError as exc:
            group_error = _txn.error_for(exc, ctx.api_version, 3)
    topics = []
    for topic in request.topics:
        parts = []
        for p in topic.partitions:
            code = results.get((topic.name, p.partition_index), ErrorCode.NONE)
            if code is ErrorCode.NONE and group_error is not ErrorCode.NONE:
                code = group_error
            parts.append({"partition_index": p.partition_index, "error_code": code})
        topics.append({"name": topic.name, "partitions": parts})
    return {"throttle_time": 0, "topics": topics}
