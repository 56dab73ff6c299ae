"""DeleteGroups: v0-2.

Deletes empty groups and their committed offsets, each group independently: a group with members
is NON_EMPTY_GROUP, an unknown one GROUP_ID_NOT_FOUND, an empty group id INVALID_GROUP_ID.  v2
flexible.

Not implemented: authorization.
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode, KafkaError
from strom.server.context import RequestContext

API_KEY = 42
VERSIONS = (0, 2)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    groups = ctx.broker.groups
    results = []
    for group_id in request.groups_names:
        code = ErrorCode.NONE
        if groups is None:
            code = ErrorCode.COORDINATOR_NOT_AVAILABLE
        elif not group_id:
            code = ErrorCode.INVALID_GROUP_ID
        else:
            try:
                await groups.delete_group(group_id)
            except KafkaError as exc:
                code = exc.code
        results.append({"group_id": group_id, "error_code": code})
    return {"throttle_time": 0, "results": results}
