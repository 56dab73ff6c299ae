"""DescribeGroups: v0-6.

Per group: state, protocol type, the selected protocol (protocol_data) and members; member
metadata and assignment only while the group is Stable, like Kafka.  An unknown group (or a
KIP-848 group, which this API does not describe) is Dead with no error before v6 and
GROUP_ID_NOT_FOUND from v6 (KIP-1043).  v3+ authorized_operations (always "not provided",
-2147483648, since there is no authorization yet); v4+ members' group_instance_id; v5 flexible;
v6 error_message.
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode
from strom.server.context import RequestContext

API_KEY = 15
VERSIONS = (0, 6)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    groups = ctx.broker.groups
    described = []
    for group_id in request.groups:
        if groups is None:
            described.append({"error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE, "group_id": group_id,
                              "group_state": "", "protocol_type": "", "protocol_data": "", "members": [],
                              "authorized_operations": -2147483648})
        else:
            described.append(groups.classic.describe(group_id, ctx.api_version))
    return {"throttle_time": 0, "groups": described}
