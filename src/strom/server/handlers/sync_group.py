"""SyncGroup: v0-5.

The leader sends every member's assignment; the coordinator writes the group record and then
answers all parked members (followers park until then).  Wrong generation ILLEGAL_GENERATION,
unknown member UNKNOWN_MEMBER_ID, fenced static member FENCED_INSTANCE_ID, during a join phase
REBALANCE_IN_PROGRESS.  v3+ group_instance_id; v4 flexible; v5 protocol_type/protocol_name, checked
against the group's (INCONSISTENT_GROUP_PROTOCOL) and echoed in the answer.

Not implemented: authorization.
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode
from strom.server.context import RequestContext

API_KEY = 14
VERSIONS = (0, 5)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    groups = ctx.broker.groups
    if groups is None:
        return {"throttle_time": 0, "error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE, "assignment": b""}
    response = await groups.classic.sync_group(
        request.group_id, request.member_id, request.generation_id, getattr(request, "group_instance_id", None),
        protocol_type=getattr(request, "protocol_type", None), protocol_name=getattr(request, "protocol_name", None),
        assignments=[(a.member_id, a.assignment) for a in request.assignments])
    return {"throttle_time": 0, "assignment": b"", **response}
