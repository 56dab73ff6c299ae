"""ConsumerGroupDescribe: v0-1 (KIP-848 groups).

Describes consumer groups of the "consumer" protocol: state, group and
assignment epochs, the assignor, and every member with its current and target
assignment.  An unknown group, or a classic group, answers GROUP_ID_NOT_FOUND
(as Kafka).  v1 adds ``member_type`` (always 1, consumer protocol: Strom does
not run classic members inside consumer groups).  Authorized operations are
answered with -2147483648 ("not provided").
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode
from strom.server.context import RequestContext

API_KEY = 69
VERSIONS = (0, 1)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    groups = ctx.broker.groups
    if groups is None:
        return {"throttle_time": 0, "groups": [
            {"group_id": g, "error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE, "members": []}
            for g in request.group_ids]}
    return {"throttle_time": 0, "groups": groups.consumer.describe(request.group_ids)}
