"""Heartbeat: v0-4.

Keeps a classic group member's session alive.  Stable and CompletingRebalance answer NONE,
PreparingRebalance REBALANCE_IN_PROGRESS (how members learn to rejoin); unknown member
UNKNOWN_MEMBER_ID, fenced static member FENCED_INSTANCE_ID, wrong generation ILLEGAL_GENERATION.
v3+ group_instance_id; v4 flexible.

Not implemented: authorization; heartbeats of classic members of KIP-848 groups.
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode
from strom.server.context import RequestContext

API_KEY = 12
VERSIONS = (0, 4)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    groups = ctx.broker.groups
    if groups is None:
        return {"throttle_time": 0, "error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE}
    code = groups.classic.heartbeat(request.group_id, request.member_id, request.generation_id,
                                    getattr(request, "group_instance_id", None))
    return {"throttle_time": 0, "error_code": code}
