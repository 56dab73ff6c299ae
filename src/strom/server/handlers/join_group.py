"""JoinGroup: v2-9 (Kafka 4 removed v0-1).

Behaviour: see ``strom.coordinator.group.classic`` (rebalance, static membership, protocol
selection).  The request parks until the group's join phase completes.
Versions: v1+ carry rebalance_timeout (v0, removed, used the session timeout); v4+ a
dynamic member without a member id gets MEMBER_ID_REQUIRED (KIP-394); v5+ group_instance_id (static
membership, KIP-345); v6 flexible; v7+ protocol_type in the answer and a nullable protocol_name;
v8+ reason (KIP-800, logged); v9 skip_assignment for a static leader rejoining a Stable group (KIP-814).
client_host is reported as Kafka does, ``/<address>``.

Not implemented: authorization; classic members inside a KIP-848 group (INCONSISTENT_GROUP_PROTOCOL).
"""
from __future__ import annotations

from typing import Any

from strom.coordinator.group.classic import join_error
from strom.errors import ErrorCode
from strom.protocol.codec import millis
from strom.server.context import RequestContext

API_KEY = 11
VERSIONS = (2, 9)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    groups = ctx.broker.groups
    if groups is None:
        response = join_error(ErrorCode.COORDINATOR_NOT_AVAILABLE, request.member_id)
    else:
        response = await groups.classic.join_group(
            request.group_id, request.member_id, getattr(request, "group_instance_id", None),
            client_id=ctx.client_id or "", client_host=f"/{ctx.client_host}",
            session_timeout_ms=millis(request.session_timeout),
            rebalance_timeout_ms=millis(getattr(request, "rebalance_timeout", None)),
            protocol_type=request.protocol_type,
            protocols=[(p.name, p.metadata) for p in request.protocols],
            reason=getattr(request, "reason", None), api_version=ctx.api_version)
    response = dict(response)
    if ctx.api_version < 7 and response.get("protocol_name") is None:
        response["protocol_name"] = ""  # not nullable before v7
    return {"throttle_time": 0, **response}
