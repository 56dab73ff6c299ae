"""OffsetDelete: v0.

Removes committed offsets of a group; partitions of topics the live group
subscribes to answer GROUP_SUBSCRIBED_TO_TOPIC; an unknown group answers
GROUP_ID_NOT_FOUND for the whole request.
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode, KafkaError
from strom.server.context import RequestContext

API_KEY = 47
VERSIONS = (0, 0)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    groups = ctx.broker.groups
    wanted = [(t.name, p.partition_index) for t in request.topics for p in t.partitions]
    if groups is None:
        return {"error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE, "throttle_time": 0, "topics": []}
    try:
        results = await groups.delete_offsets(request.group_id, wanted)
    except KafkaError as exc:
        return {"error_code": exc.code, "throttle_time": 0, "topics": []}
    return {"error_code": 0, "throttle_time": 0, "topics": [
        {"name": t.name, "partitions": [{"partition_index": p.partition_index,
                                         "error_code": results.get((t.name, p.partition_index), 0)}
                                        for p in t.partitions]}
        for t in request.topics]}
