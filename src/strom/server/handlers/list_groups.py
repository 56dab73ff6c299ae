"""ListGroups: v0-5.

Every group this coordinator knows (classic and KIP-848, and groups known only by committed
offsets, listed as Empty classic groups).  v3 flexible; v4+ states_filter and group_state; v5+
types_filter and group_type (filters compare case-insensitively; empty = all).
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode
from strom.server.context import RequestContext

API_KEY = 16
VERSIONS = (0, 5)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    groups = ctx.broker.groups
    if groups is None:
        return {"throttle_time": 0, "error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE, "groups": []}
    rows = groups.list_groups(states=tuple(getattr(request, "states_filter", ()) or ()),
                              types=tuple(getattr(request, "types_filter", ()) or ()))
    return {"throttle_time": 0, "error_code": ErrorCode.NONE,
            "groups": [{"group_id": g, "protocol_type": p, "group_state": s, "group_type": t} for g, p, s, t in rows]}
