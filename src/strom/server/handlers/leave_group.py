"""LeaveGroup: v0-5.

Members leave a classic group, which then rebalances.  v0-2 name one member_id; the answer's
error_code is the member's error.  v3+ batch members by member_id or, with an empty member_id, by
group_instance_id (admin removal of static members, KIP-345) and answer per member
(UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID); v4 flexible; v5 per-member reason (KIP-800, logged).
A group that does not exist answers UNKNOWN_MEMBER_ID for every member, like Kafka.

Not implemented: authorization.
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode
from strom.server.context import RequestContext

API_KEY = 13
VERSIONS = (0, 5)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    groups = ctx.broker.groups
    if ctx.api_version >= 3:
        members = [(m.member_id, m.group_instance_id, getattr(m, "reason", None)) for m in request.members]
    else:
        members = [(request.member_id, None, None)]
    if groups is None:
        error, results = ErrorCode.COORDINATOR_NOT_AVAILABLE, []
    else:
        error, results = await groups.classic.leave_group(request.group_id, members)
    if ctx.api_version < 3:
        if error == ErrorCode.NONE:
            error = next((code for _, _, code in results if code != ErrorCode.NONE), ErrorCode.NONE)
        return {"throttle_time": 0, "error_code": error}
    return {"throttle_time": 0, "error_code": error,
            "members": [{"member_id": m, "group_instance_id": i, "error_code": code} for m, i, code in results]}
